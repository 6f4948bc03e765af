//! Cancellation and compensation: completed steps are undone in reverse order, one at a time,
//! each asked until confirmed; then `orders/canceled`.

use milo_bus::{Rejection, Tx};
use milo_contracts::events::{Ingredients, OrderCanceled, OrderFailed};
use milo_contracts::saga::{
    refund_note, release_note, CancelOrder, CancelRefused, TicketWithdrawn,
};
use time::OffsetDateTime;
use tracing::info;
use uuid::Uuid;

use super::{finish, load, save, Coordinator};
use crate::model::{Saga, SagaState, StepName, StepOutcome};

/// A participant's confirmation that it undid its step.
pub(super) enum Undone {
    Refund(u64),
    Release(Ingredients),
}

impl Coordinator {
    /// Turns the saga to compensation: every step that was asked and not refused is undone,
    /// latest first.
    pub(super) fn compensate(
        &self,
        tx: &mut Tx,
        saga: &mut Saga,
        reason: String,
    ) -> Result<(), Rejection> {
        let id = saga.order_id;
        for s in saga.steps.iter_mut() {
            if s.outcome == StepOutcome::Pending {
                s.outcome = StepOutcome::Abandoned;
                s.finished_at = Some(OffsetDateTime::now_utc());
            }
        }
        saga.to_undo = [
            (StepName::Charge, StepName::Refund),
            (StepName::Reserve, StepName::Release),
        ]
        .into_iter()
        .filter(|(done, _)| {
            saga.step(*done)
                .is_some_and(|s| s.outcome != StepOutcome::Failed)
        })
        .map(|(_, undo)| undo)
        .collect();
        let failed = OrderFailed {
            order_id: id,
            reason: reason.clone(),
            consumed: saga.consumed.clone(),
        };
        let cause = saga.cause;
        saga.announced = None;
        tx.answer(&mut saga.announced, id, cause, || failed)?;
        info!(order_id = %id, %reason, "Saga compensating.");
        saga.reason = Some(reason);
        self.next_undo(tx, saga)
    }

    /// Starts the next compensation step, or ends the saga canceled.
    fn next_undo(&self, tx: &mut Tx, saga: &mut Saga) -> Result<(), Rejection> {
        if saga.to_undo.is_empty() {
            self.arm(tx, saga, None);
            let id = saga.order_id;
            let data = OrderCanceled {
                order_id: id,
                reason: saga.reason.clone().unwrap_or_default(),
                refunded_cents: saga.refunded_cents,
                released: saga.released.clone(),
                compensations: saga.compensations.clone(),
            };
            let cause = saga.cause;
            saga.announced = None;
            tx.answer(&mut saga.announced, id, cause, || data)?;
            info!(order_id = %id, "Saga canceled; every step undone.");
            save(tx, saga, SagaState::Canceled);
            return Ok(());
        }
        let step = saga.to_undo.remove(0);
        self.begin(tx, saga, step)?;
        save(tx, saga, SagaState::Compensating);
        Ok(())
    }

    /// Payment or inventory confirmed its compensation step.
    pub(super) fn undone(&self, tx: &mut Tx, id: Uuid, what: Undone) -> Result<(), Rejection> {
        let Some(mut saga) = load(tx, id)? else {
            return Ok(());
        };
        let step = match what {
            Undone::Refund(_) => StepName::Refund,
            Undone::Release(_) => StepName::Release,
        };
        if saga.state != SagaState::Compensating || !Self::pending(&saga, step) {
            return Ok(());
        }
        let (note, nothing) = match what {
            Undone::Refund(cents) => {
                saga.refunded_cents = cents;
                (refund_note(cents), "nothing was charged")
            }
            Undone::Release(back) => {
                let note = release_note(&back);
                saga.released = back;
                (note, "nothing was held")
            }
        };
        saga.compensations.extend(note.clone());
        let detail = note.unwrap_or_else(|| nothing.to_owned());
        finish(&mut saga, step, StepOutcome::Succeeded, Some(detail));
        self.next_undo(tx, &mut saga)
    }

