//! The espresso machine behind a trait, so real hardware can be plugged in.
//!
//! The device asks a machine five things: how it is ([`EspressoMachine::status`]), to catch
//! up with what happened by itself ([`EspressoMachine::advance`]: the boiler warmed, the
//! barista refilled the tank), whether it can make what a ticket needs
//! ([`EspressoMachine::can_make`]), to make a drink stage by stage
//! ([`EspressoMachine::begin_drink`], [`EspressoMachine::run_stage`]), and to apply an
//! operator's action ([`EspressoMachine::maintain`]). [`usage`] says which stage of a drink
//! uses which ingredient: what a drink lost part-way has used.

mod simulated;
pub mod usage;

use std::future::Future;
use std::pin::Pin;

use milo_contracts::bar::{Consumable, FaultKind};
use milo_contracts::events::Ingredients;
use milo_contracts::menu::{Stage, MILK_PLACEHOLDER};
use milo_contracts::Menu;
use tokio::time::Instant;

pub use simulated::SimulatedMachine;

/// Why the machine stopped or refused a drink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineFault {
    /// What went wrong, for the customer and the operator (e.g. "group head fault during
    /// extract", "out of milk").
    pub reason: String,
    /// The machine stays stopped until someone acts (a refill, a `clear`); false for a
    /// transient fault that lost one drink.
    pub stops: bool,
}

impl std::fmt::Display for MachineFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for MachineFault {}

/// What keeps a machine stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// A consumable ran out: it needs a refill.
    Out(Consumable),
    /// The group head faulted: it needs servicing and a `clear`.
    GroupFault,
}

impl Stop {
    /// The reason, as handed back with tickets and published in telemetry.
    pub fn reason(self) -> &'static str {
        match self {
            Stop::Out(Consumable::Water) => "out of water",
            Stop::Out(Consumable::Beans) => "empty hopper",
            Stop::Out(Consumable::Milk) => "out of milk",
            Stop::GroupFault => "group head fault",
        }
    }

    /// The fault in a word or two, for the display (e.g. `LOW WATER`).
    pub fn label(self) -> &'static str {
        match self {
            Stop::Out(Consumable::Water) => "LOW WATER",
            Stop::Out(Consumable::Beans) => "EMPTY HOPPER",
            Stop::Out(Consumable::Milk) => "OUT OF MILK",
            Stop::GroupFault => "GROUP FAULT",
        }
    }

    /// What fixes it: the operator command (`refill` or `clear`).
    pub fn remedy(self) -> &'static str {
        match self {
            Stop::Out(_) => "refill",
            Stop::GroupFault => "clear",
        }
    }

    /// The fault and what fixes it, as the display shows it (e.g. `LOW WATER - refill`; an
    /// ASCII dash, which character displays have).
    pub fn screen(self) -> String {
        format!("{} - {}", self.label(), self.remedy())
    }

    /// As a fault the device reports.
    pub fn fault(self) -> MachineFault {
        MachineFault {
            reason: self.reason().to_owned(),
            stops: true,
        }
    }
}

/// What the machine is doing, as far as taking drinks goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The boiler is heating: drinks wait.
    Warming,
    /// Ready to make drinks.
    Ready,
    /// Stopped until someone acts.
    Stopped(Stop),
}

/// The three consumables, in their units (water ml, beans g, milk ml).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Levels {
    /// Water, ml.
    pub water_ml: u64,
    /// Beans, g.
    pub beans_g: u64,
    /// Milk of any kind, ml.
    pub milk_ml: u64,
}

impl Levels {
    /// What one drink of `recipe` takes from the machine: `water_ml`, `beans_g`, and every
    /// milk ingredient of `menu` (the machine has one milk jug).
    pub fn of_recipe(menu: &Menu, recipe: &Ingredients) -> Levels {
        let is_milk =
            |ing: &str| ing == MILK_PLACEHOLDER || menu.milks.values().any(|m| m.ingredient == ing);
        let mut need = Levels::default();
        for (ing, units) in recipe {
            let slot = match ing.as_str() {
                "water_ml" => &mut need.water_ml,
                "beans_g" => &mut need.beans_g,
                i if is_milk(i) => &mut need.milk_ml,
                _ => continue,
            };
            *slot = slot.saturating_add(*units);
        }
        need
    }

