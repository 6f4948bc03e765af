//! `milo inventory show|restock`: stock as inventory publishes it, and restocking.

use std::process::ExitCode;

use clap::Subcommand;
use milo::MiloConfig;

/// Stock commands.
#[derive(Subcommand)]
pub enum InventoryCommand {
    /// Print what is left of each ingredient, what is low, and what the shop cannot sell.
    Show,
}

/// Runs an inventory command.
pub async fn run(command: InventoryCommand, config: MiloConfig) -> anyhow::Result<ExitCode> {
    let _ = (command, config);
    anyhow::bail!("not built yet")
}
