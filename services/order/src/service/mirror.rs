//! Orchestration: the saga coordinator owns each order's flow; the order service keeps the
//! order record true to what the coordinator announces, so `GET /orders/{id}` reads the same
//! in both modes. Until the order is final it keeps a timer and asks again (a repeated
//! `orders/created`), and the coordinator answers with what it announced last, byte for byte,
//! so a mirror that missed an event catches up. Once the order is at the bar the coordinator
//! has nothing new to announce until the bar answers, and what it announced last is
//! `orders/ready`: the mirror asks again only after a drink's time (`prepare_secs`, as the
//! coordinator itself does), not at every backoff step, so `orders/ready` goes out once per
//! attempt.

use milo_bus::{Rejection, Tx};
use milo_contracts::events::{OrderCanceled, OrderFailed};
use milo_contracts::{topics, RawEnvelope};
use uuid::Uuid;

use super::cancel::asked;
use super::outcome::keep_heard;
use super::{load, set_status, OrderService};
use crate::model::{order_key, Status, Step};

impl OrderService {
    /// `orders/ready`: paid and stocked; next, the bar.
    pub(super) fn mirror_ready(&self, tx: &mut Tx, id: Uuid) -> Result<(), Rejection> {
        let Some(mut order) = load(tx, id)? else {
            return Ok(());
        };
        if order.status == Status::Created {
            (order.paid, order.reserved) = (true, true);
            self.set_timer(tx, &mut order, Some((Step::Prepared, 0)));
            set_status(tx, &mut order, Status::Ready, None);
        }
        Ok(())
    }

    /// `orders/failed`: the coordinator is undoing what was done, quickly: asked again at the
    /// backoff's pace until `orders/canceled`.
    pub(super) fn mirror_failed(&self, tx: &mut Tx, e: OrderFailed) -> Result<(), Rejection> {
        let Some(mut order) = load(tx, e.order_id)? else {
            return Ok(());
        };
        if matches!(order.status, Status::Created | Status::Ready) {
            order.compensation.consumed = e.consumed;
            self.set_timer(tx, &mut order, Some((Step::Answers, 0)));
            set_status(tx, &mut order, Status::Canceling, Some(e.reason));
        }
        Ok(())
    }

    /// `orders/canceled`: done. The event is kept, to say it again.
    pub(super) fn mirror_canceled(&self, tx: &mut Tx, env: &RawEnvelope) -> Result<(), Rejection> {
        let e = env.decode::<OrderCanceled>()?;
        let Some(mut order) = load(tx, e.order_id)? else {
            return Ok(());
        };
        if order.status.is_terminal() {
            return Ok(());
        }
        let c = &mut order.compensation;
        (c.refund_confirmed, c.release_confirmed) = (true, true);
        c.refunded_cents = e.refunded_cents;
        c.released = e.released;
        c.done = e.compensations;
        self.set_timer(tx, &mut order, None);
        set_status(tx, &mut order, Status::Canceled, Some(e.reason));
        keep_heard(tx, e.order_id, topics::ORDERS_CANCELED, env);
        Ok(())
    }

    /// `cancellations/refused`.
    pub(super) fn mirror_refused(
        &self,
        tx: &mut Tx,
        id: Uuid,
        reason: String,
    ) -> Result<(), Rejection> {
        let Some(mut order) = load(tx, id)? else {
            return Ok(());
        };
        order.cancel.get_or_insert_with(|| asked(&None)).refused = Some(reason);
        tx.put(&order_key(id), &order);
        Ok(())
    }
}
