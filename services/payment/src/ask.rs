//! The payment service's calls to the processor, made after the transaction that asks for
//! them is durable (`Tx::after_commit`), outside the service loop; each answer comes back to
//! the loop as a [`Command`].

use uuid::Uuid;

use crate::gateway::Gateway;
use crate::guard::Guarded;
use crate::service::PaymentService;
use crate::txn::{Command, Transaction};

impl<G: Gateway> PaymentService<G> {
    /// Asks for a charge through the breaker; its answer (or its unavailability) comes back.
    pub(crate) fn ask_charge(&self, order_id: Uuid, amount: u64) -> impl FnOnce() + Send + 'static {
        let (guard, commands) = (self.guard.clone(), self.commands.clone());
        move || {
            tokio::spawn(async move {
                let cmd = match guard.charge(order_id, amount).await {
                    Guarded::Answered(result) => Command::Charged { order_id, result },
                    Guarded::Unavailable { asked } => Command::Unavailable { order_id, asked },
                };
                if let Some(c) = commands {
                    c.send(cmd).await;
                }
            });
        }
    }

    pub(crate) fn ask_refund(&self, t: &Transaction) -> impl FnOnce() + Send + 'static {
        let (guard, commands) = (self.guard.clone(), self.commands.clone());
        let (order_id, amount) = (t.order_id, t.amount_cents);
        let txid = t.transaction_id.clone().unwrap_or_default();
        move || {
            tokio::spawn(async move {
                let gateway = guard.gateway();
                guard
                    .patiently(|| gateway.refund(order_id, txid.clone(), amount))
                    .await;
                if let Some(c) = commands {
                    c.send(Command::Refunded { order_id }).await;
                }
            });
        }
    }

    /// Voids the charge with this key, asked until the processor answers; then `done`.
    pub(crate) fn ask_void(
        &self,
        order_id: Uuid,
        done: fn(Uuid) -> Command,
    ) -> impl FnOnce() + Send + 'static {
        let (guard, commands) = (self.guard.clone(), self.commands.clone());
        move || {
            tokio::spawn(async move {
                let gateway = guard.gateway();
                guard.patiently(|| gateway.void(order_id)).await;
                if let Some(c) = commands {
                    c.send(done(order_id)).await;
                }
            });
        }
    }
}

impl<G: Gateway> PaymentService<G> {
    /// Captures an offline authorization: charged with its key until the processor answers;
    /// the answer comes back (nothing if the service stops first: it asks again at start).
    pub(crate) fn ask_capture(
        &self,
        order_id: Uuid,
        amount: u64,
    ) -> impl FnOnce() + Send + 'static {
        let (guard, commands) = (self.guard.clone(), self.commands.clone());
        move || {
            tokio::spawn(async move {
                let Some(result) = guard.capture(order_id, amount).await else {
                    return;
                };
                if let Some(c) = commands {
                    c.send(Command::Captured { order_id, result }).await;
                }
            });
        }
    }
}
