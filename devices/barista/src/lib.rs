//! Milo's barista device: the bar station that makes the drinks, and the authority on
//! whether a drink is started.
//!
//! It takes tickets from `devices/<id>/tickets`, keeps them in its own store (a restart
//! resumes them), drives an [`EspressoMachine`] through each drink's stages from the menu,
//! shows progress on a [`Display`], and publishes `orders/prepared`. Before a ticket's first
//! drink it records the ticket started and publishes `orders/started`; from then on a
//! withdrawal (`WithdrawTicket`, forwarded on the same topic by the barista service) is
//! refused, before then it is granted, either way answered on `tickets/withdrawn`. If the
//! machine faults mid-ticket, the device publishes `tickets/failed` with the ingredients used
//! (the drinks finished and the one poured away) and shows the fault on its display. Every
//! answer is recorded and sent again unchanged on a repeat. Its retained presence
//! `devices/<id>/status` tells the barista service where to send tickets.
//!
//! # Layout
//! - [`machine`]: the [`EspressoMachine`] trait, [`MachineFault`], the simulated machine
//!   (with seeded faults).
//! - [`display`]: the [`Display`] trait, the 20×4 [`Frame`], terminal and in-memory displays.
//! - [`job`]: the [`Job`] record, its [`JobState`], and the worker's [`Command`]s.
//! - [`service`]: [`DeviceService`]: tickets, withdrawals and the worker's requests.
//! - `worker`: the task that makes the jobs at the machine.
#![forbid(unsafe_code)]

pub mod display;
pub mod job;
pub mod machine;
pub mod service;
mod worker;

use std::sync::Arc;

use milo_bus::{Rejection, RunDeps, Shutdown};
use milo_contracts::{topics, Menu};
use serde::{Deserialize, Serialize};

pub use display::{Display, Frame, MemoryDisplay, TerminalDisplay};
pub use job::{Command, Job, JobState};
pub use machine::{EspressoMachine, MachineFault, SimulatedMachine};
pub use service::DeviceService;

/// Barista device settings (`[device]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Station id: presence `devices/<station>/status`, tickets `devices/<station>/tickets`.
    pub station: String,
    /// Multiplies every stage duration: 1.0 is real time, 0.0 is instant.
    pub speed: f64,
    /// Show the display on the terminal.
    pub display: bool,
    /// Chance (0.0 to 1.0) that the simulated machine faults during a drink; 0.0 never.
    pub fault_rate: f64,
    /// Seed of the simulated machine's faults: the same seed faults the same drinks.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            station: "bar-1".into(),
            speed: 0.1,
            display: true,
            fault_rate: 0.0,
            seed: 7,
        }
    }
}

/// Service name of a station (client id `milo-<name>`, data directory).
pub fn service_name(station: &str) -> String {
    format!("barista-device-{station}")
}

/// Runs a barista device until `shutdown`.
pub async fn run<M: EspressoMachine, D: Display>(
    config: Config,
    mut deps: RunDeps<Command>,
    menu: Arc<Menu>,
    machine: M,
    display: D,
    shutdown: Shutdown,
) -> Result<(), Rejection> {
    deps.presence = Some(topics::device_status(&config.station));
    let device = DeviceService::new(config.station, menu, machine, display, shutdown.clone());
    milo_bus::run(device, deps, shutdown).await
}
