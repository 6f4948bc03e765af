//! A simulated espresso machine: a boiler that warms up, consumables that run out, a
//! barista who refills them, injected faults and seeded transient ones.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use milo_contracts::bar::{Consumable, FaultKind};
use milo_contracts::menu::Stage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::{
    Condition, EspressoMachine, Levels, MachineFault, MachineStatus, Maintenance, StageRun, Stop,
    AMBIENT_C, BREW_C, CONSUMABLES,
};
use crate::config::{scaled, Config};

/// Kinds of seeded (transient) faults.
const FAULTS: [&str; 4] = [
    "group head fault",
    "boiler pressure lost",
    "pump failure",
    "water supply lost",
];

/// The group head: fine, set to fault during the next stage, or faulted until cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Ok,
    Pending,
    Down,
}

/// A simulated machine. Each stage takes its menu duration times `speed`; the boiler warms
/// linearly from 20 °C to 93 °C over `warmup_secs × speed`; a drink takes its recipe from
/// the tanks; an empty tank stops the machine until refilled (by itself after
/// `refill_secs × speed` with `auto_refill`); an injected group fault loses the next drink
/// and stops the machine until cleared; with a `fault_rate`, some drinks fail part-way and
/// the machine goes on.
#[derive(Debug, Clone)]
pub struct SimulatedMachine {
    speed: f64,
    started: Instant,
    warmup: Duration,
    capacity: Levels,
    level: Levels,
    out: BTreeSet<Consumable>,
    /// Automatic refills under way, and when they are done.
    refills: BTreeMap<Consumable, Instant>,
    auto_refill: Option<Duration>,
    group: Group,
    shots: u64,
    fault_rate: f64,
    rng: StdRng,
    /// Stages of the current drink run so far.
    stage: usize,
    /// The stage of the current drink that faults, and how.
    plan: Option<(usize, &'static str)>,
}

impl SimulatedMachine {
    /// A machine as `config` describes it, full, starting to warm up now, with the faults
    /// of `config.inject` applied.
    pub fn new(config: &Config) -> Self {
        let capacity = Levels {
            water_ml: config.water_ml,
            beans_g: config.beans_g,
            milk_ml: config.milk_ml,
        };
        let fault_rate = if config.fault_rate.is_finite() {
            config.fault_rate.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let mut machine = SimulatedMachine {
            speed: config.speed.max(0.0),
            started: Instant::now(),
            warmup: scaled(config.warmup_secs, config.speed),
            capacity,
            level: capacity,
            out: BTreeSet::new(),
            refills: BTreeMap::new(),
            auto_refill: config
                .auto_refill
                .then(|| scaled(config.refill_secs, config.speed)),
            group: Group::Ok,
            shots: 0,
            fault_rate,
            rng: StdRng::seed_from_u64(config.seed),
            stage: 0,
            plan: None,
        };
        for kind in &config.inject {
            machine.maintain(Maintenance::Fault(*kind));
        }
        machine
    }

    /// Decides whether the next drink (of `stages` stages) faults, and where: at its second
    /// stage (its only one if it has one), mid-drink after a stage already ran.
    fn plan(&mut self, stages: usize) -> Option<(usize, &'static str)> {
        // `gen` is in [0, 1): a rate of 0 never faults, a rate of 1 always does.
        if self.rng.gen::<f64>() >= self.fault_rate {
            return None;
        }
        let kind = FAULTS[self.rng.gen::<u32>() as usize % FAULTS.len()];
        Some((usize::from(stages >= 2), kind))
    }

    /// `c` ran out: the machine stops, and the barista is on the way if refills are automatic.
    fn run_out(&mut self, c: Consumable) {
        self.out.insert(c);
        if let Some(after) = self.auto_refill {
            self.refills
                .entry(c)
                .or_insert_with(|| Instant::now() + after);
        }
    }

    fn refill(&mut self, c: Consumable, amount: Option<u64>) {
        let cap = self.capacity.get(c);
        let level = self.level.get_mut(c);
        *level = amount.map_or(cap, |a| level.saturating_add(a).min(cap));
        if *level > 0 {
            self.out.remove(&c);
            self.refills.remove(&c);
        }
    }

    fn stop(&self) -> Option<Stop> {
        if self.group == Group::Down {
            return Some(Stop::GroupFault);
        }
        CONSUMABLES
            .into_iter()
            .find(|c| self.out.contains(c))
            .map(Stop::Out)
    }
}

impl EspressoMachine for SimulatedMachine {
    fn status(&self) -> MachineStatus {
        let warm = self.started.elapsed();
        let boiler_c = if warm >= self.warmup {
            BREW_C
        } else {
            AMBIENT_C + (BREW_C - AMBIENT_C) * warm.as_secs_f64() / self.warmup.as_secs_f64()
        };
        let condition = match self.stop() {
            Some(stop) => Condition::Stopped(stop),
            None if warm < self.warmup => Condition::Warming,
            None => Condition::Ready,
        };
        MachineStatus {
            condition,
            boiler_c,
            shots: self.shots,
            levels: self.level,
        }
    }

