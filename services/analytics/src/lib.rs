//! Milo's analytics service: consumes every order-flow event and keeps running figures:
//! orders by status, revenue (charged − refunded), drinks by item, and preparation and lead
//! times. `GET /analytics/summary` serves them.
//!
//! # Layout
//! - [`summary`]: the figures and their histograms.
//! - [`day`]: the shop's time zone and dates, and the days a request asks for.
//! - [`service`]: per-order tracking and handlers.
//! - [`http`]: the summary endpoint.
#![forbid(unsafe_code)]

pub mod day;
pub mod http;
pub mod service;
pub mod summary;

use milo_bus::{Rejection, RunDeps, Shutdown};

pub use day::{Zone, ZoneError};
pub use service::AnalyticsService;
pub use summary::Summary;

/// Runs the analytics service until `shutdown`.
pub async fn run(deps: RunDeps<()>, shutdown: Shutdown) -> Result<(), Rejection> {
    milo_bus::run(AnalyticsService::default(), deps, shutdown).await
}
