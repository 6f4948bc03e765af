//! `milo barista bump|recall|fault|clear|refill --station ID`: commands to a running station.

use std::process::ExitCode;

use clap::Subcommand;
use milo::MiloConfig;

/// Commands to a running barista station (`devices/<id>/commands`).
#[derive(Subcommand)]
pub enum BaristaCommand {
    /// Mark the oldest made ticket done (ready for pickup).
    Bump,
    /// Undo the last bump: the ticket goes back on the station's rail.
    Recall,
}

/// Sends `command` to `station` (default `device.station`) through the broker at `mqtt`.
pub async fn run(
    command: BaristaCommand,
    station: Option<String>,
    mqtt: Option<String>,
    config: MiloConfig,
) -> anyhow::Result<ExitCode> {
    let _ = (command, station, mqtt, config);
    anyhow::bail!("not built yet")
}
