//! Milo's analytics service: consumes every order-flow event and keeps running figures:
//! orders by status, revenue (charged − refunded), drinks by item, and preparation and lead
//! times, all-time and per day in the shop's time zone (a café closes its books by day).
//! `GET /analytics/summary` serves them.
//!
//! # Layout
//! - [`summary`]: the figures and their histograms.
//! - [`books`]: what each event adds, and to which day.
//! - [`day`]: the shop's time zone and dates, and the days a request asks for.
//! - [`service`]: the handlers: decoding, and the store.
//! - [`http`]: the summary endpoint.
#![forbid(unsafe_code)]

pub mod books;
pub mod day;
pub mod http;
pub mod service;
pub mod summary;

use milo_bus::{Rejection, RunDeps, Shutdown};

pub use day::{Zone, ZoneError};
pub use service::AnalyticsService;
pub use summary::Summary;

/// Runs the analytics service, keeping days in the shop's time zone `zone`, until `shutdown`.
pub async fn run(zone: Zone, deps: RunDeps<()>, shutdown: Shutdown) -> Result<(), Rejection> {
    milo_bus::run(AnalyticsService::new(zone), deps, shutdown).await
}