    /// A customer's cancellation (passed on by the order service, which has the order),
    /// decided by where the saga stands. A canceled saga says its `orders/canceled` again.
    pub(super) fn cancel(&self, tx: &mut Tx, e: CancelOrder) -> Result<(), Rejection> {
        let why = match e.reason.as_deref().map(str::trim) {
            Some(r) if !r.is_empty() => format!("canceled by the customer: {r}"),
            _ => "canceled by the customer".to_owned(),
        };
        let Some(mut saga) = load(tx, e.order_id)? else {
            return self.cancel_unseen(tx, e.order_id, why);
        };
        match saga.state {
            SagaState::Reserving | SagaState::Charging => self.compensate(tx, &mut saga, why),
            SagaState::Preparing if saga.started => {
                self.refuse(tx, &mut saga, "the drink is already being made")?;
                let state = saga.state;
                save(tx, &mut saga, state);
                Ok(())
            }
            SagaState::Preparing => {
                saga.cancel = Some(why);
                self.begin(tx, &mut saga, StepName::Withdraw)?;
                info!(order_id = %e.order_id, "Cancellation asked; asking the bar to withdraw the ticket.");
                save(tx, &mut saga, SagaState::Withdrawing);
                Ok(())
            }
            SagaState::Completed => {
                self.refuse(tx, &mut saga, "the drink is already made")?;
                save(tx, &mut saga, SagaState::Completed);
                Ok(())
            }
            SagaState::Canceled => {
                if let Some(p) = &saga.announced {
                    tx.republish(p)?;
                }
                Ok(())
            }
            // Decided already; the outcome follows.
            SagaState::Withdrawing | SagaState::Compensating => Ok(()),
        }
    }

    /// A cancellation for an order the coordinator has not seen start (the order service has
    /// it: its `orders/created` is late): it is canceled with nothing to undo, and the late
    /// `orders/created` finds the saga already over.
    fn cancel_unseen(&self, tx: &mut Tx, id: Uuid, why: String) -> Result<(), Rejection> {
        let mut saga = Saga::new(id, SagaState::Compensating, None);
        self.compensate(tx, &mut saga, why)
    }

    /// The bar's answer to a withdrawal.
    pub(super) fn withdrawn(&self, tx: &mut Tx, e: TicketWithdrawn) -> Result<(), Rejection> {
        let Some(mut saga) = load(tx, e.order_id)? else {
            return Ok(());
        };
        if saga.state != SagaState::Withdrawing || !Self::pending(&saga, StepName::Withdraw) {
            return Ok(());
        }
        if e.withdrawn {
            finish(&mut saga, StepName::Withdraw, StepOutcome::Succeeded, None);
            finish(
                &mut saga,
                StepName::Prepare,
                StepOutcome::Abandoned,
                Some("withdrawn".into()),
            );
            let why = saga
                .cancel
                .take()
                .unwrap_or_else(|| "canceled by the customer".into());
            return self.compensate(tx, &mut saga, why);
        }
        let reason = e.reason.unwrap_or_else(|| "the bar kept the ticket".into());
        finish(
            &mut saga,
            StepName::Withdraw,
            StepOutcome::Failed,
            Some(reason.clone()),
        );
        self.refuse(tx, &mut saga, &reason)?;
        self.back_to_bar(tx, &mut saga);
        Ok(())
    }

    /// After a refused withdrawal: the order is at the bar again, with its prepare timeout.
    pub(super) fn back_to_bar(&self, tx: &mut Tx, saga: &mut Saga) {
        let attempts = saga.step(StepName::Prepare).map_or(1, |s| s.attempts);
        self.arm(tx, saga, Some((StepName::Prepare, attempts - 1)));
        save(tx, saga, SagaState::Preparing);
    }

    /// Refuses the pending cancellation (the caller saves the saga).
    pub(super) fn refuse(
        &self,
        tx: &mut Tx,
        saga: &mut Saga,
        reason: &str,
    ) -> Result<(), Rejection> {
        saga.cancel = None;
        let id = saga.order_id;
        let data = CancelRefused {
            order_id: id,
            reason: reason.to_owned(),
        };
        tx.publish(&tx.event(id, saga.cause, data))?;
        info!(order_id = %id, %reason, "Cancellation refused.");
        Ok(())
    }
}
