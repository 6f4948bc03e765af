//! The order service's durable timers: asking again, failing after the last attempt, and
//! driving a failed order's compensation until both participants confirm.

use milo_bus::{Rejection, Tx};
use milo_contracts::events::{OrderFailed, OrderReady};
use tracing::warn;

use super::OrderService;
use crate::model::{order_key, OrderRecord, Status};
use crate::retry::{self, Step, TIMER_PREFIX};

impl OrderService {
    /// Replaces the order's pending timer (the caller writes the order).
    pub(super) fn set_timer(
        &self,
        tx: &mut Tx,
        order: &mut OrderRecord,
        next: Option<(Step, u32)>,
    ) {
        if let Some(old) = order.timer.take() {
            tx.remove(&old.key);
        }
        if let Some((step, attempt)) = next {
            let timer = self.config.retry.timer(order.order_id, step, attempt);
            tx.put(&timer.key, &());
            order.timer = Some(timer);
        }
    }

    /// Fires every due timer: asks again, or fails the order after the last attempt.
    pub(super) fn tick(&self, tx: &mut Tx) -> Result<(), Rejection> {
        let now = retry::now_ms();
        for (tail, ()) in tx.scan::<()>(TIMER_PREFIX, 256)? {
            let Some(id) = retry::due_by(&tail, now) else {
                break;
            };
            let key = format!("{TIMER_PREFIX}{tail}");
            tx.remove(&key);
            let Some(mut order) = tx.get::<OrderRecord>(&order_key(id))? else {
                continue;
            };
            match order.timer.clone() {
                Some(t) if t.key == key => self.fire(tx, &mut order, t)?,
                _ => continue,
            }
            tx.put(&order_key(id), &order);
        }
        Ok(())
    }

    fn fire(&self, tx: &mut Tx, order: &mut OrderRecord, t: retry::Timer) -> Result<(), Rejection> {
        let id = order.order_id;
        let last = t.attempt + 1 >= self.config.retry.attempts;
        match (t.step, order.status) {
            (Step::Answers, Status::Created) if last => {
                let missing: Vec<&str> = [(!order.paid, "payment"), (!order.reserved, "inventory")]
                    .into_iter()
                    .filter_map(|(m, who)| m.then_some(who))
                    .collect();
                let reason = format!(
                    "no answer from {} after {} attempts",
                    missing.join(" and "),
                    t.attempt + 1
                );
                self.fail(tx, order, None, reason)
            }
            (Step::Answers, Status::Created) => {
                if let Some(data) = order.created.clone() {
                    warn!(order_id = %id, attempt = t.attempt + 1, "No answer yet; asking payment and inventory again.");
                    tx.publish(&tx.event(id, None, data))?;
                }
                self.set_timer(tx, order, Some((Step::Answers, t.attempt + 1)));
                Ok(())
            }
            (Step::Compensate, Status::Failed)
                if order.refund_confirmed && order.release_confirmed =>
            {
                self.set_timer(tx, order, None);
                Ok(())
            }
            (Step::Compensate, Status::Failed) => {
                warn!(order_id = %id, attempt = t.attempt + 1, "Compensation not confirmed; asking again.");
                let reason = order.reason.clone().unwrap_or_default();
                tx.publish(&tx.event(
                    id,
                    None,
                    OrderFailed {
                        order_id: id,
                        reason,
                    },
                ))?;
                self.set_timer(tx, order, Some((Step::Compensate, t.attempt + 1)));
                Ok(())
            }
            (Step::Prepared, Status::Ready) if last => {
                let reason = format!("not prepared after {} attempts", t.attempt + 1);
                self.fail(tx, order, None, reason)
            }
            (Step::Prepared, Status::Ready) => {
                warn!(order_id = %id, attempt = t.attempt + 1, "Not prepared yet; asking the bar again.");
                let data = OrderReady {
                    order_id: id,
                    lines: order.lines.clone(),
                    customer: order.customer.clone(),
                };
                tx.publish(&tx.event(id, None, data))?;
                self.set_timer(tx, order, Some((Step::Prepared, t.attempt + 1)));
                Ok(())
            }
            _ => {
                self.set_timer(tx, order, None);
                Ok(())
            }
        }
    }
}
