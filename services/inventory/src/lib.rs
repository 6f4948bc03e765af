//! Milo's inventory service: keeps ingredient stock and reserves each order's ingredients by
//! the menu's recipes, or answers `inventory/failed` naming what is short. A prepared order
//! consumes its reservation; a failed one gives back what the bar did not use
//! (`inventory/released`, answered even when nothing goes back). A repeated request is
//! answered with the recorded outcome.
//!
//! It runs in either saga mode ([`SagaMode`]) with the same handlers; only the trigger
//! differs. In choreography it reserves on `orders/created` and releases on `orders/failed`;
//! in orchestration it reserves on the coordinator's `commands/inventory/reserve` and releases
//! on `commands/inventory/release`. `orders/prepared` (consumption) is a fact in both modes.
//!
//! # Layout
//! - [`reservation`]: one order's [`Reservation`], what a failed order gives back, and the
//!   recorded answers.
//! - [`service`]: stock, the handlers and the subscriptions of each mode.
#![forbid(unsafe_code)]

pub mod reservation;
pub mod service;

use milo_bus::{Rejection, RunDeps, Shutdown};
use milo_contracts::events::Ingredients;
use milo_contracts::SagaMode;
use serde::{Deserialize, Serialize};

pub use reservation::{Reservation, ReservationState};
pub use service::{InventoryService, STOCK_KEY};

/// Inventory settings (`[inventory]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Opening stock per ingredient, used the first time the store starts.
    pub stock: Ingredients,
}

/// Runs the inventory service in saga `mode` until `shutdown`.
pub async fn run(
    config: Config,
    mode: SagaMode,
    deps: RunDeps<()>,
    shutdown: Shutdown,
) -> Result<(), Rejection> {
    milo_bus::run(InventoryService::new(config, mode), deps, shutdown).await
}
