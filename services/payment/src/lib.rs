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
//! asked again with the same key (read in the background once the service is up).
//!
//! Every call to the processor goes through a circuit breaker ([`breaker`], [`guard`]): with
//! a timeout, counted when it fails; after `payment.breaker.failures` failures within the
//! window the breaker opens, charges fail at once with "card payments unavailable" (those in
//! flight too, voided with their key), probes ask the processor again after a cool-down, and
//! it closes by itself once they succeed. Its state is the retained `payments/gateway`,
//! which the order service and the POS read. A cash order never touches the processor: it is
//! recorded as paid at once, whatever the breaker says.
//!
//! With `when_offline = "queue"` a card charge while the breaker is not closed (or one given
//! up in flight) is authorized offline instead ([`offline`]): recorded durably with the store's
//! exposure, announced `payments/completed` (transaction id `offline-…`), and captured
//! exactly once, with the order id as idempotency key, when the breaker closes or the service
//! starts.
//!
//! # Layout
//! - [`gateway`]: the [`Gateway`] trait and the seeded [`SimulatedGateway`] (latency shapes,
//!   declines, hangs, outages).
//! - [`ledger`]: what the simulated processor remembers of each idempotency key, on disk.
//! - [`outage`]: when the simulated processor is cut (local windows, a switch file).
//! - [`offline`]: the offline authorization queue (`when_offline = "queue"`): limits,
//!   exposure, capture once the processor is back, declines after the fact.
//! - [`http`]: `GET /payments/declined-offline`, for the manager (`milo payments
//!   declined-offline`).
//! - [`breaker`]: the circuit breaker's state machine and its settings.
//! - [`guard`]: the processor's calls behind the breaker, with timeouts and probes.
//! - [`txn`]: the recorded [`Transaction`], its [`TxnState`] and the gateway's [`Command`]s.
//! - [`service`]: the handlers and the subscriptions of each mode; `ask`: the calls to the
//!   processor they make once their transaction is durable.
//! - [`status`]: the breaker's changes, logged and published.
#![forbid(unsafe_code)]

mod ask;
pub mod breaker;
pub mod gateway;
pub mod guard;
pub mod http;
pub mod ledger;
pub mod offline;
pub mod outage;
pub mod service;
pub mod status;
pub mod txn;

use std::path::PathBuf;
use std::sync::Arc;

use milo_bus::{Rejection, RunDeps, Shutdown};
use milo_contracts::payments::WhenOffline;
use milo_contracts::SagaMode;
use serde::{Deserialize, Serialize};

pub use breaker::BreakerConfig;
pub use gateway::{ChargeResult, Gateway, SimulatedGateway};
pub use ledger::Ledger;
pub use offline::{DeclinedOffline, Exposure, OfflineConfig};
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
    /// Windows of local wall-clock time (the shop's time zone) when the simulated processor
    /// is cut: `"HH:MM-HH:MM"` or `"HH:MM:SS-HH:MM:SS"`, past midnight when the end is
    /// earlier.
    pub outages: Vec<String>,
    /// A file whose existence cuts the simulated processor (`touch` it to start an outage,
    /// remove it to end it); none by default.
    pub outage_switch: Option<PathBuf>,
    /// What to do with card orders while the breaker is not closed.
    pub when_offline: WhenOffline,
    /// The limits of the offline authorization queue (`when_offline = "queue"`).
    pub offline: OfflineConfig,
    /// A file where the simulated processor records every charge it approved and every void
    /// (fsynced before it answers), so that it remembers idempotency keys across restarts as
    /// a real processor does; none by default (it remembers them in memory only).
    pub ledger: Option<PathBuf>,
    /// The circuit breaker around the processor.
    pub breaker: BreakerConfig,
}

impl Config {
    /// The first setting of this section out of bounds that the types do not already rule
    /// out: its key (under `payment`) and why.
    pub fn check(&self) -> Result<(), (String, String)> {
        if let Err((i, e)) = outage::windows(&self.outages) {
            return Err((format!("outages[{i}]"), e.to_string()));
        }
        if let Err((key, why)) = self.offline.check() {
            return Err((format!("offline.{key}"), why.to_owned()));
        }
        self.breaker
            .check()
            .map_err(|(key, why)| (format!("breaker.{key}"), why.to_owned()))
    }
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
            outages: Vec::new(),
            outage_switch: None,
            when_offline: WhenOffline::Refuse,
            offline: OfflineConfig::default(),
            ledger: None,
            breaker: BreakerConfig::default(),
        }
    }
}

/// Runs the payment service with `gateway` (behind the breaker `config` sets) in saga `mode`
/// until `shutdown`.
pub async fn run<G: Gateway>(
    config: &Config,
    deps: RunDeps<Command>,
    gateway: Arc<G>,
    mode: SagaMode,
    shutdown: Shutdown,
) -> Result<(), Rejection> {
    let service = PaymentService::new(gateway, mode, config);
    milo_bus::run(service, deps, shutdown).await
}
