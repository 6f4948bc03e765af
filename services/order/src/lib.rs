//! Milo's order service: the owner of each order's flow in choreography.
//!
//! Takes `orders/placed` (from a POS) and `POST /orders`, validates against the menu,
//! publishes `orders/created` or `orders/rejected`, then `orders/ready` once the order is both
//! paid and stocked (whichever comes first), and `orders/failed` when payment or stock fails.
//! Keeps every order with its status history; the same order id placed twice is one order.
//!
//! # Layout
//! - [`model`]: the order record, statuses and their keys in the store.
//! - [`service`]: the event and command handlers.
//! - [`retry`]: durable timers: asking again with backoff, failing after the last attempt.
//! - [`http`]: `POST /orders`, `GET /orders/{id}`, `GET /orders?status=&limit=&after=`.
#![forbid(unsafe_code)]

pub mod http;
pub mod model;
pub mod retry;
pub mod service;

use std::sync::Arc;

use milo_bus::{Rejection, RunDeps, Shutdown};
use milo_contracts::Menu;
use serde::{Deserialize, Serialize};

pub use model::{OrderRecord, Status};
pub use retry::RetryConfig;
pub use service::{Command, OrderService, PlaceOutcome};

/// Order service settings (`[order]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Longest customer name accepted.
    pub max_customer_len: usize,
    /// When and how often to ask again.
    pub retry: RetryConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_customer_len: 40,
            retry: RetryConfig::default(),
        }
    }
}

/// Runs the order service until `shutdown`.
pub async fn run(
    config: Config,
    deps: RunDeps<Command>,
    menu: Arc<Menu>,
    shutdown: Shutdown,
) -> Result<(), Rejection> {
    milo_bus::run(OrderService::new(config, menu), deps, shutdown).await
}
