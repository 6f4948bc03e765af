//! The payment handlers, shared by both saga modes: only the topics that trigger them differ.
//!
//! | trigger (choreography / orchestration)          | handler        |
//! |-------------------------------------------------|----------------|
//! | `orders/created` / `commands/payment/charge`    | charge         |
//! | `orders/failed` / `commands/payment/refund`     | compensate     |

use std::collections::HashSet;
use std::sync::Arc;

use milo_bus::{Commands, Rejection, Service, Store, Tx};
use milo_contracts::events::{OrderCreated, OrderFailed};
use milo_contracts::payments::{BreakerState, PaymentMethod, WhenOffline};
use milo_contracts::saga::{ChargePayment, RefundPayment};
use milo_contracts::{topics, RawEnvelope, SagaMode};
use tracing::{error, info};
use uuid::Uuid;

use crate::gateway::{ChargeResult, Gateway};
use crate::guard::Guard;
use crate::txn::{announce, compensated, txn_key, Command, Transaction, TxnState};
use crate::{Config, OfflineConfig};

/// The topics the payment service takes in `mode`: (charge, compensate).
fn triggers(mode: SagaMode) -> [&'static str; 2] {
    match mode {
        SagaMode::Choreography => [topics::ORDERS_CREATED, topics::ORDERS_FAILED],
        SagaMode::Orchestration => [
            topics::COMMANDS_PAYMENT_CHARGE,
            topics::COMMANDS_PAYMENT_REFUND,
        ],
    }
}

/// The payment service.
pub struct PaymentService<G> {
    pub(crate) guard: Guard<G>,
    mode: SagaMode,
    pub(crate) when_offline: WhenOffline,
    /// The limits of the offline queue.
    pub(crate) offline: OfflineConfig,
    /// The breaker's state as last published.
    pub(crate) published: BreakerState,
    /// Why it last opened, as last published.
    pub(crate) reason: Option<String>,
    /// Offline authorizations whose capture is being asked by this run (in memory: after a
    /// restart every queued one is asked again).
    pub(crate) capturing: HashSet<Uuid>,
    pub(crate) commands: Option<Commands<Command>>,
}

impl<G: Gateway> PaymentService<G> {
    /// A payment service over `gateway` (behind the breaker `config` sets), triggered as saga
    /// `mode` says.
    pub fn new(gateway: Arc<G>, mode: SagaMode, config: &Config) -> Self {
        PaymentService {
            guard: Guard::new(gateway, config.breaker.clone()),
            mode,
            when_offline: config.when_offline,
            offline: config.offline.clone(),
            published: BreakerState::Closed,
            reason: None,
            capturing: HashSet::new(),
            commands: None,
        }
    }

    /// Charges an order once (`orders/created`, `commands/payment/charge`). A repeat is
    /// answered with the recorded outcome.
    /// A cash order is recorded as paid at once: the processor is never asked. A card order
    /// while the breaker is not closed is authorized offline in queue mode.
    fn charge(
        &mut self,
        tx: &mut Tx,
        order_id: Uuid,
        amount_cents: u64,
        (method, customer): (PaymentMethod, Option<String>),
        cause: Uuid,
    ) -> Result<(), Rejection> {
        if let Some(mut t) = tx.get::<Transaction>(&txn_key(order_id))? {
            announce(tx, &mut t)?;
            tx.put(&txn_key(order_id), &t);
            return Ok(());
        }
        let mut t = Transaction {
            order_id,
            amount_cents,
            state: TxnState::Charging,
            transaction_id: None,
            reason: None,
            order_failed: false,
            cause,
            method,
            reversing: false,
            announced: None,
            compensated: None,
            customer,
            declined_at: None,
        };
        let queue = self.when_offline == WhenOffline::Queue;
        if method == PaymentMethod::Cash {
            info!(order_id = %order_id, amount_cents, "Paid in cash.");
            t.state = TxnState::Charged;
            t.transaction_id = Some(PaymentMethod::Cash.as_str().to_owned());
            announce(tx, &mut t)?;
        } else if queue && self.guard.state() != BreakerState::Closed {
            self.authorize_offline(tx, &mut t)?;
        } else {
            tx.after_commit(self.ask_charge(order_id, amount_cents));
        }
        tx.put(&txn_key(order_id), &t);
        Ok(())
    }

