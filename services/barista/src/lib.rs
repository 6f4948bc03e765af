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

use milo_bus::{Rejection, RunDeps, Shutdown};
use milo_contracts::SagaMode;

pub use service::BaristaService;
pub use ticket::Ticket;

/// Runs the barista service in saga `mode` until `shutdown`.
pub async fn run(mode: SagaMode, deps: RunDeps<()>, shutdown: Shutdown) -> Result<(), Rejection> {
    milo_bus::run(BaristaService::new(mode), deps, shutdown).await
}
