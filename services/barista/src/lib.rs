//! Milo's barista service: queues every order to make as a ticket and hands it to the barista
//! station (device) that will make it soonest, on `devices/<id>/tickets`.
//!
//! A station is usable while its retained presence (`devices/<id>/status`) says `online` and
//! its retained telemetry (`devices/<id>/telemetry`) says it accepts tickets. Each ticket goes
//! to the usable station whose queue, with the ticket added, finishes first by a
//! preparation-time model: the menu's stage times of each drink times the station's speed
//! factor, learned from the `prep_ms` of the drinks it made (ties: fewer tickets, then the
//! station id). With no usable station a ticket waits, and waiting tickets go out as soon as
//! one is usable. Each hand-out is an attempt: a station that goes offline has its open
//! tickets moved (`TicketMoved` to it, a new attempt elsewhere); a station that hands a ticket
//! back (`tickets/returned`: a fault, or a restart) has it reassigned, or the order
//! compensated (`tickets/failed`, by `barista.on_fault`, or when no station can make it).
//! Returns about an earlier attempt change nothing.
//!
//! Each order's estimated ready time goes out on `orders/eta` when it is queued and again
//! when its station's queue moves it by `barista.eta_step_secs` or more; a ticket not made
//! `warn_secs` / `late_secs` after it was queued is announced on `tickets/aged`. A made ticket
//! leaves the queue (`orders/prepared`, `tickets/bumped`); a recalled one comes back
//! (`tickets/recalled`).
//!
//! What to make comes from `orders/ready` in choreography and from `commands/barista/prepare`
//! in orchestration ([`SagaMode`]); the handling is the same. In both modes a withdrawal
//! (`commands/barista/withdraw`) takes a ticket back if its drink is not started: this service
//! answers `tickets/withdrawn` for tickets not at a station (a tombstone makes a later order
//! ignored), made, or failed; a ticket at a station is forwarded to it, since the device
//! decides whether its drink is started.
//!
//! # Layout
//! - [`ticket`]: the [`Ticket`] and [`Slot`] records and the store layout.
//! - [`model`]: the preparation-time model: estimates, routing choice, learning (pure).
//! - [`station`]: [`Station`] records and the `Bar`, a handler's view of the queues.
//! - [`service`]: [`BaristaService`]: event routing, presence, telemetry, the tick.
//! - `flow`: made to order, started, prepared, bumped, recalled.
//! - `route`: hand-outs, waiting tickets, moving a station's tickets.
//! - [`handback`]: hand-backs and failures, and the [`handback::decide`] rule.
//! - [`eta`]: estimated ready times.
//! - [`ageing`]: the ageing index and `tickets/aged`.
//! - [`withdraw`]: withdrawals and the stations' answers.
#![forbid(unsafe_code)]

pub mod ageing;
pub mod eta;
mod flow;
pub mod handback;
pub mod model;
mod route;
pub mod service;
pub mod station;
pub mod ticket;
pub mod withdraw;

use std::sync::Arc;

use milo_bus::{Rejection, RunDeps, Shutdown};
use milo_contracts::{Menu, SagaMode};
use serde::{Deserialize, Serialize};

pub use service::BaristaService;
pub use station::Station;
pub use ticket::{Slot, Ticket};

/// Local commands of the barista service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Every `tick_ms`: announce aged tickets, hand waiting tickets to usable stations.
    Tick,
}

/// What happens to a ticket whose station faulted mid-drink (`barista.on_fault`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultPolicy {
    /// Hand it to another station that can make it; compensate the order when none can.
    #[default]
    Reassign,
    /// Compensate the order at once (refund, release what was not used).
    Compensate,
}

/// Barista service settings (`[barista]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// A ticket handed back by a faulted station: reassign or compensate.
    pub on_fault: FaultPolicy,
    /// A ticket older than this is flagged `warn` (seconds since queued).
    pub warn_secs: u64,
    /// A ticket older than this is flagged `late`.
    pub late_secs: u64,
    /// The stations' speed factor assumed before any drink was timed. Unset (the default):
    /// the store's `device.speed`, the factor its simulated machine runs at
    /// ([`Config::or_device_speed`]); set it where the stations run at another speed.
    pub speed: Option<f64>,
    /// An order's estimate is published again when it moves by at least this many seconds.
    pub eta_step_secs: u64,
    /// The least time between two ticks, milliseconds: a ticket's age is checked when it is
    /// due, tickets waiting for a station every `tick_ms`.
    pub tick_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            on_fault: FaultPolicy::Reassign,
            warn_secs: 180,
            late_secs: 300,
            speed: None,
            eta_step_secs: 5,
            tick_ms: 1000,
        }
    }
}

impl Config {
    /// This configuration with the speed assumed for stations never timed: `speed` if set,
    /// else `device_speed` (the store's `device.speed`).
    pub fn or_device_speed(mut self, device_speed: f64) -> Config {
        self.speed = self.speed.or(Some(device_speed));
        self
    }

    /// The speed factor of a station never timed: `speed`, or real time (1.0, the menu's own
    /// stage times) when nothing says otherwise.
    pub fn assumed_speed(&self) -> f64 {
        self.speed.unwrap_or(1.0)
    }
}

/// Runs the barista service in saga `mode` until `shutdown`. Fill in the speed the stations
/// are assumed to run at first with [`Config::or_device_speed`].
pub async fn run(
    config: Config,
    mode: SagaMode,
    menu: Arc<Menu>,
    deps: RunDeps<Command>,
    shutdown: Shutdown,
) -> Result<(), Rejection> {
    milo_bus::run(BaristaService::new(config, mode, menu), deps, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stations_are_assumed_at_the_devices_speed_unless_set() {
        assert_eq!(Config::default().or_device_speed(0.5).assumed_speed(), 0.5);
        let set = Config {
            speed: Some(0.2),
            ..Config::default()
        };
        assert_eq!(set.or_device_speed(0.5).assumed_speed(), 0.2);
        assert_eq!(Config::default().assumed_speed(), 1.0, "the menu's times");
    }
}