    /// The amount of `c`.
    pub fn get(&self, c: Consumable) -> u64 {
        match c {
            Consumable::Water => self.water_ml,
            Consumable::Beans => self.beans_g,
            Consumable::Milk => self.milk_ml,
        }
    }

    /// The amount of `c`, to change.
    pub fn get_mut(&mut self, c: Consumable) -> &mut u64 {
        match c {
            Consumable::Water => &mut self.water_ml,
            Consumable::Beans => &mut self.beans_g,
            Consumable::Milk => &mut self.milk_ml,
        }
    }

    /// Both added together.
    pub fn plus(self, other: Levels) -> Levels {
        Levels {
            water_ml: self.water_ml.saturating_add(other.water_ml),
            beans_g: self.beans_g.saturating_add(other.beans_g),
            milk_ml: self.milk_ml.saturating_add(other.milk_ml),
        }
    }
}

/// Boiler temperature of a cold machine, °C.
pub const AMBIENT_C: f64 = 20.0;
/// Brewing temperature, °C.
pub const BREW_C: f64 = 93.0;

/// Every consumable, in the order faults are reported.
pub const CONSUMABLES: [Consumable; 3] = [Consumable::Water, Consumable::Beans, Consumable::Milk];

/// What a machine reports about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineStatus {
    /// Warming, ready or stopped.
    pub condition: Condition,
    /// Boiler temperature, °C.
    pub boiler_c: f64,
    /// Shots pulled since the device started.
    pub shots: u64,
    /// What is left.
    pub levels: Levels,
}

/// An operator's action on the machine (from `devices/<id>/commands`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Maintenance {
    /// Inject a fault.
    Fault(FaultKind),
    /// Clear a group fault.
    Clear,
    /// Refill a consumable: by `amount`, or to full.
    Refill(Consumable, Option<u64>),
}

/// What running one stage resolves to.
pub type StageRun<'a> = Pin<Box<dyn Future<Output = Result<(), MachineFault>> + Send + 'a>>;

/// An espresso machine.
pub trait EspressoMachine: Send + 'static {
    /// How the machine is now.
    fn status(&self) -> MachineStatus;

    /// Catches up with what happened by itself since last asked (the boiler warmed, a refill
    /// was done) and says when it next changes by itself, if it knows. The device calls it
    /// at least once a second.
    fn advance(&mut self) -> Option<Instant> {
        None
    }

    /// Whether drinks needing `need` in all can be made now. When the machine is short of a
    /// consumable it stops for a refill and says so: the drinks are refused before they
    /// start.
    fn can_make(&mut self, need: &Levels) -> Result<(), MachineFault>;

    /// Called before the first stage of each drink with its stages and what it takes from
    /// the machine (checked by [`can_make`](EspressoMachine::can_make) just before).
    fn begin_drink(&mut self, stages: &[Stage], draw: &Levels);

    /// Runs `stage`; resolves when it is done, or with the fault that stopped it (the drink
    /// is lost).
    fn run_stage<'a>(&'a mut self, stage: &'a Stage) -> StageRun<'a>;

    /// Applies an operator's action.
    fn maintain(&mut self, action: Maintenance);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipe_takes_water_beans_and_any_milk() {
        let menu = Menu::from_toml(
            r#"
            [ingredients]
            beans_g = "b"
            water_ml = "w"
            oat_milk_ml = "o"
            cups = "c"
            [milks.oat]
            ingredient = "oat_milk_ml"
            [items.x]
            name = "X"
            default_size = "s"
            [items.x.sizes.s]
            price_cents = 1
            recipe = { beans_g = 1 }
            "#,
        )
        .unwrap();
        let recipe = Ingredients::from([
            ("beans_g".into(), 18),
            ("water_ml".into(), 30),
            ("oat_milk_ml".into(), 200),
            ("cups".into(), 1),
        ]);
        let need = Levels::of_recipe(&menu, &recipe);
        let expected = Levels {
            water_ml: 30,
            beans_g: 18,
            milk_ml: 200,
        };
        assert_eq!(need, expected);
        assert_eq!(need.plus(need).get(Consumable::Milk), 400);
        assert_eq!(Stop::Out(Consumable::Water).screen(), "LOW WATER - refill");
        assert!(Stop::GroupFault.fault().stops);
    }
}
