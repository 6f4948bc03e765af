//! A customer's cancellation. The order service alone knows which orders exist, so it
//! answers every request from a POS (`cancellations/requested`) in both modes: an unknown
//! order is refused at once ([`UNKNOWN_ORDER`]), an order already canceled hears its
//! `orders/canceled` again. In choreography it decides the rest itself: before the drink is
//! started the order is failed and compensated like any failure (reason "canceled by the
//! customer"); once a station started it the cancellation is refused with the reason; a ready
//! order's ticket may already be at the bar: the bar is asked to withdraw it and its answer
//! decides. In orchestration it passes the request on to the coordinator
//! (`commands/saga/cancel`), which decides.

use milo_bus::{Rejection, Tx};
use milo_contracts::events::Ingredients;
use milo_contracts::saga::{
    CancelOrder, CancelRefused, CancelRequested, TicketWithdrawn, WithdrawTicket, UNKNOWN_ORDER,
};
use time::OffsetDateTime;
use tracing::info;
use uuid::Uuid;

use super::{load, OrderService};
use crate::model::{order_key, CancelRequest, OrderRecord, Status, Step};

impl OrderService {
    /// A cancellation from a POS (`cancellations/requested`), in either mode: always answered.
    pub(super) fn cancel_requested(
        &self,
        tx: &mut Tx,
        request: CancelRequested,
        cause: Uuid,
    ) -> Result<(), Rejection> {
        let (id, cause) = (request.order_id, Some(cause));
        let Some(mut order) = tx.get::<OrderRecord>(&order_key(id))? else {
            let data = CancelRefused {
                order_id: id,
                reason: UNKNOWN_ORDER.to_owned(),
            };
            tx.publish(&tx.event(id, cause, data))?;
            info!(order_id = %id, "Cancellation of an unknown order refused.");
            return Ok(());
        };
        match order.status {
            Status::Canceled if self.say_outcome(tx, &order, cause)? => Ok(()),
            // The coordinator never saw a rejected order: refused here in both modes.
            _ if self.choreography() || order.status == Status::Rejected => {
                self.cancel(tx, order, request.reason, cause)
            }
            _ => self.pass_on(tx, &mut order, request, cause),
        }
    }

    /// A cancellation from HTTP, which reads the outcome from the order record: decided here
    /// in choreography, passed on to the coordinator in orchestration. False if the order is
    /// unknown.
    pub(super) fn cancel_from_http(
        &self,
        tx: &mut Tx,
        request: CancelRequested,
    ) -> Result<bool, Rejection> {
        let Some(mut order) = tx.get::<OrderRecord>(&order_key(request.order_id))? else {
            return Ok(false);
        };
        if self.choreography() {
            self.cancel(tx, order, request.reason, None)?;
        } else if !matches!(order.status, Status::Canceling) && !order.status.is_terminal() {
            self.pass_on(tx, &mut order, request, None)?;
        }
        Ok(true)
    }

    /// Orchestration: asks the coordinator to decide (`commands/saga/cancel`); the order
    /// service vouches that the order exists.
    fn pass_on(
        &self,
        tx: &mut Tx,
        order: &mut OrderRecord,
        request: CancelRequested,
        cause: Option<Uuid>,
    ) -> Result<(), Rejection> {
        let id = order.order_id;
        if !matches!(order.status, Status::Canceling) && !order.status.is_terminal() {
            order.cancel = Some(asked(&request.reason));
            tx.put(&order_key(id), order);
        }
        let data = CancelOrder {
            order_id: id,
            reason: request.reason,
        };
        tx.publish(&tx.event(id, cause, data))?;
        Ok(())
    }

    /// Decides a cancellation by where the order stands (choreography; and a rejected order
    /// in both modes).
    fn cancel(
        &self,
        tx: &mut Tx,
        mut order: OrderRecord,
        why: Option<String>,
        cause: Option<Uuid>,
    ) -> Result<(), Rejection> {
        let id = order.order_id;
        let pending = order.cancel.as_ref().is_some_and(|c| c.refused.is_none());
        match order.status {
            Status::Created => {
                order.cancel = Some(asked(&why));
                return self.fail(tx, &mut order, cause, canceled(&why), Ingredients::new());
            }
            Status::Ready if order.started => {
                order.cancel = Some(asked(&why));
                refuse(tx, &mut order, cause, "the drink is already being made")?;
            }
            Status::Ready if pending => return Ok(()),
            Status::Ready => {
                order.cancel = Some(asked(&why));
                tx.publish(&tx.event(id, cause, WithdrawTicket { order_id: id }))?;
                info!(order_id = %id, "Cancellation asked; asking the bar to withdraw the ticket.");
                self.set_timer(tx, &mut order, Some((Step::Withdraw, 0)));
            }
            Status::Prepared => {
                order.cancel = Some(asked(&why));
                refuse(tx, &mut order, cause, "the drink is already made")?;
            }
            Status::Rejected => {
                order.cancel = Some(asked(&why));
                refuse(tx, &mut order, cause, "the order was rejected")?;
            }
            Status::Canceling | Status::Canceled => return Ok(()),
        }
        tx.put(&order_key(id), &order);
        Ok(())
    }

    /// The bar's answer to a withdrawal.
    pub(super) fn withdrawn(
        &self,
        tx: &mut Tx,
        e: TicketWithdrawn,
        cause: Option<Uuid>,
    ) -> Result<(), Rejection> {
        let Some(mut order) = load(tx, e.order_id)? else {
            return Ok(());
        };
        let pending = order.cancel.as_ref().is_some_and(|c| c.refused.is_none());
        if order.status != Status::Ready || !pending {
            return Ok(());
        }
        if e.withdrawn {
            let why = order.cancel.as_ref().and_then(|c| c.reason.clone());
            return self.fail(tx, &mut order, cause, canceled(&why), Ingredients::new());
        }
        let reason = e.reason.unwrap_or_else(|| "the bar kept the ticket".into());
        refuse(tx, &mut order, cause, &reason)?;
        self.set_timer(tx, &mut order, Some((Step::Prepared, 0)));
        tx.put(&order_key(e.order_id), &order);
        Ok(())
    }
}

/// A fresh cancellation request.
pub(super) fn asked(reason: &Option<String>) -> CancelRequest {
    CancelRequest {
        reason: reason.clone(),
        at: OffsetDateTime::now_utc(),
        refused: None,
    }
}

/// The failure reason of a canceled order.
pub(super) fn canceled(reason: &Option<String>) -> String {
    match reason {
        Some(r) if !r.trim().is_empty() => format!("canceled by the customer: {}", r.trim()),
        _ => "canceled by the customer".into(),
    }
}

/// Refuses the order's cancellation with `reason` (the caller writes the order).
pub(super) fn refuse(
    tx: &mut Tx,
    order: &mut OrderRecord,
    cause: Option<Uuid>,
    reason: &str,
) -> Result<(), Rejection> {
    let id = order.order_id;
    if let Some(c) = order.cancel.as_mut() {
        c.refused = Some(reason.to_owned());
    }
    let data = CancelRefused {
        order_id: id,
        reason: reason.to_owned(),
    };
    tx.publish(&tx.event(id, cause, data))?;
    info!(order_id = %id, %reason, "Cancellation refused.");
    Ok(())
}