    /// The order failed (`orders/failed`, `commands/payment/refund`): refund what was charged,
    /// void a charge in flight, and say so; say so too when nothing was taken (the flow owner
    /// asks until it hears). A failed order never seen is voided, so a late charge request
    /// cannot charge it.
    fn compensate(&mut self, tx: &mut Tx, order_id: Uuid, cause: Uuid) -> Result<(), Rejection> {
        let mut t = tx
            .get::<Transaction>(&txn_key(order_id))?
            .unwrap_or(Transaction {
                order_id,
                amount_cents: 0,
                state: TxnState::Voided,
                transaction_id: None,
                reason: None,
                order_failed: true,
                cause,
                method: PaymentMethod::Card,
                reversing: false,
                announced: None,
                compensated: None,
                customer: None,
                declined_at: None,
            });
        t.order_failed = true;
        match t.state {
            // Cash goes back over the counter: nothing to ask the processor.
            TxnState::Charged if t.method == PaymentMethod::Cash => {
                info!(order_id = %order_id, amount_cents = t.amount_cents, "Cash to give back.");
                t.state = TxnState::Refunded;
                let amount = t.amount_cents;
                compensated(tx, &mut t, amount)?
            }
            TxnState::Charged => {
                t.state = TxnState::Refunding;
                tx.after_commit(self.ask_refund(&t));
            }
            // Never wait for the charge: a gateway may never answer it.
            TxnState::Charging => {
                info!(order_id = %order_id, "Voiding the charge in flight.");
                t.state = TxnState::Voiding;
                tx.after_commit(self.ask_void(order_id, |order_id| Command::Voided { order_id }));
            }
            TxnState::Offline | TxnState::Capturing => self.compensate_offline(tx, &mut t)?,
            TxnState::Declined | TxnState::Voided | TxnState::DeclinedOffline => {
                compensated(tx, &mut t, 0)?
            }
            TxnState::Refunded => {
                let amount = t.amount_cents;
                compensated(tx, &mut t, amount)?
            }
            // The answer comes when the gateway confirms.
            TxnState::Refunding | TxnState::Voiding => {}
        }
        tx.put(&txn_key(order_id), &t);
        Ok(())
    }

    fn charged(&self, tx: &mut Tx, order_id: Uuid, result: ChargeResult) -> Result<(), Rejection> {
        let Some(mut t) = tx.get::<Transaction>(&txn_key(order_id))? else {
            return Ok(());
        };
        // Voiding or voided: the gateway will not take this charge, whatever it says late.
        if t.state != TxnState::Charging {
            return Ok(());
        }
        match result {
            ChargeResult::Approved { transaction_id } => {
                info!(order_id = %order_id, amount_cents = t.amount_cents, "Payment completed.");
                t.state = TxnState::Charged;
                t.transaction_id = Some(transaction_id);
            }
            ChargeResult::Declined { reason } => {
                info!(order_id = %order_id, %reason, "Payment declined.");
                t.state = TxnState::Declined;
                t.reason = Some(reason);
            }
        }
        announce(tx, &mut t)?;
        // Records written before voids existed may have failed while charging.
        if t.state == TxnState::Charged && t.order_failed {
            t.state = TxnState::Refunding;
            tx.after_commit(self.ask_refund(&t));
        } else if t.state == TxnState::Declined && t.order_failed {
            compensated(tx, &mut t, 0)?;
        }
        tx.put(&txn_key(order_id), &t);
        Ok(())
    }

    fn refunded(&self, tx: &mut Tx, order_id: Uuid) -> Result<(), Rejection> {
        let Some(mut t) = tx.get::<Transaction>(&txn_key(order_id))? else {
            return Ok(());
        };
        if t.state == TxnState::Refunding {
            info!(order_id = %order_id, amount_cents = t.amount_cents, "Payment refunded.");
            t.state = TxnState::Refunded;
            let amount = t.amount_cents;
            compensated(tx, &mut t, amount)?;
            tx.put(&txn_key(order_id), &t);
        }
        Ok(())
    }

    fn voided(&self, tx: &mut Tx, order_id: Uuid) -> Result<(), Rejection> {
        let Some(mut t) = tx.get::<Transaction>(&txn_key(order_id))? else {
            return Ok(());
        };
        if t.state == TxnState::Voiding {
            info!(order_id = %order_id, "Charge voided.");
            t.state = TxnState::Voided;
            compensated(tx, &mut t, 0)?;
            tx.put(&txn_key(order_id), &t);
        }
        Ok(())
    }
}

impl<G: Gateway> PaymentService<G> {
    /// Asks the processor again for what a crash interrupted on `order_id`, as it stands now
    /// (the loop may have moved it on since the start). Asking twice is safe: the order id
    /// is the processor's idempotency key, and an answer for a state left behind is ignored.
    fn resume(&self, tx: &mut Tx, order_id: Uuid) -> Result<(), Rejection> {
        let Some(t) = tx.get::<Transaction>(&txn_key(order_id))? else {
            return Ok(());
        };
        match t.state {
            TxnState::Charging => self.ask_charge(t.order_id, t.amount_cents)(),
            TxnState::Refunding => self.ask_refund(&t)(),
            TxnState::Voiding => {
                self.ask_void(t.order_id, |order_id| Command::Voided { order_id })()
            }
            _ if t.reversing => {
                self.ask_void(t.order_id, |order_id| Command::Reversed { order_id })()
            }
            _ => {}
        }
        Ok(())
    }
}

