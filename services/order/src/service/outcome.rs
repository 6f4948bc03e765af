//! How an order ended, said again. The final event (`orders/prepared` from the bar,
//! `orders/canceled` from whoever owns the flow) is kept as it was published or heard, so a
//! POS that asks about an order already done (it places the same order id again, or asks to
//! cancel it once more) hears that very event again: the same event id, so every other
//! consumer's inbox sees a repeat, not a second fact.

use milo_bus::{Published, Rejection, Tx};
use milo_contracts::RawEnvelope;
use uuid::Uuid;

use super::flow::canceled_event;
use super::OrderService;
use crate::model::{outcome_key, OrderRecord, Status};

/// Keeps the final event heard for order `id` (the bar's `orders/prepared`, the coordinator's
/// `orders/canceled`), as it was published.
pub(super) fn keep_heard(tx: &mut Tx, id: Uuid, topic: &str, env: &RawEnvelope) {
    // An envelope parsed from JSON serialises back to the same bytes.
    if let Ok(payload) = serde_json::to_string(env) {
        let heard = Published {
            topic: topic.to_owned(),
            payload,
        };
        tx.put(&outcome_key(id), &heard);
    }
}

impl OrderService {
    /// Publishes `orders/canceled` for an order whose compensation is complete, and keeps it.
    pub(super) fn announce_canceled(
        &self,
        tx: &mut Tx,
        order: &OrderRecord,
        cause: Option<Uuid>,
    ) -> Result<(), Rejection> {
        let (id, mut kept) = (order.order_id, None);
        tx.answer(&mut kept, id, cause, || canceled_event(order))?;
        tx.put(&outcome_key(id), &kept);
        Ok(())
    }

    /// Says again how the order ended, if it did and that is known; true if said. A canceled
    /// order from before outcomes were kept (choreography) gets its event made from the
    /// record, and kept.
    pub(super) fn say_outcome(
        &self,
        tx: &mut Tx,
        order: &OrderRecord,
        cause: Option<Uuid>,
    ) -> Result<bool, Rejection> {
        if !matches!(order.status, Status::Prepared | Status::Canceled) {
            return Ok(false);
        }
        match tx.get::<Published>(&outcome_key(order.order_id))? {
            Some(kept) => tx.republish(&kept)?,
            None if order.status == Status::Canceled && self.choreography() => {
                self.announce_canceled(tx, order, cause)?
            }
            None => return Ok(false),
        }
        Ok(true)
    }
}
