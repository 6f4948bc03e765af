//! Milo's notification service: tells the customer when their drink is ready for pickup, or
//! why their order failed, with a log line and a `customers/notified` event, and keeps the
//! retained pickup board (`boards/pickup`) that a screen by the counter shows.
//!
//! # Layout
//! - [`service`]: customers, the board and handlers.
#![forbid(unsafe_code)]

pub mod service;

use milo_bus::{Rejection, RunDeps, Shutdown};
use serde::{Deserialize, Serialize};

pub use service::NotificationService;

/// Notification settings (`[notification]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Orders shown on the pickup board.
    pub board_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { board_size: 12 }
    }
}

/// Runs the notification service until `shutdown`.
pub async fn run(config: Config, deps: RunDeps<()>, shutdown: Shutdown) -> Result<(), Rejection> {
    milo_bus::run(NotificationService::new(config), deps, shutdown).await
}
