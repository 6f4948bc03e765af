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
//! In both modes it also takes restocks (`commands/inventory/restock`, answered on
//! `inventory/restocked`) and what the bar threw away (`tickets/returned`), keeps running
//! totals of both for audits, alerts when an ingredient crosses its low-stock threshold
//! (`inventory/low`), and publishes what the shop can still sell, retained on
//! `menu/availability` (86'ing), which the order service and the POS check orders against.
//!
//! # Layout
//! - [`reservation`]: one order's [`Reservation`], what a failed order gives back, and the
//!   recorded answers.
//! - [`service`]: stock, the handlers and the subscriptions of each mode.
//! - [`restock`]: restocking and waste, with their running totals.
//! - [`availability`]: what can be sold and how low each ingredient is ([`Tracker`]),
//!   re-checked only where a change touches.
//! - [`publish`]: low-stock alerts and when the availability is published ([`Command`]).
#![forbid(unsafe_code)]

pub mod availability;
pub mod publish;
pub mod reservation;
pub mod restock;
pub mod service;

use std::sync::Arc;

use milo_bus::{Rejection, RunDeps, Shutdown};
use milo_contracts::events::Ingredients;
use milo_contracts::{Menu, SagaMode};
use serde::{Deserialize, Serialize};

pub use availability::Tracker;
pub use publish::Command;
pub use reservation::{Reservation, ReservationState};
pub use restock::{RESTOCKED_KEY, WASTE_KEY};
pub use service::{InventoryService, STOCK_KEY};

/// Inventory settings (`[inventory]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Opening stock per ingredient, used the first time the store starts.
    pub stock: Ingredients,
    /// Low-stock threshold per ingredient, in its unit: below it the ingredient is low
    /// (`inventory/low`). An ingredient without one is only ever ok or out.
    pub low_stock: Ingredients,
    /// Shortest time between two availability publishes when only stock levels moved, in
    /// milliseconds (changes to what can be sold are published at once).
    pub availability_ms: u64,
    /// How often the availability is published anyway, in seconds (the first time as soon
    /// as the service starts).
    pub republish_secs: u64,
    /// The most one restock may add, in the ingredient's unit: a guard against a typo (a
    /// delivery is far smaller), refused with the reason above it.
    pub max_restock: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stock: Ingredients::new(),
            low_stock: default_low_stock(),
            availability_ms: 1000,
            republish_secs: 30,
            max_restock: DEFAULT_MAX_RESTOCK,
        }
    }
}

/// The default `max_restock`: a million units (a tonne of beans, a thousand litres of milk, a
/// million cups), far above any delivery to a shop and far below where stock could overflow.
pub const DEFAULT_MAX_RESTOCK: u64 = 1_000_000;

/// Low-stock thresholds for the default opening stock: about a tenth of it, each at least a
/// dozen drinks' worth, so that there is time to restock before anything runs out.
pub fn default_low_stock() -> Ingredients {
    [
        ("beans_g", 2000),
        ("water_ml", 10000),
        ("whole_milk_ml", 4000),
        ("oat_milk_ml", 2000),
        ("skim_milk_ml", 1500),
        ("cocoa_g", 300),
        ("vanilla_ml", 300),
        ("caramel_ml", 300),
        ("ice_g", 3000),
        ("cups", 100),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Runs the inventory service over `menu` in saga `mode` until `shutdown`.
pub async fn run(
    config: Config,
    mode: SagaMode,
    menu: Arc<Menu>,
    deps: RunDeps<Command>,
    shutdown: Shutdown,
) -> Result<(), Rejection> {
    milo_bus::run(InventoryService::new(config, mode, menu), deps, shutdown).await
}
