//! The device's settings (`[device]`) and the ticket-age thresholds it shows.

use milo_contracts::bar::{AgeLevel, FaultKind};
use serde::{Deserialize, Serialize};

/// Barista device settings (`[device]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Station id: presence `devices/<station>/status`, tickets `devices/<station>/tickets`.
    pub station: String,
    /// Multiplies every stage duration, the warm-up and the refills: 1.0 is real time, 0.0
    /// is instant.
    pub speed: f64,
    /// `milo barista` draws the display on standard output (`milo up` ignores this and shows
    /// it only with `--display`).
    pub display: bool,
    /// Chance (0.0 to 1.0) that the simulated machine faults during a drink; 0.0 never. These
    /// faults are transient: the drink is lost, the station keeps working.
    pub fault_rate: f64,
    /// Seed of the simulated machine's faults: the same seed faults the same drinks.
    pub seed: u64,
    /// Water tank of the simulated machine, ml.
    pub water_ml: u64,
    /// Bean hopper of the simulated machine, g.
    pub beans_g: u64,
    /// Milk jug of the simulated machine (any milk), ml.
    pub milk_ml: u64,
    /// The simulated barista refills an empty consumable by itself after `refill_secs`;
    /// false: the station stays down until a `refill` command.
    pub auto_refill: bool,
    /// How long an automatic refill takes, seconds at speed 1.0.
    pub refill_secs: f64,
    /// A made drink is bumped (ready for pickup) at once; false: it waits on the rail for a
    /// `bump` command.
    pub auto_bump: bool,
    /// Telemetry (`devices/<id>/telemetry`) is published this often, and at once on a
    /// state change. Seconds.
    pub telemetry_secs: u64,
    /// The boiler's warm-up at start, seconds at speed 1.0.
    pub warmup_secs: f64,
    /// Faults injected into the simulated machine at start (`low_water`, `empty_hopper`,
    /// `group_fault`).
    pub inject: Vec<FaultKind>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            station: "bar-1".into(),
            speed: 0.1,
            display: true,
            fault_rate: 0.0,
            seed: 7,
            water_ml: 20_000,
            beans_g: 5_000,
            milk_ml: 20_000,
            auto_refill: true,
            refill_secs: 60.0,
            auto_bump: true,
            telemetry_secs: 5,
            warmup_secs: 120.0,
            inject: Vec::new(),
        }
    }
}

/// When a ticket counts as waiting long: the barista service's `warn_secs` and `late_secs`,
/// so the display and the service agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ageing {
    /// Seconds after which a ticket is flagged `!`.
    pub warn_secs: u64,
    /// Seconds after which a ticket is flagged `!!`.
    pub late_secs: u64,
}

impl Default for Ageing {
    fn default() -> Self {
        Ageing {
            warn_secs: 180,
            late_secs: 300,
        }
    }
}

impl Ageing {
    /// The level of a ticket `age_secs` old.
    pub fn level(&self, age_secs: u64) -> AgeLevel {
        AgeLevel::of(age_secs, self.warn_secs, self.late_secs)
    }
}

/// `secs` at `speed`, as a duration (0 when either is 0, negative or not finite; at most a
/// day, so a typo cannot stall the device forever).
pub(crate) fn scaled(secs: f64, speed: f64) -> std::time::Duration {
    let s = secs * speed;
    if s.is_finite() && s > 0.0 {
        std::time::Duration::from_secs_f64(s.min(86_400.0))
    } else {
        std::time::Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_read_back_and_unknown_keys_are_refused() {
        let c: Config = toml_like(r#"{"inject":["low_water","group_fault"],"speed":0.0}"#);
        assert_eq!(c.inject, vec![FaultKind::LowWater, FaultKind::GroupFault]);
        assert!(c.auto_bump && c.auto_refill);
        assert_eq!(c.telemetry_secs, 5);
        let bad = serde_json::from_str::<Config>(r#"{"water":1}"#);
        assert!(bad.is_err());
    }

    #[test]
    fn durations_scale_and_stay_sane() {
        assert_eq!(scaled(60.0, 0.0), std::time::Duration::ZERO);
        assert_eq!(scaled(60.0, 0.5), std::time::Duration::from_secs(30));
        assert_eq!(scaled(f64::NAN, 1.0), std::time::Duration::ZERO);
        assert_eq!(scaled(-3.0, 1.0), std::time::Duration::ZERO);
        assert_eq!(scaled(1e12, 1.0), std::time::Duration::from_secs(86_400));
    }

    fn toml_like(json: &str) -> Config {
        serde_json::from_str(json).unwrap()
    }
}