/// Transactions read per page when looking for unfinished ones at start.
const RESUME_PAGE: usize = 1024;

/// Reads every transaction of `store` (a page at a time, on the blocking pool) and sends the
/// unfinished ones to the service loop as [`Command::Resume`].
async fn resume_unfinished(store: Store, commands: Commands<Command>) {
    let mut after: Option<String> = None;
    loop {
        let (s, from) = (store.clone(), after.clone());
        let page = tokio::task::spawn_blocking(move || {
            s.scan::<Transaction>("txn/", from.as_deref(), RESUME_PAGE)
        })
        .await;
        let read = page.map_err(|e| e.to_string());
        let page = match read.and_then(|r| r.map_err(|e| e.to_string())) {
            Ok(page) => page,
            Err(e) => {
                error!(error = %e, "Transactions to resume not read; they are asked again at the next start.");
                return;
            }
        };
        let full = page.len() == RESUME_PAGE;
        after = page.last().map(|(key, _)| key.clone());
        for (_, t) in page {
            if t.unfinished()
                && !commands
                    .send(Command::Resume {
                        order_id: t.order_id,
                    })
                    .await
            {
                return;
            }
        }
        if !full {
            return;
        }
    }
}

impl<G: Gateway> Service for PaymentService<G> {
    type Command = Command;

    fn name(&self) -> String {
        "payment".into()
    }

    fn subscriptions(&self) -> Vec<String> {
        triggers(self.mode).map(String::from).to_vec()
    }

    fn on_event(&mut self, tx: &mut Tx, topic: &str, env: &RawEnvelope) -> Result<(), Rejection> {
        match (self.mode, topic) {
            (SagaMode::Choreography, topics::ORDERS_CREATED) => {
                let e: OrderCreated = env.decode()?;
                let how = (e.payment, e.customer);
                self.charge(tx, e.order_id, e.total_cents, how, env.id)
            }
            (SagaMode::Choreography, topics::ORDERS_FAILED) => {
                self.compensate(tx, env.decode::<OrderFailed>()?.order_id, env.id)
            }
            (SagaMode::Orchestration, topics::COMMANDS_PAYMENT_CHARGE) => {
                let c: ChargePayment = env.decode()?;
                // The coordinator's command carries no customer name.
                self.charge(tx, c.order_id, c.amount_cents, (c.payment, None), env.id)
            }
            (SagaMode::Orchestration, topics::COMMANDS_PAYMENT_REFUND) => {
                self.compensate(tx, env.decode::<RefundPayment>()?.order_id, env.id)
            }
            (mode, _) => Err(Rejection::Invalid(format!(
                "payment does not take {topic} in {} mode",
                mode.as_str()
            ))),
        }
    }

    fn on_command(&mut self, tx: &mut Tx, cmd: Command) -> Result<(), Rejection> {
        match cmd {
            Command::Charged { order_id, result } => self.charged(tx, order_id, result),
            Command::Refunded { order_id } => self.refunded(tx, order_id),
            Command::Voided { order_id } => self.voided(tx, order_id),
            Command::Unavailable { order_id, asked } => self.unavailable(tx, order_id, asked),
            Command::Reversed { order_id } => self.reversed(tx, order_id),
            Command::Breaker { state, reason } => self.breaker_changed(tx, state, reason),
            Command::Announce => {
                let state = self.guard.state();
                self.announce_gateway(tx, state, None)
            }
            Command::Capture => self.capture_queued(tx),
            Command::Resume { order_id } => self.resume(tx, order_id),
            Command::Captured { order_id, result } => self.captured(tx, order_id, result),
        }
    }

    fn on_start(&mut self, store: &Store, commands: &Commands<Command>) -> Result<(), Rejection> {
        self.commands = Some(commands.clone());
        self.guard.connect(commands.clone());
        tokio::spawn(self.guard.clone().probe_forever());
        let announce = commands.clone();
        tokio::spawn(async move {
            // The breaker starts closed: what was authorized offline is captured now.
            announce.send(Command::Announce).await && announce.send(Command::Capture).await
        });
        // Resume what a crash interrupted, with the same idempotency keys: every transaction
        // is read, in pages, off the service loop, and those unfinished come back to it.
        tokio::spawn(resume_unfinished(store.clone(), commands.clone()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_takes_its_own_triggers() {
        assert_eq!(
            triggers(SagaMode::Choreography),
            [topics::ORDERS_CREATED, topics::ORDERS_FAILED]
        );
        assert_eq!(
            triggers(SagaMode::Orchestration),
            [
                topics::COMMANDS_PAYMENT_CHARGE,
                topics::COMMANDS_PAYMENT_REFUND
            ]
        );
    }
}
