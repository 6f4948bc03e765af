//! Per-order tracking and the analytics handlers. Events may arrive in any order: an order's
//! status only moves forward, and drinks are counted once both its lines and its preparation
//! are known.

use milo_bus::{Rejection, Service, Tx};
use milo_contracts::events::{
    OrderCanceled, OrderCreated, OrderPrepared, OrderReady, OrderRejected, PaymentCompleted,
    PaymentRefunded,
};
use milo_contracts::{topics, RawEnvelope};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::summary::Summary;

/// Key of the running summary.
pub const SUMMARY_KEY: &str = "summary";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Tracked {
    status: Option<String>,
    lines: Option<Vec<(String, u32)>>,
    #[serde(with = "time::serde::rfc3339::option")]
    created_at: Option<OffsetDateTime>,
    prepared: Option<(u64, i64)>,
    drinks_counted: bool,
}

fn rank(status: &str) -> u8 {
    match status {
        "created" => 1,
        "ready" => 2,
        _ => 3,
    }
}

/// The analytics service. The summary is cached in memory and written with every event.
#[derive(Default)]
pub struct AnalyticsService {
    summary: Option<Summary>,
}

impl AnalyticsService {
    fn apply(
        &mut self,
        tx: &mut Tx,
        order_id: Uuid,
        at: OffsetDateTime,
        change: Change,
    ) -> Result<(), Rejection> {
        let key = format!("tracked/{order_id}");
        let mut t: Tracked = tx.get(&key)?.unwrap_or_default();
        let mut s = match self.summary.take() {
            Some(s) => s,
            None => tx.get::<Summary>(SUMMARY_KEY)?.unwrap_or_default(),
        };
        let status = match change {
            Change::Created(lines) => {
                t.lines = Some(lines);
                t.created_at = Some(at);
                Some("created")
            }
            Change::Status(st) => Some(st),
            Change::Prepared(ms) => {
                t.prepared = Some((ms, (at.unix_timestamp_nanos() / 1_000_000) as i64));
                s.preparation.record(ms);
                Some("prepared")
            }
            Change::Charged(c) => {
                s.charged_cents += c;
                None
            }
            Change::Refunded(c) => {
                s.refunded_cents += c;
                None
            }
        };
        if let Some(st) = status {
            if t.status.as_deref().is_none_or(|cur| rank(st) > rank(cur)) {
                s.move_status(t.status.as_deref(), st);
                t.status = Some(st.to_owned());
            }
        }
        if let (false, Some(lines), Some((_, done_ms)), Some(created)) =
            (t.drinks_counted, &t.lines, t.prepared, t.created_at)
        {
            for (item, qty) in lines {
                *s.drinks_by_item.entry(item.clone()).or_default() += u64::from(*qty);
            }
            let created_ms = (created.unix_timestamp_nanos() / 1_000_000) as i64;
            s.lead_time
                .record(u64::try_from(done_ms - created_ms).unwrap_or(0));
            t.drinks_counted = true;
        }
        tx.put(&key, &t);
        tx.put(SUMMARY_KEY, &s);
        self.summary = Some(s);
        Ok(())
    }
}

enum Change {
    Created(Vec<(String, u32)>),
    Status(&'static str),
    Prepared(u64),
    Charged(u64),
    Refunded(u64),
}

impl Service for AnalyticsService {
    type Command = ();

    fn name(&self) -> String {
        "analytics".into()
    }

    /// Off the critical path: gather bigger groups, spare the disk.
    fn linger(&self) -> std::time::Duration {
        std::time::Duration::from_millis(100)
    }

    fn subscriptions(&self) -> Vec<String> {
        [
            topics::ORDERS_CREATED,
            topics::ORDERS_REJECTED,
            topics::ORDERS_READY,
            topics::ORDERS_PREPARED,
            topics::ORDERS_CANCELED,
            topics::PAYMENTS_COMPLETED,
            topics::PAYMENTS_REFUNDED,
        ]
        .map(String::from)
        .to_vec()
    }

    fn on_event(&mut self, tx: &mut Tx, topic: &str, env: &RawEnvelope) -> Result<(), Rejection> {
        let at = env.occurred_at;
        let (id, change) = match topic {
            topics::ORDERS_CREATED => {
                let e: OrderCreated = env.decode()?;
                let lines = e.lines.into_iter().map(|l| (l.item, l.qty)).collect();
                (e.order_id, Change::Created(lines))
            }
            topics::ORDERS_REJECTED => (
                env.decode::<OrderRejected>()?.order_id,
                Change::Status("rejected"),
            ),
            topics::ORDERS_READY => (
                env.decode::<OrderReady>()?.order_id,
                Change::Status("ready"),
            ),
            topics::ORDERS_CANCELED => (
                env.decode::<OrderCanceled>()?.order_id,
                Change::Status("canceled"),
            ),
            topics::ORDERS_PREPARED => {
                let e: OrderPrepared = env.decode()?;
                (e.order_id, Change::Prepared(e.prep_ms))
            }
            topics::PAYMENTS_COMPLETED => {
                let e: PaymentCompleted = env.decode()?;
                (e.order_id, Change::Charged(e.amount_cents))
            }
            topics::PAYMENTS_REFUNDED => {
                let e: PaymentRefunded = env.decode()?;
                (e.order_id, Change::Refunded(e.amount_cents))
            }
            _ => return Err(env.unexpected().into()),
        };
        self.apply(tx, id, at, change)
    }
}
