//! Milo's barista device: the bar station that makes the drinks.
//!
//! It takes tickets from `devices/<id>/tickets`, keeps them in its own store (a restart
//! resumes them), drives an [`EspressoMachine`] through each drink's stages from the menu,
//! shows progress on a [`Display`], and publishes `orders/prepared`. Its retained presence
//! `devices/<id>/status` tells the barista service where to send tickets.
//!
//! # Layout
//! - [`machine`]: the [`EspressoMachine`] trait and the simulated machine.
//! - [`display`]: the [`Display`] trait, the 20×4 [`Frame`], terminal and in-memory displays.
//! - [`service`]: tickets, the worker and handlers.
#![forbid(unsafe_code)]

pub mod display;
pub mod machine;
pub mod service;

use std::sync::Arc;

use milo_bus::{Rejection, RunDeps, Shutdown};
use milo_contracts::{topics, Menu};
use serde::{Deserialize, Serialize};

pub use display::{Display, Frame, MemoryDisplay, TerminalDisplay};
pub use machine::{EspressoMachine, SimulatedMachine};
pub use service::{Command, DeviceService, Job};

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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            station: "bar-1".into(),
            speed: 0.1,
            display: true,
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
