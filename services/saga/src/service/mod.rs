//! The coordinator's handlers.

use milo_bus::{retry, Alarm, Commands, Rejection, RetryConfig, Service, Store, Tx, Wait};
use milo_contracts::events::{
    InventoryFailed, InventoryReleased, InventoryReserved, OrderCreated, PaymentCompleted,
    PaymentFailed, PaymentRefunded,
};
use milo_contracts::saga::{
    CancelOrder, ChargePayment, OrderStarted, PrepareOrder, RefundPayment, ReleaseStock,
    ReserveStock, TicketFailed, TicketWithdrawn, WithdrawTicket,
};
use milo_contracts::{topics, RawEnvelope};
use time::OffsetDateTime;

use crate::model::{saga_key, state_prefix, Saga, SagaState, StepName, StepOutcome, StepRecord};

mod forward;
mod timers;
mod undo;

/// Local requests to the coordinator.
#[derive(Debug)]
pub enum Command {
    /// Look at due timers.
    Tick,
}

/// The saga coordinator.
pub struct Coordinator {
    retry: RetryConfig,
    /// When the next durable timer is due.
    alarm: Alarm,
}

impl Coordinator {
    /// A coordinator with this retry policy.
    pub fn new(retry: RetryConfig) -> Self {
        Coordinator {
            retry,
            alarm: Alarm::default(),
        }
    }

    /// Sends `step`'s command (first time) and starts its timeout.
    fn begin(&self, tx: &mut Tx, saga: &mut Saga, step: StepName) -> Result<(), Rejection> {
        let now = OffsetDateTime::now_utc();
        saga.steps.push(StepRecord {
            step,
            outcome: StepOutcome::Pending,
            attempts: 1,
            detail: None,
            started_at: now,
            last_attempt_at: now,
            finished_at: None,
        });
        send(tx, saga, step)?;
        self.arm(tx, saga, Some((step, 0)));
        Ok(())
    }

    /// Sends `step`'s command again and re-arms its timeout.
    fn again(&self, tx: &mut Tx, saga: &mut Saga, step: StepName) -> Result<(), Rejection> {
        let attempt = saga.step_mut(step).map_or(1, |s| {
            s.attempts += 1;
            s.last_attempt_at = OffsetDateTime::now_utc();
            s.attempts
        });
        send(tx, saga, step)?;
        self.arm(tx, saga, Some((step, attempt - 1)));
        Ok(())
    }

    /// Replaces the pending timeout.
    fn arm(&self, tx: &mut Tx, saga: &mut Saga, next: Option<(StepName, u32)>) {
        let next = next.map(|(step, attempt)| {
            let wait = if step == StepName::Prepare {
                Wait::Prepare
            } else {
                Wait::Backoff
            };
            (step, wait, attempt)
        });
        retry::set_timer(
            tx,
            &self.retry,
            &self.alarm,
            saga.order_id,
            &mut saga.timer,
            next,
        );
    }

    /// The step is the one pending now.
    fn pending(saga: &Saga, step: StepName) -> bool {
        saga.step(step)
            .is_some_and(|s| s.outcome == StepOutcome::Pending)
    }
}

/// Publishes the command of `step`.
fn send(tx: &mut Tx, saga: &Saga, step: StepName) -> Result<(), Rejection> {
    let (id, cause) = (saga.order_id, saga.cause);
    match step {
        StepName::Reserve => tx.publish(&tx.event(
            id,
            cause,
            ReserveStock {
                order_id: id,
                ingredients: saga.ingredients.clone(),
            },
        ))?,
        StepName::Charge => tx.publish(&tx.event(
            id,
            cause,
            ChargePayment {
                order_id: id,
                amount_cents: saga.amount_cents,
                payment: saga.payment,
            },
        ))?,
        StepName::Prepare => tx.publish(&tx.event(
            id,
            cause,
            PrepareOrder {
                order_id: id,
                lines: saga.lines.clone(),
                customer: saga.customer.clone(),
            },
        ))?,
        StepName::Withdraw => tx.publish(&tx.event(id, cause, WithdrawTicket { order_id: id }))?,
        StepName::Refund => tx.publish(&tx.event(id, cause, RefundPayment { order_id: id }))?,
        StepName::Release => tx.publish(&tx.event(
            id,
            cause,
            ReleaseStock {
                order_id: id,
                consumed: saga.consumed.clone(),
            },
        ))?,
    }
    Ok(())
}

