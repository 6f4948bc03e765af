//! The analytics handlers: each event, decoded, goes through the books ([`crate::books`]).
//! Events may arrive in any order: an order's status only moves forward, and drinks are
//! counted once both its lines and its preparation are known.

use milo_bus::{Rejection, Service, Tx};
use milo_contracts::events::{
    OrderCanceled, OrderCreated, OrderPrepared, OrderReady, OrderRejected, PaymentCompleted,
    PaymentDeclinedOffline, PaymentRefunded,
};
use milo_contracts::{topics, RawEnvelope};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::books::{Books, Change, Tracked};
use crate::day::{day_key, Zone};
use crate::summary::Summary;

/// Key of the running summary.
pub const SUMMARY_KEY: &str = "summary";

/// The analytics service. The all-time summary is cached in memory and written with every
/// event, in the same `Tx` as the order's record and the day documents the event changed
/// (`day/<date>`, [`crate::books`] says which day each figure belongs to).
pub struct AnalyticsService {
    zone: Zone,
    summary: Option<Summary>,
}

impl AnalyticsService {
    /// The service, keeping days in the shop's time zone `zone`.
    pub fn new(zone: Zone) -> AnalyticsService {
        AnalyticsService {
            zone,
            summary: None,
        }
    }

    fn apply(
        &mut self,
        tx: &mut Tx,
        order_id: Uuid,
        at: OffsetDateTime,
        change: Change,
    ) -> Result<(), Rejection> {
        let key = format!("tracked/{order_id}");
        let date = self.zone.date_of(at);
        // Every read first: a failed one leaves the cache and the books untouched.
        let mut t: Tracked = tx.get(&key)?.unwrap_or_default();
        let summary = match self.summary.take() {
            Some(s) => s,
            None => tx.get::<Summary>(SUMMARY_KEY)?.unwrap_or_default(),
        };
        let mut books = Books {
            summary,
            days: Default::default(),
        };
        for d in t.days_touched(date) {
            let figures = tx.get::<Summary>(&day_key(d))?.unwrap_or_default();
            books.days.insert(d, figures);
        }
        t.apply(&mut books, date, at, change);
        tx.put(&key, &t);
        for (d, figures) in &books.days {
            tx.put(&day_key(*d), figures);
        }
        tx.put(SUMMARY_KEY, &books.summary);
        self.summary = Some(books.summary);
        Ok(())
    }
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
            topics::PAYMENTS_DECLINED_OFFLINE,
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
                (e.order_id, Change::Charged(e.amount_cents, e.payment))
            }
            topics::PAYMENTS_REFUNDED => {
                let e: PaymentRefunded = env.decode()?;
                (e.order_id, Change::Refunded(e.amount_cents, e.payment))
            }
            topics::PAYMENTS_DECLINED_OFFLINE => {
                let e: PaymentDeclinedOffline = env.decode()?;
                (e.order_id, Change::DeclinedOffline(e.amount_cents))
            }
            _ => return Err(env.unexpected().into()),
        };
        self.apply(tx, id, at, change)
    }
}
