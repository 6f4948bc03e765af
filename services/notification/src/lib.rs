//! Milo's notification service: tells the customer when their drink is ready for pickup, or
//! why their order failed, with a log line and a `customers/notified` event (once per order),
//! and keeps the retained pickup board (`boards/pickup`) that a screen by the counter shows:
//! each order preparing (`orders/ready`, back after a recall), ready (`orders/prepared`, again
//! after a re-bump), canceled or failed, until the customer collects it (`orders/collected`)
//! or it waits past the pickup timeout.
//!
//! # Layout
//! - [`board`]: the board's slots, what each event does to them, and the board as published.
//! - [`service`]: the handlers, telling customers, pickup timers and the coalesced publish.
#![forbid(unsafe_code)]

pub mod board;
pub mod service;

use milo_bus::{Rejection, RunDeps, Shutdown};
use serde::{Deserialize, Serialize};

pub use service::{Command, NotificationService};

/// Notification settings (`[notification]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Orders shown on the pickup board in each state (preparing, ready, canceled, failed).
    pub board_size: usize,
    /// A ready order not collected within this many seconds leaves the board.
    pub pickup_timeout_secs: u64,
    /// Shortest time between two board publishes, in milliseconds.
    pub board_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            board_size: 12,
            pickup_timeout_secs: 600,
            board_ms: 200,
        }
    }
}

/// Runs the notification service until `shutdown`.
pub async fn run(
    config: Config,
    deps: RunDeps<Command>,
    shutdown: Shutdown,
) -> Result<(), Rejection> {
    milo_bus::run(NotificationService::new(config), deps, shutdown).await
}
