//! The order service's handlers.
//!
//! Both saga modes place orders and keep their records; in choreography the order service
//! also owns each order's flow (settling payment and stock, compensating, canceling), in
//! orchestration it mirrors what the coordinator announces.

use std::sync::Arc;

use milo_bus::{retry, Alarm, Commands, Rejection, Service, Store, Tx};
use milo_contracts::events::{
    InventoryFailed, InventoryReleased, InventoryReserved, OrderFailed, OrderPlaced, OrderReady,
    PaymentCompleted, PaymentFailed, PaymentRefunded,
};
use milo_contracts::saga::{
    CancelRefused, CancelRequested, OrderStarted, TicketFailed, TicketWithdrawn,
};
use milo_contracts::{topics, Menu, RawEnvelope, SagaMode};
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tracing::info;
use uuid::Uuid;

use crate::model::{order_key, status_prefix, OrderRecord, Status, StatusChange, Step};
use crate::Config;

mod cancel;
mod cards;
mod counter;
mod flow;
mod mirror;
mod outcome;
mod place;
mod timers;

pub use place::PlaceOutcome;
use place::Via;

/// Local requests to the order service.
#[derive(Debug)]
pub enum Command {
    /// Look at due timers.
    Tick,
    /// Place an order from HTTP; the reply comes once the order is durable.
    Place {
        /// The order.
        placed: OrderPlaced,
        /// Where to answer.
        reply: oneshot::Sender<PlaceOutcome>,
    },
    /// Cancel an order from HTTP; the reply (false if the order is unknown) comes once the
    /// request is durable. The outcome follows on the order record.
    Cancel {
        /// The request.
        request: CancelRequested,
        /// Where to answer.
        reply: oneshot::Sender<bool>,
    },
}

/// The order service.
pub struct OrderService {
    config: Config,
    menu: Arc<Menu>,
    mode: SagaMode,
    availability: counter::Availability,
    cards: cards::Cards,
    /// When the next durable timer is due.
    alarm: Alarm,
}

impl OrderService {
    /// A new order service over this menu, in `mode`.
    pub fn new(config: Config, menu: Arc<Menu>, mode: SagaMode) -> Self {
        OrderService {
            config,
            menu,
            mode,
            availability: Default::default(),
            cards: Default::default(),
            alarm: Alarm::default(),
        }
    }

    /// Replaces the order's pending timer (the caller writes the order).
    pub(super) fn set_timer(
        &self,
        tx: &mut Tx,
        order: &mut OrderRecord,
        next: Option<(Step, u32)>,
    ) {
        let next = next.map(|(step, attempt)| (step, step.wait(), attempt));
        retry::set_timer(
            tx,
            &self.config.retry,
            &self.alarm,
            order.order_id,
            &mut order.timer,
            next,
        );
    }

    fn choreography(&self) -> bool {
        self.mode == SagaMode::Choreography
    }
}

/// Reads an order, or `None` (with a log line) if this service does not know it.
fn load(tx: &Tx, id: Uuid) -> Result<Option<OrderRecord>, Rejection> {
    let order = tx.get::<OrderRecord>(&order_key(id))?;
    if order.is_none() {
        info!(order_id = %id, "Event for an order this service does not know; ignored.");
    }
    Ok(order)
}

/// Moves an order to `status`, keeping the status index and history.
fn set_status(tx: &mut Tx, order: &mut OrderRecord, status: Status, reason: Option<String>) {
    if !order.history.is_empty() {
        tx.remove(&format!(
            "{}{}",
            status_prefix(order.status),
            order.order_id
        ));
    }
    let previous = order.history.last().map(|c| (c.status, c.at));
    let first = order.history.first().map(|c| c.at);
    order.status = status;
    if reason.is_some() {
        order.reason = reason;
    }
    let now = OffsetDateTime::now_utc();
    order.history.push(StatusChange { status, at: now });
    // Counted once durable: a handler that fails on the store runs again.
    tx.after_commit(move || metrics_of(previous, first, status, now));
    tx.put(&format!("{}{}", status_prefix(status), order.order_id), &());
    tx.put(&order_key(order.order_id), order);
}

/// An order's move to `status` (from `previous`, the order created at `first`) in the
/// metrics: the time each stage took (`milo_order_stage_seconds{stage="created_ready"}`), and
/// for an order's end its count by state and its whole time.
fn metrics_of(
    previous: Option<(Status, OffsetDateTime)>,
    first: Option<OffsetDateTime>,
    status: Status,
    now: OffsetDateTime,
) {
    let secs = |since: OffsetDateTime| (now - since).as_seconds_f64().max(0.0);
    if let Some((from, at)) = previous {
        let stage = format!("{}_{}", from.as_str(), status.as_str());
        metrics::histogram!("milo_order_stage_seconds", "stage" => stage).record(secs(at));
    }
    if matches!(
        status,
        Status::Prepared | Status::Canceled | Status::Rejected
    ) {
        metrics::counter!("milo_orders_total", "state" => status.as_str()).increment(1);
        if let Some(first) = first {
            let stage = format!("created_{}", status.as_str());
            if previous.is_some_and(|(from, _)| from != Status::Created) {
                metrics::histogram!("milo_order_stage_seconds", "stage" => stage)
                    .record(secs(first));
            }
        }
    }
}

/// Topics both modes listen to.
const ALWAYS: &[&str] = &[
    topics::ORDERS_PLACED,
    topics::ORDERS_PREPARED,
    topics::ORDERS_STARTED,
    topics::MENU_AVAILABILITY,
    topics::PAYMENTS_GATEWAY,
    topics::CANCELLATIONS_REQUESTED,
];

