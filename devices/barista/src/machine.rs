//! The espresso machine behind a trait, so real hardware can be plugged in.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use milo_contracts::menu::Stage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Why the machine stopped in the middle of a drink; the drink in progress is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineFault {
    /// What went wrong, for the customer and the operator (e.g. "group head fault during
    /// extract").
    pub reason: String,
}

impl std::fmt::Display for MachineFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for MachineFault {}

/// What running one stage resolves to.
pub type StageRun<'a> = Pin<Box<dyn Future<Output = Result<(), MachineFault>> + Send + 'a>>;

/// An espresso machine: runs one stage of a drink (grind, tamp, extract, steam...).
pub trait EspressoMachine: Send + 'static {
    /// Called before the first stage of each drink with all of its stages. Does nothing
    /// unless the machine needs it (the simulated one plans its faults here).
    fn begin_drink(&mut self, _stages: &[Stage]) {}

    /// Runs `stage`; resolves when it is done, or with the fault that stopped it.
    fn run_stage<'a>(&'a mut self, stage: &'a Stage) -> StageRun<'a>;
}

/// Kinds of simulated faults.
const FAULTS: [&str; 4] = [
    "group head fault",
    "boiler pressure lost",
    "pump failure",
    "water supply lost",
];

/// A simulated machine: each stage takes its menu duration times `speed`; with
/// [`with_faults`](SimulatedMachine::with_faults), some drinks fail part-way.
#[derive(Debug, Clone)]
pub struct SimulatedMachine {
    speed: f64,
    fault_rate: f64,
    rng: StdRng,
    /// Stages of the current drink run so far.
    stage: usize,
    /// The stage of the current drink that faults, and how.
    plan: Option<(usize, &'static str)>,
}

impl SimulatedMachine {
    /// A machine running at `speed` (1.0 real time, 0.0 instant) that never faults.
    pub fn new(speed: f64) -> Self {
        SimulatedMachine {
            speed: speed.max(0.0),
            fault_rate: 0.0,
            rng: StdRng::seed_from_u64(7),
            stage: 0,
            plan: None,
        }
    }

    /// The same machine, where each drink independently faults with probability `fault_rate`
    /// (clamped to 0..=1), deterministically from `seed`. A faulting drink fails at its second
    /// stage (at its only stage if it has one): mid-drink, after a stage already ran.
    pub fn with_faults(self, fault_rate: f64, seed: u64) -> Self {
        let fault_rate = if fault_rate.is_finite() {
            fault_rate.clamp(0.0, 1.0)
        } else {
            0.0
        };
        SimulatedMachine {
            fault_rate,
            rng: StdRng::seed_from_u64(seed),
            ..self
        }
    }

    /// Decides whether the next drink (of `stages` stages) faults, and where.
    fn plan(&mut self, stages: usize) -> Option<(usize, &'static str)> {
        // `gen` is in [0, 1): a rate of 0 never faults, a rate of 1 always does.
        if self.rng.gen::<f64>() >= self.fault_rate {
            return None;
        }
        let kind = FAULTS[self.rng.gen::<u32>() as usize % FAULTS.len()];
        Some((usize::from(stages >= 2), kind))
    }
}

impl EspressoMachine for SimulatedMachine {
    fn begin_drink(&mut self, stages: &[Stage]) {
        self.stage = 0;
        self.plan = self.plan(stages.len());
    }

    fn run_stage<'a>(&'a mut self, stage: &'a Stage) -> StageRun<'a> {
        let n = self.stage;
        self.stage += 1;
        if let Some((_, kind)) = self.plan.filter(|(at, _)| *at == n) {
            self.plan = None;
            let reason = format!("{kind} during {}", stage.name);
            return Box::pin(async move { Err(MachineFault { reason }) });
        }
        let secs = (stage.secs * self.speed).clamp(0.0, 3600.0);
        Box::pin(async move {
            if secs > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages(names: &[&str]) -> Vec<Stage> {
        names
            .iter()
            .map(|n| Stage {
                name: (*n).into(),
                secs: 1.0,
            })
            .collect()
    }

    #[test]
    fn the_fault_plan_is_deterministic_for_a_seed() {
        let drink = stages(&["grind", "tamp", "extract"]);
        let plans = |seed| {
            let mut m = SimulatedMachine::new(0.0).with_faults(0.5, seed);
            (0..64).map(|_| m.plan(drink.len())).collect::<Vec<_>>()
        };
        let a = plans(7);
        assert_eq!(a, plans(7));
        let faults = a.iter().filter(|p| p.is_some()).count();
        assert!((10..=54).contains(&faults), "{faults} of 64 at rate 0.5");
        assert!(a.iter().flatten().all(|(at, _)| *at == 1));
        let mut never = SimulatedMachine::new(0.0).with_faults(0.0, 7);
        assert!((0..64).all(|_| never.plan(3).is_none()));
        let mut nan = SimulatedMachine::new(0.0).with_faults(f64::NAN, 7);
        assert!(nan.plan(3).is_none());
    }

    #[tokio::test]
    async fn rate_one_faults_every_drink_at_its_second_stage() {
        let mut m = SimulatedMachine::new(0.0).with_faults(1.0, 42);
        let drink = stages(&["grind", "tamp", "extract"]);
        for _ in 0..5 {
            m.begin_drink(&drink);
            assert_eq!(m.run_stage(&drink[0]).await, Ok(()));
            let fault = m.run_stage(&drink[1]).await.unwrap_err();
            assert!(fault.reason.ends_with("during tamp"), "{fault}");
        }
        let single = stages(&["prepare"]);
        m.begin_drink(&single);
        assert!(m.run_stage(&single[0]).await.is_err());
        // Without faults, every stage runs.
        let mut ok = SimulatedMachine::new(0.0);
        ok.begin_drink(&drink);
        for s in &drink {
            assert_eq!(ok.run_stage(s).await, Ok(()));
        }
    }
}
