//! What the breaker's changes do in the service loop: a charge it gave up becomes a decline
//! with [`CARDS_UNAVAILABLE`] (and a void with the same key when the processor may have heard
//! it), and each change of state is logged once and published, retained, on
//! `payments/gateway` ([`GatewayStatus`]).
//!
//! Logs: WARN when card payments go offline (closed → open), INFO when they are back (→
//! closed); the cool-down's probes (open ↔ half-open) at DEBUG, as they repeat all through an
//! outage.

use milo_bus::{Rejection, Tx};
use milo_contracts::payments::{BreakerState, GatewayStatus, WhenOffline, CARDS_UNAVAILABLE};
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::gateway::Gateway;
use crate::offline::{Exposure, EXPOSURE};
use crate::service::PaymentService;
use crate::txn::{announce, compensated, txn_key, Command, Transaction, TxnState};

impl<G: Gateway> PaymentService<G> {
    /// The charge was not taken: declined with the reason, voided with its key if the
    /// processor was asked; in queue mode authorized offline instead (within the limits; no
    /// void then: its capture asks with the same key, so the processor charges once).
    pub(crate) fn unavailable(
        &mut self,
        tx: &mut Tx,
        order_id: Uuid,
        asked: bool,
    ) -> Result<(), Rejection> {
        let Some(mut t) = tx.get::<Transaction>(&txn_key(order_id))? else {
            return Ok(());
        };
        // Voiding or voided already (the order failed first): nothing more to say.
        if t.state != TxnState::Charging {
            return Ok(());
        }
        if self.when_offline == WhenOffline::Queue {
            self.authorize_offline(tx, &mut t)?;
            if t.state == TxnState::Declined && asked {
                t.reversing = true;
                let done = |order_id| Command::Reversed { order_id };
                tx.after_commit(self.ask_void(order_id, done));
            }
            tx.put(&txn_key(order_id), &t);
            return Ok(());
        }
        info!(order_id = %order_id, asked, "Payment failed: card payments unavailable.");
        t.state = TxnState::Declined;
        t.reason = Some(CARDS_UNAVAILABLE.to_owned());
        t.reversing = asked;
        announce(tx, &mut t)?;
        if t.order_failed {
            compensated(tx, &mut t, 0)?;
        }
        if asked {
            let done = |order_id| Command::Reversed { order_id };
            tx.after_commit(self.ask_void(order_id, done));
        }
        tx.put(&txn_key(order_id), &t);
        Ok(())
    }

    /// The void after an unanswered charge was confirmed.
    pub(crate) fn reversed(&self, tx: &mut Tx, order_id: Uuid) -> Result<(), Rejection> {
        if let Some(mut t) = tx.get::<Transaction>(&txn_key(order_id))? {
            if t.reversing {
                debug!(order_id = %order_id, "Unanswered charge voided.");
                t.reversing = false;
                tx.put(&txn_key(order_id), &t);
            }
        }
        Ok(())
    }

    /// The breaker went to `state`: logged once, published.
    pub(crate) fn breaker_changed(
        &mut self,
        tx: &mut Tx,
        state: BreakerState,
        reason: Option<String>,
    ) -> Result<(), Rejection> {
        let before = std::mem::replace(&mut self.published, state);
        match (before, state) {
            (BreakerState::Closed, BreakerState::Open) => {
                let why = reason.as_deref().unwrap_or_default();
                warn!(reason = %why, when_offline = ?self.when_offline, "Card payments offline: the circuit breaker opened.");
            }
            (_, BreakerState::Closed) => {
                info!("Card payments back: the circuit breaker closed.");
                self.capture_queued(tx)?;
            }
            (from, to) => {
                debug!(from = from.as_str(), to = to.as_str(), "Circuit breaker.")
            }
        }
        self.announce_gateway(tx, state, reason)
    }

    /// Publishes the breaker's `state`, retained (each change in turn: a probe may already
    /// have moved it on, and the next command says so), with the offline queue as stored.
    pub(crate) fn announce_gateway(
        &mut self,
        tx: &mut Tx,
        state: BreakerState,
        reason: Option<String>,
    ) -> Result<(), Rejection> {
        self.published = state;
        self.reason = reason.filter(|_| state != BreakerState::Closed);
        let exposure = tx.get(EXPOSURE)?.unwrap_or_default();
        self.publish_status(tx, exposure)
    }

    /// Publishes the breaker's state as last announced with the offline queue at `exposure`.
    pub(crate) fn publish_status(&self, tx: &mut Tx, exposure: Exposure) -> Result<(), Rejection> {
        let queue = self.when_offline == WhenOffline::Queue;
        let status = GatewayStatus {
            state: self.published,
            when_offline: self.when_offline,
            reason: self.reason.clone(),
            queued: exposure.count,
            queued_cents: exposure.cents,
            limits: queue.then(|| self.offline.limits()),
        };
        // A status the broker would refuse must not fail the loop: the next change tries again.
        if let Err(e) = tx.publish_retained(&tx.event(Uuid::nil(), None, status)) {
            warn!(error = %e, "Card processor status not published.");
        }
        Ok(())
    }
}