    fn advance(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let done: Vec<Consumable> = self
            .refills
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(c, _)| *c)
            .collect();
        for c in done {
            self.refill(c, None);
        }
        let warm_at = self.started + self.warmup;
        let warming = (warm_at > now).then_some(warm_at);
        self.refills.values().copied().chain(warming).min()
    }

    fn can_make(&mut self, need: &Levels) -> Result<(), MachineFault> {
        if let Some(stop) = self.stop() {
            return Err(stop.fault());
        }
        if let Some(c) = CONSUMABLES
            .into_iter()
            .find(|c| self.level.get(*c) < need.get(*c))
        {
            self.run_out(c);
            return Err(Stop::Out(c).fault());
        }
        Ok(())
    }

    fn begin_drink(&mut self, stages: &[Stage], draw: &Levels) {
        self.stage = 0;
        self.plan = self.plan(stages.len());
        for c in CONSUMABLES {
            let level = self.level.get_mut(c);
            *level = level.saturating_sub(draw.get(c));
            // An empty tank stops the machine once this drink is done.
            if *level == 0 && draw.get(c) > 0 {
                self.run_out(c);
            }
        }
    }

    fn run_stage<'a>(&'a mut self, stage: &'a Stage) -> StageRun<'a> {
        let n = self.stage;
        self.stage += 1;
        let fault = if self.group == Group::Pending {
            self.group = Group::Down;
            Some(MachineFault {
                reason: format!("{} during {}", Stop::GroupFault.reason(), stage.name),
                stops: true,
            })
        } else {
            let planned = self.plan.filter(|(at, _)| *at == n).map(|(_, kind)| kind);
            planned.map(|kind| {
                self.plan = None;
                MachineFault {
                    reason: format!("{kind} during {}", stage.name),
                    stops: false,
                }
            })
        };
        if let Some(fault) = fault {
            return Box::pin(async move { Err(fault) });
        }
        if stage.name == "extract" {
            self.shots += 1;
        }
        let took = scaled(stage.secs, self.speed).min(Duration::from_secs(3600));
        Box::pin(async move {
            if !took.is_zero() {
                tokio::time::sleep(took).await;
            }
            Ok(())
        })
    }

    fn maintain(&mut self, action: Maintenance) {
        match action {
            Maintenance::Fault(FaultKind::LowWater) => {
                self.level.water_ml = 0;
                self.run_out(Consumable::Water);
            }
            Maintenance::Fault(FaultKind::EmptyHopper) => {
                self.level.beans_g = 0;
                self.run_out(Consumable::Beans);
            }
            Maintenance::Fault(FaultKind::GroupFault) => {
                if self.group == Group::Ok {
                    self.group = Group::Pending;
                }
            }
            Maintenance::Clear => self.group = Group::Ok,
            Maintenance::Refill(c, amount) => self.refill(c, amount),
        }
    }
}

#[cfg(test)]
mod tests;
