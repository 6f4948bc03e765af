//! The coordinator's durable timeouts: ask again, give up on a forward step after the last
//! attempt (and compensate), never give up on a compensation step.

use milo_bus::{retry, Rejection, Timer, Tx};
use tracing::warn;

use super::{finish, load, save, Coordinator};
use crate::model::{Saga, StepName, StepOutcome};

impl Coordinator {
    /// Fires every due timeout.
    pub(super) fn tick(&self, tx: &mut Tx) -> Result<(), Rejection> {
        for (id, key) in retry::take_due(tx)? {
            let Some(mut saga) = load(tx, id)? else {
                continue;
            };
            match saga.timer.clone() {
                Some(t) if t.key == key => {
                    saga.timer = None;
                    self.fire(tx, &mut saga, t)?;
                }
                _ => continue,
            }
        }
        self.alarm.next(retry::next_due(tx)?);
        Ok(())
    }

    fn fire(&self, tx: &mut Tx, saga: &mut Saga, t: Timer<StepName>) -> Result<(), Rejection> {
        let state = saga.state;
        if !Self::pending(saga, t.step) {
            save(tx, saga, state);
            return Ok(());
        }
        let attempts = saga.step(t.step).map_or(1, |s| s.attempts);
        let last = attempts >= self.retry.attempts;
        let id = saga.order_id;
        match t.step {
            StepName::Refund | StepName::Release => {}
            StepName::Withdraw if last => {
                finish(saga, StepName::Withdraw, StepOutcome::TimedOut, None);
                self.refuse(tx, saga, "the bar did not answer")?;
                self.back_to_bar(tx, saga);
                return Ok(());
            }
            StepName::Reserve | StepName::Charge | StepName::Prepare if last => {
                finish(saga, t.step, StepOutcome::TimedOut, None);
                let reason = match t.step {
                    StepName::Prepare => format!("not prepared after {attempts} attempts"),
                    StepName::Reserve => {
                        format!("no answer from inventory after {attempts} attempts")
                    }
                    _ => format!("no answer from payment after {attempts} attempts"),
                };
                return self.compensate(tx, saga, reason);
            }
            _ => {}
        }
        warn!(order_id = %id, step = ?t.step, attempt = attempts + 1, "No answer; asking again.");
        self.again(tx, saga, t.step)?;
        save(tx, saga, state);
        Ok(())
    }
}
