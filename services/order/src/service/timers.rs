//! The order service's durable timers: asking again, failing after the last attempt, and
//! driving a failed order's compensation until both participants confirm.

use milo_bus::{retry, Rejection, Timer, Tx};
use milo_contracts::events::{Ingredients, OrderFailed, OrderReady};
use milo_contracts::saga::WithdrawTicket;
use tracing::warn;

use super::cancel::refuse;
use super::OrderService;
use crate::model::{order_key, OrderRecord, Status, Step};

impl OrderService {
    /// Fires every due timer: asks again, or fails the order after the last attempt.
    pub(super) fn tick(&self, tx: &mut Tx) -> Result<(), Rejection> {
        for (id, key) in retry::take_due(tx)? {
            let Some(mut order) = tx.get::<OrderRecord>(&order_key(id))? else {
                continue;
            };
            match order.timer.clone() {
                Some(t) if t.key == key => {
                    order.timer = None;
                    self.fire(tx, &mut order, t)?
                }
                _ => continue,
            }
            tx.put(&order_key(id), &order);
        }
        self.alarm.next(retry::next_due(tx)?);
        Ok(())
    }

    fn fire(&self, tx: &mut Tx, order: &mut OrderRecord, t: Timer<Step>) -> Result<(), Rejection> {
        let id = order.order_id;
        let last = t.attempt + 1 >= self.config.retry.attempts;
        let next = Some((t.step, t.attempt + 1));
        match (t.step, order.status) {
            // Orchestration: the coordinator decides; make sure it heard of the order and that
            // this mirror heard everything it announced (at the bar: once per drink's time).
            (_, status) if !self.choreography() && !status.is_terminal() => {
                self.ask_again(tx, order)?;
                self.set_timer(tx, order, next);
            }
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
                self.fail(tx, order, None, reason, Ingredients::new())?;
            }
            (Step::Answers, Status::Created) => {
                warn!(order_id = %id, attempt = t.attempt + 1, "No answer yet; asking payment and inventory again.");
                self.ask_again(tx, order)?;
                self.set_timer(tx, order, next);
            }
            (Step::Compensate, Status::Canceling) => {
                warn!(order_id = %id, attempt = t.attempt + 1, "Compensation not confirmed; asking again.");
                let data = OrderFailed {
                    order_id: id,
                    reason: order.reason.clone().unwrap_or_default(),
                    consumed: order.compensation.consumed.clone(),
                };
                tx.publish(&tx.event(id, None, data))?;
                self.set_timer(tx, order, next);
            }
            (Step::Prepared, Status::Ready) if last => {
                let reason = format!("not prepared after {} attempts", t.attempt + 1);
                self.fail(tx, order, None, reason, Ingredients::new())?;
            }
            (Step::Prepared, Status::Ready) => {
                warn!(order_id = %id, attempt = t.attempt + 1, "Not prepared yet; asking the bar again.");
                let data = OrderReady {
                    order_id: id,
                    lines: order.lines.clone(),
                    customer: order.customer.clone(),
                };
                tx.publish(&tx.event(id, None, data))?;
                self.set_timer(tx, order, next);
            }
            (Step::Withdraw, Status::Ready) if last => {
                refuse(tx, order, None, "the bar did not answer")?;
                self.set_timer(tx, order, Some((Step::Prepared, 0)));
            }
            (Step::Withdraw, Status::Ready) => {
                warn!(order_id = %id, attempt = t.attempt + 1, "Withdrawal not answered; asking the bar again.");
                tx.publish(&tx.event(id, None, WithdrawTicket { order_id: id }))?;
                self.set_timer(tx, order, next);
            }
            _ => {}
        }
        Ok(())
    }

    /// Publishes `orders/created` again (a new event, same order and data).
    fn ask_again(&self, tx: &mut Tx, order: &OrderRecord) -> Result<(), Rejection> {
        if let Some(data) = order.created.clone() {
            tx.publish(&tx.event(order.order_id, None, data))?;
        }
        Ok(())
    }
}
