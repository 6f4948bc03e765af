//! The forward steps: reserve, charge, prepare.

use milo_bus::{Published, Rejection, Tx};
use milo_contracts::events::{OrderCreated, OrderPrepared, OrderReady};
use milo_contracts::saga::TicketFailed;
use milo_contracts::{topics, RawEnvelope};
use tracing::info;
use uuid::Uuid;

use super::{finish, load, save, Coordinator};
use crate::model::{Saga, SagaState, StepName, StepOutcome};

impl Coordinator {
    /// A new order: start its saga with the reservation. A repeat is ignored (the saga's own
    /// timers ask participants again).
    pub(super) fn created(
        &self,
        tx: &mut Tx,
        e: OrderCreated,
        cause: Uuid,
    ) -> Result<(), Rejection> {
        if let Some(saga) = load(tx, e.order_id)? {
            // The order service asks again: it may have missed what was announced.
            if let Some(p) = &saga.announced {
                tx.republish(p)?;
            }
            return Ok(());
        }
        let mut saga = Saga {
            amount_cents: e.total_cents,
            ingredients: e.ingredients,
            lines: e.lines,
            customer: e.customer,
            payment: e.payment,
            ..Saga::new(e.order_id, SagaState::Reserving, Some(cause))
        };
        info!(order_id = %saga.order_id, "Saga started.");
        self.begin(tx, &mut saga, StepName::Reserve)?;
        save(tx, &mut saga, SagaState::Reserving);
        Ok(())
    }

    /// Inventory's answer: charge next, or compensate.
    pub(super) fn reserved(
        &self,
        tx: &mut Tx,
        id: Uuid,
        answer: Result<(), String>,
    ) -> Result<(), Rejection> {
        let Some(mut saga) = load(tx, id)? else {
            return Ok(());
        };
        if saga.state != SagaState::Reserving || !Self::pending(&saga, StepName::Reserve) {
            return Ok(());
        }
        match answer {
            Ok(()) => {
                finish(&mut saga, StepName::Reserve, StepOutcome::Succeeded, None);
                self.begin(tx, &mut saga, StepName::Charge)?;
                save(tx, &mut saga, SagaState::Charging);
                Ok(())
            }
            Err(reason) => {
                let detail = Some(reason.clone());
                finish(&mut saga, StepName::Reserve, StepOutcome::Failed, detail);
                self.compensate(tx, &mut saga, reason)
            }
        }
    }

    /// Payment's answer: hand the order to the bar, or compensate.
    pub(super) fn charged(
        &self,
        tx: &mut Tx,
        id: Uuid,
        answer: Result<String, String>,
    ) -> Result<(), Rejection> {
        let Some(mut saga) = load(tx, id)? else {
            return Ok(());
        };
        if saga.state != SagaState::Charging || !Self::pending(&saga, StepName::Charge) {
            return Ok(());
        }
        match answer {
            Ok(transaction) => {
                let detail = Some(format!("transaction {transaction}"));
                finish(&mut saga, StepName::Charge, StepOutcome::Succeeded, detail);
                let ready = OrderReady {
                    order_id: id,
                    lines: saga.lines.clone(),
                    customer: saga.customer.clone(),
                };
                let cause = saga.cause;
                saga.announced = None;
                tx.answer(&mut saga.announced, id, cause, || ready)?;
                self.begin(tx, &mut saga, StepName::Prepare)?;
                info!(order_id = %id, "Saga: paid and stocked; order at the bar.");
                save(tx, &mut saga, SagaState::Preparing);
                Ok(())
            }
            Err(reason) => {
                let detail = Some(reason.clone());
                finish(&mut saga, StepName::Charge, StepOutcome::Failed, detail);
                self.compensate(tx, &mut saga, reason)
            }
        }
    }

    /// A station began the drink.
    pub(super) fn started(&self, tx: &mut Tx, id: Uuid) -> Result<(), Rejection> {
        let Some(mut saga) = load(tx, id)? else {
            return Ok(());
        };
        saga.started = true;
        let state = saga.state;
        save(tx, &mut saga, state);
        Ok(())
    }

    /// The bar made the order: the saga is complete. The bar's event is kept to say again.
    pub(super) fn prepared(&self, tx: &mut Tx, env: &RawEnvelope) -> Result<(), Rejection> {
        let id = env.decode::<OrderPrepared>()?.order_id;
        let Some(mut saga) = load(tx, id)? else {
            return Ok(());
        };
        if !matches!(saga.state, SagaState::Preparing | SagaState::Withdrawing) {
            return Ok(());
        }
        if saga.state == SagaState::Withdrawing {
            finish(&mut saga, StepName::Withdraw, StepOutcome::Failed, None);
            self.refuse(tx, &mut saga, "the drink is already made")?;
        }
        finish(&mut saga, StepName::Prepare, StepOutcome::Succeeded, None);
        saga.announced = serde_json::to_string(env).ok().map(|payload| Published {
            topic: topics::ORDERS_PREPARED.to_owned(),
            payload,
        });
        self.arm(tx, &mut saga, None);
        info!(order_id = %id, "Saga completed.");
        save(tx, &mut saga, SagaState::Completed);
        Ok(())
    }

    /// The bar could not make it: compensate, keeping what it used out of stock.
    pub(super) fn bar_failed(&self, tx: &mut Tx, e: TicketFailed) -> Result<(), Rejection> {
        let Some(mut saga) = load(tx, e.order_id)? else {
            return Ok(());
        };
        if !matches!(saga.state, SagaState::Preparing | SagaState::Withdrawing) {
            return Ok(());
        }
        let detail = Some(format!("{} at {}", e.reason, e.station));
        finish(&mut saga, StepName::Prepare, StepOutcome::Failed, detail);
        saga.consumed = e.consumed;
        let reason = format!("the bar could not make it: {}", e.reason);
        self.compensate(tx, &mut saga, reason)
    }
}
