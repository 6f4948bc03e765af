//! Milo's payment service: charges each order once, refunds a charged order that failed (or
//! voids its charge still in flight), and records every transaction in its own store.
//!
//! It runs in either saga mode ([`SagaMode`]) with the same handlers; only the trigger
//! differs. In choreography it charges on `orders/created` and compensates on
//! `orders/failed`; in orchestration it charges on the coordinator's
//! `commands/payment/charge` and compensates on `commands/payment/refund`. Either way the
//! answers are the same facts: `payments/completed` | `payments/failed`, then
//! `payments/refunded` (0 cents when nothing was taken), and a repeated request is answered
//! with the very event recorded the first time.
//!
//! The gateway call happens outside the service loop: the charge is first recorded as
//! `charging` (durably), then the gateway is asked with the order id as idempotency key, and
//! its answer comes back as a local command. Compensation never waits for a charge in flight:
//! it asks the gateway to void it (`voiding`), so a gateway that never answers a charge still
//! lets the order be compensated. After a restart, unfinished charges, voids and refunds are
//! asked again with the same key.
//!
//! # Layout
//! - [`gateway`]: the [`Gateway`] trait and the seeded [`SimulatedGateway`] (latency shapes,
//!   declines, hangs).
//! - [`txn`]: the recorded [`Transaction`], its [`TxnState`] and the gateway's [`Command`]s.
//! - [`service`]: the handlers and the subscriptions of each mode.
#![forbid(unsafe_code)]

pub mod gateway;
pub mod service;
pub mod txn;

use std::sync::Arc;

use milo_bus::{Rejection, RunDeps, Shutdown};
use milo_contracts::SagaMode;
use serde::{Deserialize, Serialize};

pub use gateway::{ChargeResult, Gateway, SimulatedGateway};
pub use service::PaymentService;
pub use txn::{Command, Transaction, TxnState};

/// How the simulated gateway draws its answer delays (`payment.latency`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Latency {
    /// Uniform between `min_latency_ms` and `max_latency_ms`.
    #[default]
    Uniform,
    /// Exponential with mean `(min_latency_ms + max_latency_ms) / 2`, clamped to
    /// `min_latency_ms..=max_latency_ms`: mostly quick, with a tail of slow answers.
    Exponential,
}

/// Payment settings (`[payment]`): the simulated gateway's behaviour and failure injection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Share of charges approved, 0.0 to 1.0.
    pub success_rate: f64,
    /// Share of charges the gateway never answers, 0.0 to 1.0 (they hang forever unless
    /// voided).
    pub hang_rate: f64,
    /// Shortest gateway answer, in milliseconds.
    pub min_latency_ms: u64,
    /// Longest gateway answer, in milliseconds.
    pub max_latency_ms: u64,
    /// How delays are drawn between the two bounds.
    pub latency: Latency,
    /// Seed: the same seed and order id always give the same outcome and delay.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            success_rate: 1.0,
            hang_rate: 0.0,
            min_latency_ms: 40,
            max_latency_ms: 150,
            latency: Latency::Uniform,
            seed: 7,
        }
    }
}

/// Runs the payment service with `gateway` in saga `mode` until `shutdown`.
pub async fn run<G: Gateway>(
    deps: RunDeps<Command>,
    gateway: Arc<G>,
    mode: SagaMode,
    shutdown: Shutdown,
) -> Result<(), Rejection> {
    milo_bus::run(PaymentService::new(gateway, mode), deps, shutdown).await
}
