//! The offline authorization queue (`payment.when_offline = "queue"`): while the breaker is
//! not closed, a card charge, or one given up in flight, is authorized offline instead of
//! failed. The drink is made; the money is captured later, exactly once.
//!
//! - **Authorize**: refused (`payments/failed`) over `per_order_limit_cents`, or when the
//!   total not yet captured (the exposure) would pass `exposure_limit_cents`; otherwise the
//!   transaction becomes [`TxnState::Offline`], joins the queue (`offline/queue/<order>`) and
//!   the exposure (`offline/exposure`) in the same store transaction, and `payments/completed`
//!   says `transaction_id = "offline-<order>"`.
//! - **Capture**: when the breaker closes, and at start, each queued authorization is marked
//!   [`TxnState::Capturing`] (durably) and charged through the breaker with the order id as
//!   idempotency key until the processor answers. A processor remembers its keys (the
//!   simulation's [`crate::Ledger`]), so a capture asked again after a crash charges once.
//!   Approved: charged with the processor's id. Declined: [`TxnState::DeclinedOffline`], kept
//!   for the manager (`offline/declined/<order>`, [`DeclinedOffline`]) with a WARN, and told
//!   as a fact (`payments/declined_offline`, in the same transaction) so analytics takes the
//!   money back out of its books; the order stands (the drink was made).
//! - **Compensation** of an authorization not captured: nothing was taken; a void with the key
//!   is asked until the processor answers (the transaction's `reversing`) and 0 is refunded.
//!
//! Each change of the queue updates the exposure and publishes `payments/gateway` again with
//! the count and total queued.

use milo_bus::{Rejection, Store, StoreError, Tx};
use milo_contracts::events::PaymentDeclinedOffline;
use milo_contracts::payments::{
    BreakerState, OfflineLimits, OFFLINE_OVER_EXPOSURE, OFFLINE_OVER_ORDER_LIMIT,
};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tracing::{info, warn};
use uuid::Uuid;

use crate::gateway::{ChargeResult, Gateway};
use crate::service::PaymentService;
use crate::txn::{announce, compensated, txn_key, Command, Transaction, TxnState};

/// The limits of the offline queue (`[payment.offline]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OfflineConfig {
    /// The largest card order authorized offline, in cents.
    pub per_order_limit_cents: u64,
    /// The most authorized offline and not yet captured, in cents.
    pub exposure_limit_cents: u64,
}

impl Default for OfflineConfig {
    fn default() -> Self {
        OfflineConfig {
            per_order_limit_cents: 2_500,
            exposure_limit_cents: 20_000,
        }
    }
}

impl OfflineConfig {
    /// The first setting out of bounds: its key under `payment.offline` and why.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if self.per_order_limit_cents == 0 {
            return Err(("per_order_limit_cents", "must be at least 1"));
        }
        if self.exposure_limit_cents == 0 {
            return Err(("exposure_limit_cents", "must be at least 1"));
        }
        if self.per_order_limit_cents > self.exposure_limit_cents {
            return Err((
                "per_order_limit_cents",
                "must not be above payment.offline.exposure_limit_cents",
            ));
        }
        Ok(())
    }

    /// As the retained status says them.
    pub fn limits(&self) -> OfflineLimits {
        OfflineLimits {
            per_order_limit_cents: self.per_order_limit_cents,
            exposure_limit_cents: self.exposure_limit_cents,
        }
    }
}

/// What is authorized offline and not captured yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    /// Authorizations queued.
    pub count: u64,
    /// Their total, in cents.
    pub cents: u64,
}

/// A charge authorized offline that the processor declined when it was captured, kept for
/// the manager as it was published (`payments/declined_offline`).
pub type DeclinedOffline = PaymentDeclinedOffline;

/// Key of the exposure.
pub const EXPOSURE: &str = "offline/exposure";
const QUEUE: &str = "offline/queue/";
const DECLINED: &str = "offline/declined/";

/// The exposure as stored.
pub fn exposure(store: &Store) -> Result<Exposure, StoreError> {
    Ok(store.get(EXPOSURE)?.unwrap_or_default())
}

/// The declined-offline charges, oldest order first, at most `limit`.
pub fn declined(store: &Store, limit: usize) -> Result<Vec<DeclinedOffline>, StoreError> {
    let found = store.scan::<DeclinedOffline>(DECLINED, None, limit)?;
    Ok(found.into_iter().map(|(_, d)| d).collect())
}

fn offline_id(order_id: Uuid) -> String {
    format!("offline-{}", order_id.simple())
}

impl<G: Gateway> PaymentService<G> {
    /// Authorizes `t` offline, or refuses it over a limit; the caller writes `t`.
    pub(crate) fn authorize_offline(
        &mut self,
        tx: &mut Tx,
        t: &mut Transaction,
    ) -> Result<(), Rejection> {
        let (order_id, amount) = (t.order_id, t.amount_cents);
        let now: Exposure = tx.get(EXPOSURE)?.unwrap_or_default();
        let limits = &self.offline;
        let refused = if amount > limits.per_order_limit_cents {
            Some(OFFLINE_OVER_ORDER_LIMIT)
        } else if now.cents + amount > limits.exposure_limit_cents {
            Some(OFFLINE_OVER_EXPOSURE)
        } else {
            None
        };
        if let Some(reason) = refused {
            info!(order_id = %order_id, amount_cents = amount, exposure_cents = now.cents, %reason, "Payment refused offline.");
            t.state = TxnState::Declined;
            t.reason = Some(reason.to_owned());
            announce(tx, t)?;
            if t.order_failed {
                compensated(tx, t, 0)?;
            }
            return Ok(());
        }
        info!(order_id = %order_id, amount_cents = amount, "Payment authorized offline.");
        t.state = TxnState::Offline;
        t.transaction_id = Some(offline_id(order_id));
        announce(tx, t)?;
        let exposure = self.queue(tx, t, true)?;
        if self.guard.state() == BreakerState::Closed {
            // Given up in flight by a timeout while the breaker stayed closed: capture now.
            self.start_capture(tx, t);
        }
        self.publish_status(tx, exposure)
    }

