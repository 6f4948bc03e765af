//! Choreography: the order service settles payment and stock, hands a paid and stocked order
//! to the bar, and drives a failed order's compensation until `orders/canceled`.

use milo_bus::{Rejection, Tx};
use milo_contracts::events::{Ingredients, OrderCanceled, OrderFailed, OrderPrepared, OrderReady};
use milo_contracts::saga::{refund_note, release_note, TicketFailed};
use milo_contracts::{topics, RawEnvelope};
use tracing::info;
use uuid::Uuid;

use super::outcome::keep_heard;
use super::{load, set_status, OrderService};
use crate::model::{order_key, OrderRecord, Status, Step};

/// A participant's answer to `orders/created`.
pub(super) enum Outcome {
    Paid,
    Reserved,
    Failed(String),
}

/// A participant's confirmation that it undid its part.
pub(super) enum Undone {
    Refund(u64),
    Release(Ingredients),
}

impl OrderService {
    /// Applies a payment or stock outcome; publishes `orders/ready` or `orders/failed`.
    pub(super) fn settle(
        &self,
        tx: &mut Tx,
        id: Uuid,
        cause: Option<Uuid>,
        outcome: Outcome,
    ) -> Result<(), Rejection> {
        let Some(mut order) = load(tx, id)? else {
            return Ok(());
        };
        if order.status != Status::Created {
            return Ok(());
        }
        match outcome {
            Outcome::Paid => order.paid = true,
            Outcome::Reserved => order.reserved = true,
            Outcome::Failed(reason) => {
                return self.fail(tx, &mut order, cause, reason, Ingredients::new())
            }
        }
        if order.paid && order.reserved {
            let data = OrderReady {
                order_id: id,
                lines: order.lines.clone(),
                customer: order.customer.clone(),
            };
            tx.publish(&tx.event(id, cause, data))?;
            info!(order_id = %id, "Order ready to make.");
            self.set_timer(tx, &mut order, Some((Step::Prepared, 0)));
            set_status(tx, &mut order, Status::Ready, None);
        } else {
            tx.put(&order_key(id), &order);
        }
        Ok(())
    }

    /// The bar made the order: its `orders/prepared` is kept, to say it again.
    pub(super) fn prepared(&self, tx: &mut Tx, env: &RawEnvelope) -> Result<(), Rejection> {
        let id = env.decode::<OrderPrepared>()?.order_id;
        let Some(mut order) = load(tx, id)? else {
            return Ok(());
        };
        // In orchestration `orders/ready` may have been missed; the coordinator owns the flow.
        let ready = order.status == Status::Ready
            || (!self.choreography() && order.status == Status::Created);
        if ready {
            info!(order_id = %id, "Order prepared.");
            self.set_timer(tx, &mut order, None);
            set_status(tx, &mut order, Status::Prepared, None);
            keep_heard(tx, id, topics::ORDERS_PREPARED, env);
        }
        Ok(())
    }

    /// A station began the order: from now on a cancellation is refused.
    pub(super) fn started(&self, tx: &mut Tx, id: Uuid) -> Result<(), Rejection> {
        let Some(mut order) = load(tx, id)? else {
            return Ok(());
        };
        order.started = true;
        tx.put(&order_key(id), &order);
        Ok(())
    }

    /// The bar could not make a ready order: undo payment and stock, except what it used.
    pub(super) fn bar_failed(
        &self,
        tx: &mut Tx,
        e: TicketFailed,
        cause: Option<Uuid>,
    ) -> Result<(), Rejection> {
        let Some(mut order) = load(tx, e.order_id)? else {
            return Ok(());
        };
        if order.status != Status::Ready {
            return Ok(());
        }
        let reason = format!("the bar could not make it: {}", e.reason);
        self.fail(tx, &mut order, cause, reason, e.consumed)
    }

    /// Fails the order: `orders/failed` asks payment and inventory to undo their part; the
    /// order service asks again until both confirm.
    pub(super) fn fail(
        &self,
        tx: &mut Tx,
        order: &mut OrderRecord,
        cause: Option<Uuid>,
        reason: String,
        consumed: Ingredients,
    ) -> Result<(), Rejection> {
        let id = order.order_id;
        order.compensation.consumed = consumed.clone();
        let data = OrderFailed {
            order_id: id,
            reason: reason.clone(),
            consumed,
        };
        tx.publish(&tx.event(id, cause, data))?;
        info!(order_id = %id, %reason, "Order failed; undoing what was done.");
        self.set_timer(tx, order, Some((Step::Compensate, 0)));
        set_status(tx, order, Status::Canceling, Some(reason));
        Ok(())
    }

    /// Payment or inventory confirmed its part of the compensation; once both did, the order
    /// is canceled.
    pub(super) fn confirmed(
        &self,
        tx: &mut Tx,
        id: Uuid,
        cause: Option<Uuid>,
        undone: Undone,
    ) -> Result<(), Rejection> {
        let Some(mut order) = load(tx, id)? else {
            return Ok(());
        };
        if order.status != Status::Canceling {
            return Ok(());
        }
        let c = &mut order.compensation;
        match undone {
            Undone::Refund(cents) if !c.refund_confirmed => {
                c.refund_confirmed = true;
                c.refunded_cents = cents;
                c.done.extend(refund_note(cents));
            }
            Undone::Release(back) if !c.release_confirmed => {
                c.release_confirmed = true;
                c.done.extend(release_note(&back));
                c.released = back;
            }
            _ => return Ok(()),
        }
        if c.refund_confirmed && c.release_confirmed {
            self.announce_canceled(tx, &order, cause)?;
            info!(order_id = %id, "Order canceled; compensation confirmed.");
            self.set_timer(tx, &mut order, None);
            set_status(tx, &mut order, Status::Canceled, None);
        } else {
            tx.put(&order_key(id), &order);
        }
        Ok(())
    }
}

/// `orders/canceled` for an order whose compensation is complete.
pub(super) fn canceled_event(order: &OrderRecord) -> OrderCanceled {
    let c = &order.compensation;
    OrderCanceled {
        order_id: order.order_id,
        reason: order.reason.clone().unwrap_or_default(),
        refunded_cents: c.refunded_cents,
        released: c.released.clone(),
        compensations: c.done.clone(),
    }
}
