//! Milo's order service: takes orders and keeps them; the owner of each order's flow in
//! choreography.
//!
//! Takes `orders/placed` (from a POS) and `POST /orders`, validates against the menu and what
//! the shop can still sell (inventory's retained `menu/availability`, kept in memory),
//! publishes `orders/created` or `orders/rejected`. Keeps every order with its status history;
//! the same order id placed twice is one order, and a repeated `orders/placed` is answered
//! with the very event recorded for the first (a POS that lost the answer hears it again),
//! then, for an order already done, with how it ended (its `orders/prepared` or
//! `orders/canceled`, as published). It answers every customer's cancellation from a POS
//! (`cancellations/requested`): refused at once for an unknown order, the same
//! `orders/canceled` again for a canceled one.
//!
//! In choreography (`saga.mode`) it then publishes `orders/ready` once the order is both paid
//! and stocked (whichever comes first); on a decline, short stock, a bar fault, a step out of
//! retries or a customer's cancellation it publishes `orders/failed`, asks until payment and
//! inventory confirm what they gave back, then publishes `orders/canceled`. In orchestration
//! the saga coordinator does all that (cancellations passed on to it on
//! `commands/saga/cancel`) and the order service mirrors it.
//!
//! # Layout
//! - [`model`]: the order record, statuses and their keys in the store.
//! - [`service`]: the event and command handlers (placing an order, the availability it is
//!   held to, the flow in either saga mode, cancellations, how an order ended, timers).
//! - [`http`]: `POST /orders`, `GET /orders/{id}`, `GET /orders?status=&limit=&after=`,
//!   `POST /orders/{id}/cancel`.
#![forbid(unsafe_code)]

pub mod http;
pub mod model;
pub mod service;

use std::sync::Arc;

use milo_bus::{Rejection, RunDeps, Shutdown};
use milo_contracts::{Menu, SagaMode};
use serde::{Deserialize, Serialize};

pub use milo_bus::RetryConfig;
pub use model::{OrderRecord, Status};
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
    mode: SagaMode,
    deps: RunDeps<Command>,
    menu: Arc<Menu>,
    shutdown: Shutdown,
) -> Result<(), Rejection> {
    milo_bus::run(OrderService::new(config, menu, mode), deps, shutdown).await
}
