//! The recorded transaction of one order, its states, the gateway's answers fed back into the
//! service loop, and the participant's answers (recorded, so a repeat gets the same event).

use milo_bus::{Published, Rejection, Tx};
use milo_contracts::events::{PaymentCompleted, PaymentFailed, PaymentRefunded};
use milo_contracts::payments::{BreakerState, PaymentMethod};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::gateway::ChargeResult;

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
    /// The order failed while its charge was in flight: void asked; the charge's answer, if
    /// it ever comes, is ignored.
    Voiding,
    /// Never charged and never will be: the order failed before any charge, or the charge in
    /// flight was voided.
    Voided,
    /// Authorized offline (`when_offline = "queue"`): announced as paid, counted in the
    /// exposure, not yet asked of the processor.
    Offline,
    /// Authorized offline; its capture is asked of the processor with the order id as key
    /// (asked again until answered, again after a restart).
    Capturing,
    /// Authorized offline, then declined by the processor when captured: the drink was made,
    /// the money was not taken. Listed for the manager.
    #[serde(rename = "declined_offline")]
    DeclinedOffline,
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
    /// The event that asked for the charge (`orders/created` or `commands/payment/charge`).
    pub cause: Uuid,
    /// How the order is paid (card for records from before cash existed).
    #[serde(default)]
    pub method: PaymentMethod,
    /// The processor was asked for a charge it did not answer: a void with the same key is
    /// still due (asked until it answers, again after a restart).
    #[serde(default)]
    pub reversing: bool,
    /// The outcome as announced, to answer a repeat with the same event.
    #[serde(default)]
    pub announced: Option<Published>,
    /// The answer to compensation (what was refunded, maybe nothing), as announced.
    #[serde(default)]
    pub compensated: Option<Published>,
    /// The customer's name, as the order gave it (kept for the declined-offline list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// When the processor declined an offline authorization (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declined_at: Option<String>,
}

impl Transaction {
    /// A crash may have interrupted a call to the processor for it: a charge, refund or void
    /// not answered yet, or a void still due after an unanswered charge.
    pub fn unfinished(&self) -> bool {
        matches!(
            self.state,
            TxnState::Charging | TxnState::Refunding | TxnState::Voiding
        ) || self.reversing
    }
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
    /// The gateway confirmed a void: the charge in flight will never be taken.
    Voided {
        /// Order.
        order_id: Uuid,
    },
    /// The charge was not taken: the breaker was open, or opened, or the processor did not
    /// answer in time (`asked`: it may have heard the request, so a void is due).
    Unavailable {
        /// Order.
        order_id: Uuid,
        /// The processor was asked.
        asked: bool,
    },
    /// The void after an unanswered charge was confirmed.
    Reversed {
        /// Order.
        order_id: Uuid,
    },
    /// The breaker changed state: log it and publish it.
    Breaker {
        /// The new state.
        state: BreakerState,
        /// Why it opened, if it did.
        reason: Option<String>,
    },
    /// Publish the breaker's state as it is (at start).
    Announce,
    /// Capture every offline authorization not being captured yet (at start).
    Capture,
    /// Ask the processor again for what a crash interrupted on this order (at start, read in
    /// the background: a store of months of orders opens without waiting for it).
    Resume {
        /// Order.
        order_id: Uuid,
    },
    /// The processor answered the capture of an offline authorization.
    Captured {
        /// Order.
        order_id: Uuid,
        /// Answer.
        result: ChargeResult,
    },
}

/// Announces what a failed order got back (`payments/refunded`, 0 when nothing was charged);
/// a repeat gets the very same event. The caller writes `t`.
pub(crate) fn compensated(
    tx: &mut Tx,
    t: &mut Transaction,
    amount_cents: u64,
) -> Result<(), Rejection> {
    let txid = t.transaction_id.clone().unwrap_or_default();
    let (id, cause, payment) = (t.order_id, Some(t.cause), t.method);
    tx.answer(&mut t.compensated, id, cause, || PaymentRefunded {
        order_id: id,
        amount_cents,
        transaction_id: txid,
        payment,
    })?;
    Ok(())
}

/// Publishes the outcome of a charge (nothing while it is pending or once it was voided); a
/// repeat gets the very same event. The caller writes `t`.
pub(crate) fn announce(tx: &mut Tx, t: &mut Transaction) -> Result<(), Rejection> {
    let (id, cause, amount_cents) = (t.order_id, Some(t.cause), t.amount_cents);
    match t.state {
        TxnState::Charging | TxnState::Voiding | TxnState::Voided => {}
        TxnState::Declined => {
            let reason = t.reason.clone().unwrap_or_default();
            tx.answer(&mut t.announced, id, cause, || PaymentFailed {
                order_id: id,
                amount_cents,
                reason,
            })?
        }
        TxnState::Charged
        | TxnState::Refunding
        | TxnState::Refunded
        | TxnState::Offline
        | TxnState::Capturing
        | TxnState::DeclinedOffline => {
            let (transaction_id, payment) =
                (t.transaction_id.clone().unwrap_or_default(), t.method);
            tx.answer(&mut t.announced, id, cause, || PaymentCompleted {
                order_id: id,
                amount_cents,
                transaction_id,
                payment,
            })?
        }
    }
    Ok(())
}