    /// Adds `t` to the queue and the exposure, or takes it off: the new exposure.
    fn queue(&self, tx: &mut Tx, t: &Transaction, add: bool) -> Result<Exposure, Rejection> {
        let mut e: Exposure = tx.get(EXPOSURE)?.unwrap_or_default();
        let key = format!("{QUEUE}{}", t.order_id);
        if add {
            e.count += 1;
            e.cents += t.amount_cents;
            tx.put(&key, &t.amount_cents);
        } else {
            e.count = e.count.saturating_sub(1);
            e.cents = e.cents.saturating_sub(t.amount_cents);
            tx.remove(&key);
        }
        tx.put(EXPOSURE, &e);
        Ok(e)
    }

    /// Marks `t` capturing and asks for its capture once this is durable.
    fn start_capture(&mut self, tx: &mut Tx, t: &mut Transaction) {
        t.state = TxnState::Capturing;
        self.capturing.insert(t.order_id);
        tx.after_commit(self.ask_capture(t.order_id, t.amount_cents));
    }

    /// Captures every queued authorization not being captured yet (the breaker closed, or
    /// the service started).
    pub(crate) fn capture_queued(&mut self, tx: &mut Tx) -> Result<(), Rejection> {
        let queued = tx.scan::<u64>(QUEUE, usize::MAX)?;
        let mut started = 0;
        for (id, _) in queued {
            let Ok(order_id) = Uuid::parse_str(&id) else {
                continue;
            };
            if self.capturing.contains(&order_id) {
                continue;
            }
            let Some(mut t) = tx.get::<Transaction>(&txn_key(order_id))? else {
                continue;
            };
            if matches!(t.state, TxnState::Offline | TxnState::Capturing) {
                self.start_capture(tx, &mut t);
                tx.put(&txn_key(order_id), &t);
                started += 1;
            }
        }
        if started > 0 {
            info!(
                authorizations = started,
                "Capturing the charges authorized offline."
            );
        }
        Ok(())
    }

    /// The processor answered a capture.
    pub(crate) fn captured(
        &mut self,
        tx: &mut Tx,
        order_id: Uuid,
        result: ChargeResult,
    ) -> Result<(), Rejection> {
        self.capturing.remove(&order_id);
        let Some(mut t) = tx.get::<Transaction>(&txn_key(order_id))? else {
            return Ok(());
        };
        // Voiding or voided (the order failed meanwhile): the void settles it.
        if !matches!(t.state, TxnState::Offline | TxnState::Capturing) {
            return Ok(());
        }
        match result {
            ChargeResult::Approved { transaction_id } => {
                info!(order_id = %order_id, amount_cents = t.amount_cents, %transaction_id, "Offline authorization captured.");
                t.state = TxnState::Charged;
                t.transaction_id = Some(transaction_id);
            }
            ChargeResult::Declined { reason } => {
                let at = OffsetDateTime::now_utc()
                    .format(&Rfc3339)
                    .unwrap_or_default();
                warn!(order_id = %order_id, amount_cents = t.amount_cents, customer = t.customer.as_deref().unwrap_or_default(), %reason, "Offline authorization declined by the processor: the drink was made, the money was not taken.");
                t.state = TxnState::DeclinedOffline;
                t.reason = Some(reason.clone());
                t.declined_at = Some(at.clone());
                let record = DeclinedOffline {
                    order_id,
                    amount_cents: t.amount_cents,
                    customer: t.customer.clone(),
                    reason,
                    at,
                };
                tx.put(&format!("{DECLINED}{order_id}"), &record);
                // The fact, in the same transaction as the record: analytics takes the money
                // announced on `payments/completed` back out of the books.
                let event = tx.event(order_id, Some(t.cause), record);
                tx.publish(&event)?;
            }
        }
        let exposure = self.queue(tx, &t, false)?;
        tx.put(&txn_key(order_id), &t);
        self.publish_status(tx, exposure)
    }

    /// The order failed while its charge was authorized offline: nothing was taken. The
    /// caller writes `t`.
    pub(crate) fn compensate_offline(
        &mut self,
        tx: &mut Tx,
        t: &mut Transaction,
    ) -> Result<(), Rejection> {
        let order_id = t.order_id;
        let exposure = self.queue(tx, t, false)?;
        if t.state == TxnState::Capturing {
            // The capture is in flight: its void answers the order.
            info!(order_id = %order_id, "Voiding the capture in flight.");
            t.state = TxnState::Voiding;
            tx.after_commit(self.ask_void(order_id, |order_id| Command::Voided { order_id }));
        } else {
            info!(order_id = %order_id, "Offline authorization voided: nothing was taken.");
            t.state = TxnState::Voided;
            t.reversing = true;
            compensated(tx, t, 0)?;
            tx.after_commit(self.ask_void(order_id, |order_id| Command::Reversed { order_id }));
        }
        self.publish_status(tx, exposure)
    }
}
