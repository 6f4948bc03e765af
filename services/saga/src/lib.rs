//! Milo's saga coordinator: in orchestration mode (`saga.mode = "orchestration"`) it drives
//! every order, step by step, with commands under `commands/<service>/<verb>`.
//!
//! For each `orders/created` it keeps a persisted state machine in its own sled database:
//! reserve stock (`commands/inventory/reserve`), charge (`commands/payment/charge`), then hand
//! the order to the bar (`orders/ready` and `commands/barista/prepare`) until
//! `orders/prepared`. Each step has a durable timeout: a step with no answer is asked again with
//! the same order id (participants answer a repeat with the same event) and, after the last
//! attempt, the saga compensates. Compensation undoes the completed steps in reverse order, one
//! at a time (refund, then release), asking until each is confirmed, then publishes
//! `orders/canceled`. Customers' cancellations, passed on by the order service (which alone
//! knows whether an order exists) on `commands/saga/cancel`, are decided here: before the
//! drink is started the bar is asked to withdraw the ticket, after it they are refused, and a
//! canceled order's `orders/canceled` is said again. Timers live in the store, so a restart
//! resumes every unfinished saga.
//!
//! # Layout
//! - [`model`]: the saga record, its states and steps.
//! - [`service`]: the handlers: forward steps, cancellation, compensation, timers.
//! - [`http`]: `GET /sagas/{id}` and `GET /sagas?state=&older_than=&limit=`.
#![forbid(unsafe_code)]

pub mod http;
pub mod model;
pub mod service;

use milo_bus::{Rejection, RetryConfig, RunDeps, Shutdown};
use milo_contracts::SagaMode;
use serde::{Deserialize, Serialize};

pub use model::{Saga, SagaState, StepName, StepOutcome, StepRecord};
pub use service::{Command, Coordinator};

/// Saga settings (`[saga]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Who drives an order: `choreography` (the services react to each other; the order
    /// service owns timers) or `orchestration` (this coordinator sends commands).
    pub mode: SagaMode,
    /// The coordinator's timeouts and retries.
    pub retry: RetryConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: SagaMode::Choreography,
            retry: RetryConfig::default(),
        }
    }
}

/// Runs the coordinator until `shutdown`.
pub async fn run(
    config: Config,
    deps: RunDeps<Command>,
    shutdown: Shutdown,
) -> Result<(), Rejection> {
    milo_bus::run(Coordinator::new(config.retry), deps, shutdown).await
}
