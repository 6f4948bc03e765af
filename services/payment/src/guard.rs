//! Every call to the card processor, behind the [`Breaker`]: each with a timeout, counted as
//! a failure when it times out; charges refused at once while the breaker is not closed, and
//! those in flight given up when it opens; refunds and voids asked again until the
//! processor answers; and the probes that close it again.
//!
//! State changes go to the service loop as [`Command::Breaker`], which logs them and
//! publishes the retained `payments/gateway`.

use std::sync::{Arc, Mutex, MutexGuard};

use milo_bus::Commands;
use milo_contracts::payments::BreakerState;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, warn};
use uuid::Uuid;

use crate::breaker::{Breaker, BreakerConfig};
use crate::gateway::{ChargeResult, Gateway, GatewayFuture};
use crate::txn::Command;

/// What a guarded charge came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guarded {
    /// The processor answered.
    Answered(ChargeResult),
    /// Not charged: the breaker was open, or it opened or the processor did not answer while
    /// the charge was in flight (`asked`: the request may have reached the processor, so a
    /// void with the same key is due).
    Unavailable {
        /// The processor was asked.
        asked: bool,
    },
}

/// The processor behind the breaker. Clones share the breaker.
pub struct Guard<G> {
    gateway: Arc<G>,
    breaker: Arc<Mutex<Breaker>>,
    state: Arc<watch::Sender<BreakerState>>,
    config: BreakerConfig,
    commands: Option<Commands<Command>>,
}

impl<G> Clone for Guard<G> {
    fn clone(&self) -> Self {
        Guard {
            gateway: self.gateway.clone(),
            breaker: self.breaker.clone(),
            state: self.state.clone(),
            config: self.config.clone(),
            commands: self.commands.clone(),
        }
    }
}

impl<G: Gateway> Guard<G> {
    /// `gateway` behind a closed breaker set by `config`.
    pub fn new(gateway: Arc<G>, config: BreakerConfig) -> Self {
        Guard {
            gateway,
            breaker: Arc::new(Mutex::new(Breaker::new(config.clone()))),
            state: Arc::new(watch::channel(BreakerState::Closed).0),
            config,
            commands: None,
        }
    }

    /// Where state changes go (the service loop), once it runs.
    pub fn connect(&mut self, commands: Commands<Command>) {
        self.commands = Some(commands);
    }

    fn breaker(&self) -> MutexGuard<'_, Breaker> {
        // A poisoned lock only means a holder panicked; the breaker is consistent.
        self.breaker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The processor itself (for calls made [`Guard::patiently`]).
    pub fn gateway(&self) -> Arc<G> {
        self.gateway.clone()
    }

    /// The breaker's state now.
    pub fn state(&self) -> BreakerState {
        self.breaker().state()
    }

    /// Charges `order_id` unless the breaker is open; gives up when it opens meanwhile or the
    /// processor does not answer within the timeout (a failure for the breaker).
    pub async fn charge(&self, order_id: Uuid, amount_cents: u64) -> Guarded {
        if !self.breaker().allows() {
            return Guarded::Unavailable { asked: false };
        }
        let mut opened = self.state.subscribe();
        let call = tokio::time::timeout(
            self.config.timeout(),
            self.gateway.charge(order_id, amount_cents),
        );
        let went_offline = async {
            // The guard keeps the sender: this ends only when the state changes.
            let _ = opened.wait_for(|s| *s != BreakerState::Closed).await;
        };
        let answer = tokio::select! {
            answer = call => answer.ok(),
            () = went_offline => {
                debug!(order_id = %order_id, "Charge given up: card payments went offline.");
                return Guarded::Unavailable { asked: true };
            }
        };
        if let Some(result) = answer {
            return Guarded::Answered(result);
        }
        warn!(order_id = %order_id, timeout_ms = self.config.timeout_ms, "The card processor did not answer the charge in time.");
        self.failed().await;
        Guarded::Unavailable { asked: true }
    }

