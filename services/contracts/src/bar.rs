//! The bar's vocabulary: tickets handed back, bumped and recalled, ticket ageing, estimated
//! ready times, commands to a barista device and its retained telemetry.
//!
//! A ticket is handed to one station at a time; each hand-out has an `attempt` number
//! (`TicketAssigned::attempt`), so that a station's report about an earlier attempt (a
//! station that comes back after its tickets went elsewhere) changes nothing.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::envelope::Event;
use crate::events::Ingredients;
use crate::topics;

macro_rules! event {
    ($ty:ty, $name:literal, $topic:expr) => {
        impl Event for $ty {
            const TYPE: &'static str = $name;
            const VERSION: u32 = 1;
            const TOPIC: &'static str = $topic;
        }
    };
}

/// A station hands a ticket back (`tickets/returned`): its machine faulted, it restarted with
/// the ticket unfinished, or it was told the ticket went elsewhere. The barista service gives
/// it to another station, or compensates the order when none can make it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketReturned {
    /// The order.
    pub order_id: Uuid,
    /// The station handing it back.
    pub station: String,
    /// The hand-out it answers (`TicketAssigned::attempt`).
    #[serde(default)]
    pub attempt: u32,
    /// Why (e.g. "group head fault during extract", "out of water", "station restarted").
    pub reason: String,
    /// Ingredients used on it and thrown away: what the stages its drinks finished used (a
    /// drink lost at its grind used nothing). Inventory takes them off stock.
    #[serde(default, skip_serializing_if = "Ingredients::is_empty")]
    pub wasted: Ingredients,
    /// The station can take no tickets until its fault is cleared (its telemetry says when).
    #[serde(default)]
    pub station_down: bool,
    /// Drinks begun on it (the first one begun announced `orders/started`), whether or not
    /// they used anything yet.
    #[serde(default)]
    pub begun: u32,
}
event!(TicketReturned, "TicketReturned", topics::TICKETS_RETURNED);

impl TicketReturned {
    /// Whether a drink of it was begun at the station. A hand-back from a device older than
    /// [`TicketReturned::begun`] says so only by its waste.
    pub fn began(&self) -> bool {
        self.begun > 0 || !self.wasted.is_empty()
    }
}

/// Barista service → a station (on `devices/<id>/tickets`): the ticket went to another
/// station (this one went offline or was slow to answer). The station drops it if it has not
/// started it; a drink already started is finished (and its `orders/prepared` counts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketMoved {
    /// The order.
    pub order_id: Uuid,
    /// The station it left.
    pub station: String,
    /// The hand-out it ends (`TicketAssigned::attempt` at this station).
    pub attempt: u32,
}
event!(TicketMoved, "TicketMoved", topics::DEVICE_TICKETS_ALL);

/// A station bumped a recalled ticket again (`tickets/bumped`): back to ready for pickup.
/// The first bump of a ticket is `orders/prepared`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketBumped {
    /// The order.
    pub order_id: Uuid,
    /// The station.
    pub station: String,
}
event!(TicketBumped, "TicketBumped", topics::TICKETS_BUMPED);

/// A station recalled its last bumped ticket (`tickets/recalled`): the drink is not right
/// after all; it is back on the station's rail until bumped again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRecalled {
    /// The order.
    pub order_id: Uuid,
    /// The station.
    pub station: String,
}
event!(TicketRecalled, "TicketRecalled", topics::TICKETS_RECALLED);

/// How late a ticket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgeLevel {
    /// Younger than the warn threshold.
    Fresh,
    /// Past the warn threshold.
    Warn,
    /// Past the late threshold.
    Late,
}

impl AgeLevel {
    /// The level of a ticket `age_secs` old, for thresholds `warn_secs` and `late_secs`.
    pub fn of(age_secs: u64, warn_secs: u64, late_secs: u64) -> AgeLevel {
        if age_secs >= late_secs {
            AgeLevel::Late
        } else if age_secs >= warn_secs {
            AgeLevel::Warn
        } else {
            AgeLevel::Fresh
        }
    }
}

/// A ticket waited past a threshold (`tickets/aged`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketAged {
    /// The order.
    pub order_id: Uuid,
    /// Where it waits (none: no station online).
    pub station: Option<String>,
    /// Warn or late.
    pub level: AgeLevel,
    /// Seconds since it was queued.
    pub age_secs: u64,
}
event!(TicketAged, "TicketAged", topics::TICKETS_AGED);

