//! The espresso machine behind a trait, so real hardware can be plugged in.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use milo_contracts::menu::Stage;

/// An espresso machine: runs one stage of a drink (grind, tamp, extract, steam...).
pub trait EspressoMachine: Send + 'static {
    /// Runs `stage`; resolves when it is done.
    fn run_stage<'a>(
        &'a mut self,
        stage: &'a Stage,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

/// A simulated machine: each stage takes its menu duration times `speed`.
#[derive(Debug, Clone)]
pub struct SimulatedMachine {
    speed: f64,
}

impl SimulatedMachine {
    /// A machine running at `speed` (1.0 real time, 0.0 instant).
    pub fn new(speed: f64) -> Self {
        SimulatedMachine {
            speed: speed.max(0.0),
        }
    }
}

impl EspressoMachine for SimulatedMachine {
    fn run_stage<'a>(
        &'a mut self,
        stage: &'a Stage,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        let secs = (stage.secs * self.speed).clamp(0.0, 3600.0);
        Box::pin(async move {
            if secs > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            }
        })
    }
}