/// Topics the order service listens to as the owner of the flow.
const OWNER: &[&str] = &[
    topics::PAYMENTS_COMPLETED,
    topics::PAYMENTS_FAILED,
    topics::INVENTORY_RESERVED,
    topics::INVENTORY_FAILED,
    topics::PAYMENTS_REFUNDED,
    topics::INVENTORY_RELEASED,
    topics::TICKETS_FAILED,
    topics::TICKETS_WITHDRAWN,
];

/// Topics the order service mirrors when the coordinator owns the flow.
const MIRROR: &[&str] = &[
    topics::ORDERS_READY,
    topics::ORDERS_FAILED,
    topics::ORDERS_CANCELED,
    topics::CANCELLATIONS_REFUSED,
];

impl Service for OrderService {
    type Command = Command;

    fn name(&self) -> String {
        "order".into()
    }

    fn subscriptions(&self) -> Vec<String> {
        let own = if self.choreography() { OWNER } else { MIRROR };
        ALWAYS.iter().chain(own).map(|t| t.to_string()).collect()
    }

    /// Read past the inbox: the retained availability (after a restart the broker hands back
    /// the same event, which must be taken again: it is kept in memory only), and
    /// `orders/placed`, whose exact repeats are answered (see `place`).
    fn is_raw(&self, topic: &str) -> bool {
        matches!(
            topic,
            topics::MENU_AVAILABILITY | topics::PAYMENTS_GATEWAY | topics::ORDERS_PLACED
        )
    }

    fn on_raw(&mut self, tx: &mut Tx, topic: &str, payload: &[u8]) -> Result<(), Rejection> {
        match topic {
            topics::MENU_AVAILABILITY => self.availability.take(payload),
            topics::PAYMENTS_GATEWAY => self.cards.take(payload),
            topics::ORDERS_PLACED => self.placed(tx, payload),
            _ => Ok(()),
        }
    }

    fn on_event(&mut self, tx: &mut Tx, topic: &str, env: &RawEnvelope) -> Result<(), Rejection> {
        let cause = Some(env.id);
        match topic {
            topics::ORDERS_PREPARED => self.prepared(tx, env)?,
            topics::ORDERS_STARTED => self.started(tx, env.decode::<OrderStarted>()?.order_id)?,
            topics::PAYMENTS_COMPLETED => {
                let e = env.decode::<PaymentCompleted>()?;
                self.settle(tx, e.order_id, cause, flow::Outcome::Paid)?;
            }
            topics::PAYMENTS_FAILED => {
                let e = env.decode::<PaymentFailed>()?;
                let reason = milo_contracts::payments::failure_reason(&e.reason);
                self.settle(tx, e.order_id, cause, flow::Outcome::Failed(reason))?;
            }
            topics::INVENTORY_RESERVED => {
                let e = env.decode::<InventoryReserved>()?;
                self.settle(tx, e.order_id, cause, flow::Outcome::Reserved)?;
            }
            topics::INVENTORY_FAILED => {
                let e = env.decode::<InventoryFailed>()?;
                self.settle(tx, e.order_id, cause, flow::Outcome::Failed(e.reason))?;
            }
            topics::PAYMENTS_REFUNDED => {
                let e = env.decode::<PaymentRefunded>()?;
                self.confirmed(tx, e.order_id, cause, flow::Undone::Refund(e.amount_cents))?;
            }
            topics::INVENTORY_RELEASED => {
                let e = env.decode::<InventoryReleased>()?;
                self.confirmed(tx, e.order_id, cause, flow::Undone::Release(e.ingredients))?;
            }
            topics::TICKETS_FAILED => self.bar_failed(tx, env.decode::<TicketFailed>()?, cause)?,
            topics::TICKETS_WITHDRAWN => {
                self.withdrawn(tx, env.decode::<TicketWithdrawn>()?, cause)?
            }
            topics::CANCELLATIONS_REQUESTED => {
                self.cancel_requested(tx, env.decode::<CancelRequested>()?, env.id)?;
            }
            topics::ORDERS_READY => self.mirror_ready(tx, env.decode::<OrderReady>()?.order_id)?,
            topics::ORDERS_FAILED => self.mirror_failed(tx, env.decode::<OrderFailed>()?)?,
            topics::ORDERS_CANCELED => self.mirror_canceled(tx, env)?,
            topics::CANCELLATIONS_REFUSED => {
                let e = env.decode::<CancelRefused>()?;
                self.mirror_refused(tx, e.order_id, e.reason)?
            }
            _ => return Err(env.unexpected().into()),
        }
        Ok(())
    }

    fn on_start(&mut self, _store: &Store, commands: &Commands<Command>) -> Result<(), Rejection> {
        let gap = self.config.retry.tick_ms;
        self.alarm.start(commands.clone(), gap, || Command::Tick);
        Ok(())
    }

    fn on_command(&mut self, tx: &mut Tx, cmd: Command) -> Result<(), Rejection> {
        match cmd {
            Command::Tick => self.tick(tx)?,
            Command::Place { placed, reply } => {
                let outcome = self.place(tx, placed, None, Via::Http)?;
                tx.after_commit(move || {
                    let _ = reply.send(outcome);
                });
            }
            Command::Cancel { request, reply } => {
                let known = self.cancel_from_http(tx, request)?;
                tx.after_commit(move || {
                    let _ = reply.send(known);
                });
            }
        }
        Ok(())
    }
}