/// The estimated ready time of an order (`orders/eta`), published when its ticket is queued
/// and again when the estimate moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderEta {
    /// The order.
    pub order_id: Uuid,
    /// The station it is queued at (none: waiting for a station).
    pub station: Option<String>,
    /// Tickets ahead of it at that station.
    pub position: u32,
    /// Seconds from now until it should be ready.
    pub wait_secs: u64,
    /// When it should be ready.
    #[serde(with = "time::serde::rfc3339")]
    pub ready_at: OffsetDateTime,
}
event!(OrderEta, "OrderEta", topics::ORDERS_ETA);

/// A consumable of the espresso machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consumable {
    /// The water tank, millilitres.
    Water,
    /// The bean hopper, grams.
    Beans,
    /// The milk jug, millilitres.
    Milk,
}

/// A fault that can be injected into a machine (config or `devices/<id>/commands`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The water tank runs dry: no drink starts until refilled.
    LowWater,
    /// The bean hopper is empty: no drink starts until refilled.
    EmptyHopper,
    /// The group head faults during the next (or current) drink, which is lost; cleared by
    /// `clear`.
    GroupFault,
}

/// A command to one barista device (`devices/<id>/commands`), from the barista at the bar,
/// an operator (`milo barista …`) or a test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeviceCommand {
    /// Mark the oldest made ticket waiting for a bump as done (`orders/prepared`, or
    /// `tickets/bumped` after a recall).
    Bump,
    /// Undo the last bump: that ticket is back on the rail (`tickets/recalled`).
    Recall,
    /// Inject a fault.
    Fault {
        /// Which.
        kind: FaultKind,
    },
    /// Clear a group fault (the machine was serviced).
    Clear,
    /// Refill a consumable (to full when `amount` is absent).
    Refill {
        /// Which.
        consumable: Consumable,
        /// How much to add, in its unit.
        #[serde(default)]
        amount: Option<u64>,
    },
}
event!(DeviceCommand, "DeviceCommand", topics::DEVICE_COMMANDS_ALL);

/// What a device is doing, in its telemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceState {
    /// The boiler is heating.
    Warming,
    /// Ready, nothing to make.
    Idle,
    /// Making a drink.
    Making,
    /// Stopped by a fault: takes no tickets until cleared or refilled.
    Fault,
}

/// Retained telemetry of a device (`devices/<id>/telemetry`). Plain JSON, not an envelope:
/// it is the device's current state (like presence), not an event, and is published at a
/// modest rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Telemetry {
    /// The station.
    pub station: String,
    /// What it is doing.
    pub state: DeviceState,
    /// Why it is stopped, in `Fault`.
    #[serde(default)]
    pub fault: Option<String>,
    /// Boiler temperature, °C.
    pub boiler_c: f64,
    /// Shots pulled since the device started.
    pub shots: u64,
    /// Water left, ml.
    pub water_ml: u64,
    /// Beans left, g.
    pub beans_g: u64,
    /// Milk left, ml.
    pub milk_ml: u64,
    /// Tickets waiting at the station (the one being made included).
    pub queue: u32,
    /// When measured.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl Telemetry {
    /// True when the station can take tickets.
    pub fn accepting(&self) -> bool {
        self.state != DeviceState::Fault
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Envelope, RawEnvelope};

    #[test]
    fn device_commands_read_as_operators_write_them() {
        let c: DeviceCommand =
            serde_json::from_str(r#"{"command":"refill","consumable":"water"}"#).unwrap();
        assert_eq!(
            c,
            DeviceCommand::Refill {
                consumable: Consumable::Water,
                amount: None
            }
        );
        let c: DeviceCommand =
            serde_json::from_str(r#"{"command":"fault","kind":"group_fault"}"#).unwrap();
        assert_eq!(
            c,
            DeviceCommand::Fault {
                kind: FaultKind::GroupFault
            }
        );
        assert!(serde_json::from_str::<DeviceCommand>(r#"{"command":"explode"}"#).is_err());
        let env = Envelope::new("ops", Uuid::now_v7(), None, DeviceCommand::Bump);
        let raw = RawEnvelope::parse(&env.to_json()).unwrap();
        assert_eq!(raw.decode::<DeviceCommand>().unwrap(), DeviceCommand::Bump);
    }

    #[test]
    fn age_levels_follow_the_thresholds() {
        assert_eq!(AgeLevel::of(10, 180, 300), AgeLevel::Fresh);
        assert_eq!(AgeLevel::of(180, 180, 300), AgeLevel::Warn);
        assert_eq!(AgeLevel::of(301, 180, 300), AgeLevel::Late);
    }
}
