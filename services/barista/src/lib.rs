//! Milo's barista service: queues every order to make as a ticket and hands it to the online
//! barista device with the shortest queue (`devices/<id>/tickets`). Devices announce
//! themselves with retained presence (`devices/<id>/status`); tickets wait while no device is
//! online and go out as soon as one is. A prepared order leaves its station's queue.
//!
//! What to make comes from `orders/ready` in choreography and from `commands/barista/prepare`
//! in orchestration ([`SagaMode`]); the handling is the same. In both modes a withdrawal
//! (`commands/barista/withdraw`) takes a ticket back if its drink is not started: this service
//! answers `tickets/withdrawn` for tickets not at a station (a tombstone makes a later order
//! ignored) and for tickets already made; a ticket at a station is forwarded to it, since the
//! device decides whether its drink is started. `tickets/withdrawn` and `tickets/failed` from
//! the stations take tickets out of their queues.
//!
//! # Layout
//! - [`ticket`]: the [`Ticket`] record and the store keys.
//! - [`service`]: [`BaristaService`]: stations, handing tickets out, event routing.
//! - [`withdraw`]: withdrawals and the stations' reports (withdrawn, failed).
#![forbid(unsafe_code)]

pub mod service;
pub mod ticket;
pub mod withdraw;

use std::sync::Arc;

use milo_bus::{Rejection, RunDeps, Shutdown};
use milo_contracts::{Menu, SagaMode};
use serde::{Deserialize, Serialize};

pub use service::BaristaService;
pub use ticket::Ticket;

/// What happens to a ticket whose station faulted mid-drink (`barista.on_fault`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultPolicy {
    /// Hand it to another station that can make it; compensate the order when none can.
    #[default]
    Reassign,
    /// Compensate the order at once (refund, release what was not used).
    Compensate,
}

/// Barista service settings (`[barista]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// A ticket handed back by a faulted station: reassign or compensate.
    pub on_fault: FaultPolicy,
    /// A ticket older than this is flagged `warn` (seconds since queued).
    pub warn_secs: u64,
    /// A ticket older than this is flagged `late`.
    pub late_secs: u64,
    /// The stations' speed factor assumed before any drink was timed (`device.speed`).
    pub speed: f64,
    /// An order's estimate is published again when it moves by at least this many seconds.
    pub eta_step_secs: u64,
    /// How often tickets' ages and estimates are checked, milliseconds.
    pub tick_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            on_fault: FaultPolicy::Reassign,
            warn_secs: 180,
            late_secs: 300,
            speed: 0.1,
            eta_step_secs: 5,
            tick_ms: 1000,
        }
    }
}

/// Runs the barista service in saga `mode` until `shutdown`.
pub async fn run(
    config: Config,
    mode: SagaMode,
    menu: Arc<Menu>,
    deps: RunDeps<()>,
    shutdown: Shutdown,
) -> Result<(), Rejection> {
    let _ = (&config, &menu);
    milo_bus::run(BaristaService::new(mode), deps, shutdown).await
}
