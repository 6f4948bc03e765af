//! Transactions and the payment handlers.

use std::sync::Arc;

use milo_bus::{Commands, Published, Rejection, Service, Store, Tx};
use milo_contracts::events::{
    OrderCreated, OrderFailed, PaymentCompleted, PaymentFailed, PaymentRefunded,
};
use milo_contracts::{topics, RawEnvelope};
use serde::{Deserialize, Serialize};
use tracing::info;
use uuid::Uuid;

use crate::gateway::{ChargeResult, Gateway};

/// Where a transaction stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxnState {
    /// Asked the gateway; no answer yet.
    Charging,
    /// Charged.
    Charged,
    /// Declined.
    Declined,
    /// Charged, order failed: refund asked.
    Refunding,
    /// Refunded.
    Refunded,
    /// The order failed before any charge: never charge it.
    Voided,
}

/// One order's payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The order (also the gateway's idempotency key).
    pub order_id: Uuid,
    /// Amount in cents.
    pub amount_cents: u64,
    /// Where it stands.
    pub state: TxnState,
    /// Gateway transaction id once charged.
    pub transaction_id: Option<String>,
    /// Decline reason.
    pub reason: Option<String>,
    /// The order failed: refund if charged.
    pub order_failed: bool,
    /// The `orders/created` event that asked for the charge.
    pub cause: Uuid,
    /// The outcome as announced, to answer a repeat with the same event.
    #[serde(default)]
    pub announced: Option<Published>,
    /// The answer to `orders/failed` (what was refunded, maybe nothing), as announced.
    #[serde(default)]
    pub compensated: Option<Published>,
}

/// Key of a transaction.
pub fn txn_key(order_id: Uuid) -> String {
    format!("txn/{order_id}")
}

/// Gateway answers, fed back into the service loop.
#[derive(Debug)]
pub enum Command {
    /// The gateway answered a charge.
    Charged {
        /// Order.
        order_id: Uuid,
        /// Answer.
        result: ChargeResult,
    },
    /// The gateway finished a refund.
    Refunded {
        /// Order.
        order_id: Uuid,
    },
}

/// The payment service.
pub struct PaymentService<G> {
    gateway: Arc<G>,
    commands: Option<Commands<Command>>,
}

impl<G: Gateway> PaymentService<G> {
    /// A payment service over `gateway`.
    pub fn new(gateway: Arc<G>) -> Self {
        PaymentService {
            gateway,
            commands: None,
        }
    }

    fn ask_charge(&self, order_id: Uuid, amount: u64) -> impl FnOnce() + Send + 'static {
        let (gateway, commands) = (self.gateway.clone(), self.commands.clone());
        move || {
            tokio::spawn(async move {
                let result = gateway.charge(order_id, amount).await;
                if let Some(c) = commands {
                    c.send(Command::Charged { order_id, result }).await;
                }
            });
        }
    }

    fn ask_refund(&self, t: &Transaction) -> impl FnOnce() + Send + 'static {
        let (gateway, commands) = (self.gateway.clone(), self.commands.clone());
        let (order_id, amount) = (t.order_id, t.amount_cents);
        let txid = t.transaction_id.clone().unwrap_or_default();
        move || {
            tokio::spawn(async move {
                gateway.refund(order_id, txid, amount).await;
                if let Some(c) = commands {
                    c.send(Command::Refunded { order_id }).await;
                }
            });
        }
    }

    fn created(&self, tx: &mut Tx, e: OrderCreated, cause: Uuid) -> Result<(), Rejection> {
        if let Some(mut t) = tx.get::<Transaction>(&txn_key(e.order_id))? {
            // A repeat asks again: answer with the recorded outcome.
            announce(tx, &mut t)?;
            tx.put(&txn_key(e.order_id), &t);
            return Ok(());
        }
        let t = Transaction {
            order_id: e.order_id,
            amount_cents: e.total_cents,
            state: TxnState::Charging,
            transaction_id: None,
            reason: None,
            order_failed: false,
            cause,
            announced: None,
            compensated: None,
        };
        tx.put(&txn_key(e.order_id), &t);
        tx.after_commit(self.ask_charge(e.order_id, e.total_cents));
        Ok(())
    }

    /// The order failed: refund what was charged and say so; say so too when nothing was
    /// (the order service asks until it hears). A failed order never seen is voided, so a late
    /// `orders/created` cannot charge it.
    fn order_failed(&self, tx: &mut Tx, order_id: Uuid, cause: Uuid) -> Result<(), Rejection> {
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
                announced: None,
                compensated: None,
            });
        t.order_failed = true;
        match t.state {
            TxnState::Charged => {
                t.state = TxnState::Refunding;
                tx.after_commit(self.ask_refund(&t));
            }
            TxnState::Declined | TxnState::Voided => compensated(tx, &mut t, 0)?,
            TxnState::Refunded => {
                let amount = t.amount_cents;
                compensated(tx, &mut t, amount)?
            }
            // The answer comes when the gateway does.
            TxnState::Charging | TxnState::Refunding => {}
        }
        tx.put(&txn_key(order_id), &t);
        Ok(())
    }

    fn charged(&self, tx: &mut Tx, order_id: Uuid, result: ChargeResult) -> Result<(), Rejection> {
        let Some(mut t) = tx.get::<Transaction>(&txn_key(order_id))? else {
            return Ok(());
        };
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
}

