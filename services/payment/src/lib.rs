//! Milo's payment service: charges each created order once, refunds a charged order that
//! failed, and records every transaction in its own store.
//!
//! The gateway call happens outside the service loop: the charge is first recorded as
//! `charging` (durably), then the gateway is asked with the order id as idempotency key, and
//! its answer comes back as a local command. After a restart, unfinished charges are asked
//! again with the same key. A repeated `orders/created` is answered with the recorded outcome.
//!
//! # Layout
//! - [`gateway`]: the [`Gateway`] trait and the seeded [`SimulatedGateway`].
//! - [`service`]: transactions and handlers.
#![forbid(unsafe_code)]

pub mod gateway;
pub mod service;

use std::sync::Arc;

use milo_bus::{Rejection, RunDeps, Shutdown};
use serde::{Deserialize, Serialize};

pub use gateway::{ChargeResult, Gateway, SimulatedGateway};
pub use service::{Command, PaymentService, Transaction, TxnState};

/// Payment settings (`[payment]`): the simulated gateway's behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Share of charges approved, 0.0 to 1.0.
    pub success_rate: f64,
    /// Shortest gateway answer, in milliseconds.
    pub min_latency_ms: u64,
    /// Longest gateway answer, in milliseconds.
    pub max_latency_ms: u64,
    /// Seed: the same seed and order id always give the same outcome.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            success_rate: 1.0,
            min_latency_ms: 40,
            max_latency_ms: 150,
            seed: 7,
        }
    }
}

/// Runs the payment service with `gateway` until `shutdown`.
pub async fn run<G: Gateway>(
    deps: RunDeps<Command>,
    gateway: Arc<G>,
    shutdown: Shutdown,
) -> Result<(), Rejection> {
    milo_bus::run(PaymentService::new(gateway), deps, shutdown).await
}