    /// Resolves when the service stops (never before it is connected).
    async fn stopped(&self) {
        match &self.commands {
            Some(c) => c.stopped().await,
            None => std::future::pending().await,
        }
    }

    /// Runs `call` (a refund or a void) until the processor answers it: each attempt within
    /// the timeout while the breaker is closed, waiting for it to close otherwise. Gives up
    /// when the service stops (it asks again at its next start).
    pub async fn patiently(&self, call: impl Fn() -> GatewayFuture<()>) {
        tokio::select! {
            () = self.until_answered(call) => {}
            () = self.stopped() => {}
        }
    }

    /// Charges `order_id` until the processor answers (the capture of an offline
    /// authorization): through the breaker, waiting while it is not closed, asked again with
    /// the same key after each failure. `None` if the service stops first (it asks again at
    /// its next start).
    pub async fn capture(&self, order_id: Uuid, amount_cents: u64) -> Option<ChargeResult> {
        let mut state = self.state.subscribe();
        let answered = async {
            loop {
                let closed = state.wait_for(|s| *s == BreakerState::Closed).await;
                if closed.map(|_| ()).is_err() {
                    return None;
                }
                match self.charge(order_id, amount_cents).await {
                    Guarded::Answered(result) => return Some(result),
                    // The breaker turned as this was asked: the watch says so in a moment.
                    Guarded::Unavailable { asked: false } => tokio::task::yield_now().await,
                    Guarded::Unavailable { asked: true } => {}
                }
            }
        };
        tokio::select! {
            answer = answered => answer,
            () = self.stopped() => None,
        }
    }

    async fn until_answered(&self, call: impl Fn() -> GatewayFuture<()>) {
        let mut state = self.state.subscribe();
        loop {
            if state
                .wait_for(|s| *s == BreakerState::Closed)
                .await
                .map(|_| ())
                .is_err()
            {
                return;
            }
            if tokio::time::timeout(self.config.timeout(), call())
                .await
                .is_ok()
            {
                return;
            }
            self.failed().await;
        }
    }

    async fn failed(&self) {
        let change = self.breaker().failure(Instant::now());
        let why = format!(
            "{} calls to the card processor failed within {} ms",
            self.config.failures, self.config.window_ms
        );
        self.changed(change, Some(why)).await;
    }

    async fn changed(&self, change: Option<BreakerState>, reason: Option<String>) {
        let Some(state) = change else { return };
        self.state.send_replace(state);
        if let Some(c) = &self.commands {
            c.send(Command::Breaker { state, reason }).await;
        }
    }

    /// Probes the processor while the breaker is open (after each cool-down) or half-open,
    /// until the service stops.
    pub async fn probe_forever(self) {
        let Some(commands) = self.commands.clone() else {
            return;
        };
        tokio::select! {
            _ = self.probe_loop() => {}
            _ = commands.stopped() => {}
        }
    }

    async fn probe_loop(&self) {
        let mut state = self.state.subscribe();
        loop {
            let (now, at) = {
                let b = self.breaker();
                (b.state(), b.probe_at())
            };
            match now {
                BreakerState::Closed => {
                    let changed = state.wait_for(|s| *s != BreakerState::Closed).await;
                    if changed.map(|_| ()).is_err() {
                        return;
                    }
                }
                BreakerState::Open => {
                    if let Some(at) = at {
                        tokio::time::sleep_until(at).await;
                    }
                    let change = self.breaker().try_half_open(Instant::now());
                    self.changed(change, None).await;
                }
                BreakerState::HalfOpen => {
                    let answer = tokio::time::timeout(self.config.timeout(), self.gateway.probe());
                    let ok = matches!(answer.await, Ok(true));
                    debug!(ok, "Card processor probed.");
                    let change = self.breaker().probed(ok, Instant::now());
                    let why = (!ok).then(|| "a probe of the card processor failed".to_owned());
                    self.changed(change, why).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