/// Announces what a failed order got back (`payments/refunded`, 0 when nothing was charged);
/// a repeat gets the very same event. The caller writes `t`.
fn compensated(tx: &mut Tx, t: &mut Transaction, amount_cents: u64) -> Result<(), Rejection> {
    let txid = t.transaction_id.clone().unwrap_or_default();
    let (id, cause) = (t.order_id, Some(t.cause));
    tx.answer(&mut t.compensated, id, cause, || PaymentRefunded {
        order_id: id,
        amount_cents,
        transaction_id: txid,
    })?;
    Ok(())
}

/// Publishes the outcome of a charge (nothing while it is still pending); a repeat gets the
/// very same event. The caller writes `t`.
fn announce(tx: &mut Tx, t: &mut Transaction) -> Result<(), Rejection> {
    let (id, cause, amount_cents) = (t.order_id, Some(t.cause), t.amount_cents);
    match t.state {
        TxnState::Charging | TxnState::Voided => {}
        TxnState::Declined => {
            let reason = t.reason.clone().unwrap_or_default();
            tx.answer(&mut t.announced, id, cause, || PaymentFailed {
                order_id: id,
                amount_cents,
                reason,
            })?
        }
        TxnState::Charged | TxnState::Refunding | TxnState::Refunded => {
            let transaction_id = t.transaction_id.clone().unwrap_or_default();
            tx.answer(&mut t.announced, id, cause, || PaymentCompleted {
                order_id: id,
                amount_cents,
                transaction_id,
            })?
        }
    }
    Ok(())
}

impl<G: Gateway> Service for PaymentService<G> {
    type Command = Command;

    fn name(&self) -> String {
        "payment".into()
    }

    fn subscriptions(&self) -> Vec<String> {
        vec![topics::ORDERS_CREATED.into(), topics::ORDERS_FAILED.into()]
    }

    fn on_event(&mut self, tx: &mut Tx, topic: &str, env: &RawEnvelope) -> Result<(), Rejection> {
        match topic {
            topics::ORDERS_CREATED => self.created(tx, env.decode()?, env.id),
            topics::ORDERS_FAILED => {
                self.order_failed(tx, env.decode::<OrderFailed>()?.order_id, env.id)
            }
            _ => Err(env.unexpected().into()),
        }
    }

    fn on_command(&mut self, tx: &mut Tx, cmd: Command) -> Result<(), Rejection> {
        match cmd {
            Command::Charged { order_id, result } => self.charged(tx, order_id, result),
            Command::Refunded { order_id } => self.refunded(tx, order_id),
        }
    }

    fn on_start(&mut self, store: &Store, commands: &Commands<Command>) -> Result<(), Rejection> {
        self.commands = Some(commands.clone());
        // Resume what a crash interrupted, with the same idempotency keys.
        for (_, t) in store.scan::<Transaction>("txn/", None, usize::MAX)? {
            match t.state {
                TxnState::Charging => self.ask_charge(t.order_id, t.amount_cents)(),
                TxnState::Refunding => self.ask_refund(&t)(),
                _ => {}
            }
        }
        Ok(())
    }
}
