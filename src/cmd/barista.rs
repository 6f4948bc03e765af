//! `milo barista [--station ID] [--mqtt ADDR] bump|recall|fault|clear|refill|status`: commands
//! to a running station (`devices/<id>/commands`, confirmed by the broker's PUBACK) and its
//! retained presence and telemetry.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Subcommand, ValueEnum};
use milo::MiloConfig;
use milo_barista_device::remote::{self, StationStatus};
use milo_contracts::bar::{Consumable, DeviceCommand, FaultKind};
use milo_contracts::dead_letters::OPERATOR;
use milo_contracts::policy::Role;
use time::format_description::well_known::Rfc3339;

/// How long to wait for the broker.
const LIMIT: Duration = Duration::from_secs(10);
/// How long retained messages may take to arrive after subscribing.
const GRACE: Duration = Duration::from_millis(700);
/// Exit code when the broker cannot be reached or does not confirm (as `milo pos`).
const EX_UNREACHABLE: u8 = 3;
/// Exit code for a bad station id (sysexits EX_USAGE).
const EX_USAGE: u8 = 64;

/// Commands to a running barista station (`devices/<id>/commands`).
#[derive(Subcommand)]
pub enum BaristaCommand {
    /// Mark the oldest made ticket done (ready for pickup).
    Bump,
    /// Undo the last bump: the ticket goes back on the station's rail.
    Recall,
    /// Inject a fault into the station's machine.
    Fault {
        /// Which fault.
        kind: Injected,
    },
    /// Clear a group fault (the machine was serviced).
    Clear,
    /// Refill a consumable of the machine.
    Refill {
        /// Which consumable.
        consumable: Tank,
        /// How much to add (ml of water or milk, g of beans); to full when absent.
        #[arg(long)]
        amount: Option<u64>,
    },
    /// Print the station's presence and its last telemetry.
    Status,
}

/// Faults that can be injected.
#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Injected {
    /// The water tank runs dry.
    LowWater,
    /// The bean hopper is empty.
    EmptyHopper,
    /// The group head faults during the next drink.
    GroupFault,
}

/// Consumables that can be refilled.
#[derive(Clone, Copy, ValueEnum)]
pub enum Tank {
    /// The water tank.
    Water,
    /// The bean hopper.
    Beans,
    /// The milk jug.
    Milk,
}

/// Sends `command` to `station` (default `device.station`) through the broker at `mqtt`
/// (default `mqtt.address`).
pub async fn run(
    command: BaristaCommand,
    station: Option<String>,
    mqtt: Option<String>,
    mut config: MiloConfig,
) -> anyhow::Result<ExitCode> {
    if let Some(m) = mqtt {
        config.mqtt.address = m;
    }
    // Device commands are the operator's.
    config.mqtt = config.mqtt_as(OPERATOR, Role::Operator)?;
    let station = station.unwrap_or_else(|| config.device.station.clone());
    let valid = !station.is_empty()
        && station
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        eprintln!("milo barista: station {station:?}: letters, digits, - and _ only");
        return Ok(ExitCode::from(EX_USAGE));
    }
    let command = match command {
        BaristaCommand::Status => {
            return match remote::status(&config.mqtt, &station, GRACE, LIMIT).await {
                Ok(status) => {
                    print!("{}", describe(&station, &status));
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => failed(e),
            };
        }
        BaristaCommand::Bump => DeviceCommand::Bump,
        BaristaCommand::Recall => DeviceCommand::Recall,
        BaristaCommand::Clear => DeviceCommand::Clear,
        BaristaCommand::Fault { kind } => DeviceCommand::Fault {
            kind: match kind {
                Injected::LowWater => FaultKind::LowWater,
                Injected::EmptyHopper => FaultKind::EmptyHopper,
                Injected::GroupFault => FaultKind::GroupFault,
            },
        },
        BaristaCommand::Refill { consumable, amount } => DeviceCommand::Refill {
            consumable: match consumable {
                Tank::Water => Consumable::Water,
                Tank::Beans => Consumable::Beans,
                Tank::Milk => Consumable::Milk,
            },
            amount,
        },
    };
    match remote::send(&config.mqtt, &station, command.clone(), LIMIT).await {
        Ok(id) => {
            println!("{station}: {command:?} sent (event {id})");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => failed(e),
    }
}

fn failed(e: remote::RemoteError) -> anyhow::Result<ExitCode> {
    eprintln!("milo barista: {e}");
    Ok(ExitCode::from(EX_UNREACHABLE))
}

/// The status as printed: presence, then the telemetry field by field.
fn describe(station: &str, s: &StationStatus) -> String {
    let presence = s.presence.as_deref().unwrap_or("unknown (never seen)");
    let mut out = format!("station {station}: {presence}\n");
    let Some(t) = &s.telemetry else {
        out.push_str("no telemetry\n");
        return out;
    };
    let state = serde_json::to_value(t.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let fault = t
        .fault
        .as_deref()
        .map(|f| format!(" ({f})"))
        .unwrap_or_default();
    let accepting = if t.accepting() { "yes" } else { "no" };
    out.push_str(&format!(
        "state: {state}{fault}\naccepting tickets: {accepting}\nqueue: {}\nboiler: {:.1} °C\n\
         shots: {}\nwater: {} ml\nbeans: {} g\nmilk: {} ml\nmeasured at: {}\n",
        t.queue,
        t.boiler_c,
        t.shots,
        t.water_ml,
        t.beans_g,
        t.milk_ml,
        t.at.format(&Rfc3339).unwrap_or_default()
    ));
    out
}