/// Ends the latest record of `step` with `outcome`.
fn finish(saga: &mut Saga, step: StepName, outcome: StepOutcome, detail: Option<String>) {
    if let Some(s) = saga.step_mut(step) {
        s.outcome = outcome;
        s.detail = detail;
        s.finished_at = Some(OffsetDateTime::now_utc());
    }
}

/// Writes the saga, moving it to `state` (index and timestamp kept in step).
fn save(tx: &mut Tx, saga: &mut Saga, state: SagaState) {
    let id = saga.order_id;
    if state != saga.state {
        tx.remove(&format!("{}{id}", state_prefix(saga.state)));
        saga.state = state;
        saga.updated_at = OffsetDateTime::now_utc();
    }
    tx.put(&format!("{}{id}", state_prefix(state)), &());
    tx.put(&saga_key(id), saga);
}

/// Reads a saga.
fn load(tx: &Tx, id: uuid::Uuid) -> Result<Option<Saga>, Rejection> {
    Ok(tx.get::<Saga>(&saga_key(id))?)
}

impl Service for Coordinator {
    type Command = Command;

    fn name(&self) -> String {
        "saga".into()
    }

    fn subscriptions(&self) -> Vec<String> {
        [
            topics::ORDERS_CREATED,
            topics::INVENTORY_RESERVED,
            topics::INVENTORY_FAILED,
            topics::INVENTORY_RELEASED,
            topics::PAYMENTS_COMPLETED,
            topics::PAYMENTS_FAILED,
            topics::PAYMENTS_REFUNDED,
            topics::ORDERS_STARTED,
            topics::ORDERS_PREPARED,
            topics::TICKETS_FAILED,
            topics::TICKETS_WITHDRAWN,
            topics::COMMANDS_SAGA_CANCEL,
        ]
        .map(String::from)
        .to_vec()
    }

    fn on_event(&mut self, tx: &mut Tx, topic: &str, env: &RawEnvelope) -> Result<(), Rejection> {
        let cause = env.id;
        match topic {
            topics::ORDERS_CREATED => self.created(tx, env.decode::<OrderCreated>()?, cause),
            topics::INVENTORY_RESERVED => {
                self.reserved(tx, env.decode::<InventoryReserved>()?.order_id, Ok(()))
            }
            topics::INVENTORY_FAILED => {
                let e = env.decode::<InventoryFailed>()?;
                self.reserved(tx, e.order_id, Err(e.reason))
            }
            topics::PAYMENTS_COMPLETED => {
                let e = env.decode::<PaymentCompleted>()?;
                self.charged(tx, e.order_id, Ok(e.transaction_id))
            }
            topics::PAYMENTS_FAILED => {
                let e = env.decode::<PaymentFailed>()?;
                self.charged(
                    tx,
                    e.order_id,
                    Err(milo_contracts::payments::failure_reason(&e.reason)),
                )
            }
            topics::ORDERS_STARTED => self.started(tx, env.decode::<OrderStarted>()?.order_id),
            topics::ORDERS_PREPARED => self.prepared(tx, env),
            topics::TICKETS_FAILED => self.bar_failed(tx, env.decode::<TicketFailed>()?),
            topics::TICKETS_WITHDRAWN => self.withdrawn(tx, env.decode::<TicketWithdrawn>()?),
            topics::COMMANDS_SAGA_CANCEL => self.cancel(tx, env.decode::<CancelOrder>()?),
            topics::PAYMENTS_REFUNDED => {
                let e = env.decode::<PaymentRefunded>()?;
                self.undone(tx, e.order_id, undo::Undone::Refund(e.amount_cents))
            }
            topics::INVENTORY_RELEASED => {
                let e = env.decode::<InventoryReleased>()?;
                self.undone(tx, e.order_id, undo::Undone::Release(e.ingredients))
            }
            _ => Err(env.unexpected().into()),
        }
    }

    fn on_start(&mut self, _store: &Store, commands: &Commands<Command>) -> Result<(), Rejection> {
        self.alarm
            .start(commands.clone(), self.retry.tick_ms, || Command::Tick);
        Ok(())
    }

    fn on_command(&mut self, tx: &mut Tx, cmd: Command) -> Result<(), Rejection> {
        match cmd {
            Command::Tick => self.tick(tx),
        }
    }
}
