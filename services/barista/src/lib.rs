//! Milo's barista service: queues every ready order as a ticket and hands it to the online
//! barista device with the shortest queue (`devices/<id>/tickets`). Devices announce
//! themselves with retained presence (`devices/<id>/status`); tickets wait while no device is
//! online and go out as soon as one is. A prepared order leaves its station's queue.
//!
//! # Layout
//! - [`service`]: tickets, stations and handlers.
#![forbid(unsafe_code)]

pub mod service;

use milo_bus::{Rejection, RunDeps, Shutdown};

pub use service::{BaristaService, Ticket};

/// Runs the barista service until `shutdown`.
pub async fn run(deps: RunDeps<()>, shutdown: Shutdown) -> Result<(), Rejection> {
    milo_bus::run(BaristaService, deps, shutdown).await
}
