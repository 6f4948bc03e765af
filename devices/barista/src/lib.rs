//! Milo's barista device: the bar station that makes the drinks, and the authority on
//! whether a drink is started.
//!
//! It takes tickets from `devices/<id>/tickets` and keeps them in its own store; a worker
//! drives an [`EspressoMachine`] through each drink's stages from the menu and shows progress
//! on a [`Display`]. Before a ticket's first drink the device records it started and
//! publishes `orders/started`; from then on a withdrawal (`WithdrawTicket`, forwarded on the
//! same topic by the barista service) is refused, before then it is granted, either way
//! answered on `tickets/withdrawn`. A made ticket is bumped (`orders/prepared`) at once, or
//! waits on the rail for a `bump` on `devices/<id>/commands` (`device.auto_bump = false`);
//! `recall` puts the last bumped ticket back (`tickets/recalled`, then `tickets/bumped`).
//!
//! A station never fails an order itself: it hands the ticket back on `tickets/returned`
//! with the drinks begun as waste — when the machine faults mid-drink, when it cannot start
//! a drink (a consumable ran out, the machine is stopped: every queued ticket goes back, and
//! every ticket that arrives until it is ready again), and at start-up for every ticket left
//! queued or started (never resumed: the barista service may have moved it). A
//! `TicketMoved` drops a queued ticket; a started drink is finished. Every answer is
//! recorded and sent again unchanged on a repeat; a newer `attempt` of a ticket handed back
//! or moved is a new job. The machine's state goes out as retained plain JSON
//! [`Telemetry`](milo_contracts::bar::Telemetry) on `devices/<id>/telemetry` every
//! `telemetry_secs` and at once when it changes; presence is `devices/<id>/status`.
//!
//! # Layout
//! - [`config`]: [`Config`] (`[device]`) and [`Ageing`], the ticket-age thresholds.
//! - [`machine`]: the [`EspressoMachine`] trait, its [`MachineStatus`] and [`Levels`], and
//!   the [`SimulatedMachine`] (warm-up, consumables, refills, injected and seeded faults).
//! - [`display`]: the [`Display`] trait, the 20×4 [`Frame`] rendered from a [`View`], the
//!   terminal and in-memory displays.
//! - [`job`]: the [`Job`] record, its [`JobState`], and the messages between the service
//!   loop and the worker.
//! - [`service`]: [`DeviceService`]: tickets, moves, withdrawals, commands, hand-backs,
//!   telemetry.
//! - `worker`: the task that makes the jobs at the machine.
//! - [`remote`]: `milo barista <command>`: commands to a running station, and its status.
#![forbid(unsafe_code)]

pub mod config;
pub mod display;
pub mod job;
pub mod machine;
pub mod remote;
pub mod service;
#[cfg(test)]
mod test_menu;
mod worker;

use std::sync::Arc;

use milo_bus::{Rejection, RunDeps, Shutdown};
use milo_contracts::{topics, Menu};

pub use config::{Ageing, Config};
pub use display::{Display, Frame, MemoryDisplay, TerminalDisplay, View};
pub use job::{Command, Job, JobState};
pub use machine::{EspressoMachine, Levels, MachineFault, MachineStatus, SimulatedMachine};
pub use service::DeviceService;

/// Service name of a station (client id `milo-<name>`, data directory).
pub fn service_name(station: &str) -> String {
    format!("barista-device-{station}")
}

/// Runs a barista device until `shutdown`; ticket ages on its display are flagged by
/// `ageing` (the barista service's thresholds).
pub async fn run<M: EspressoMachine, D: Display>(
    config: Config,
    ageing: Ageing,
    mut deps: RunDeps<Command>,
    menu: Arc<Menu>,
    machine: M,
    display: D,
    shutdown: Shutdown,
) -> Result<(), Rejection> {
    deps.presence = Some(topics::device_status(&config.station));
    let device = DeviceService::new(config, ageing, menu, machine, display, shutdown.clone());
    milo_bus::run(device, deps, shutdown).await
}
