//! Milo's inventory service: keeps ingredient stock and reserves each created order's
//! ingredients by the menu's recipes, or answers `inventory/failed` naming what is short.
//! A prepared order consumes its reservation; a failed one gives it back
//! (`inventory/released`). A repeated request is answered with the recorded outcome.
//!
//! # Layout
//! - [`service`]: stock, reservations and handlers.
#![forbid(unsafe_code)]

pub mod service;

use milo_bus::{Rejection, RunDeps, Shutdown};
use milo_contracts::events::Ingredients;
use serde::{Deserialize, Serialize};

pub use service::{InventoryService, Reservation, ReservationState, STOCK_KEY};

/// Inventory settings (`[inventory]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Opening stock per ingredient, used the first time the store starts.
    pub stock: Ingredients,
}

/// Runs the inventory service until `shutdown`.
pub async fn run(config: Config, deps: RunDeps<()>, shutdown: Shutdown) -> Result<(), Rejection> {
    milo_bus::run(InventoryService::new(config), deps, shutdown).await
}
