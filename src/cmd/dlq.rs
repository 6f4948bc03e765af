//! `milo dlq list|show|replay|purge`: a service's dead letters.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use milo::{dlq, MiloConfig};

/// Dead-letter commands.
#[derive(Subcommand)]
pub enum DlqCommand {
    /// List dead letters.
    List(DlqWhere),
    /// Show one dead letter in full.
    Show {
        /// Dead-letter id.
        id: u64,
        #[command(flatten)]
        at: DlqWhere,
    },
    /// Queue dead letters for replay: the service hands them to its handler again when it
    /// next starts (after a fix).
    Replay {
        /// Dead-letter id (default: every dead letter).
        #[arg(long)]
        id: Option<u64>,
        #[command(flatten)]
        at: DlqWhere,
    },
    /// Delete every dead letter.
    Purge(DlqWhere),
}

/// Whose dead letters, and where.
#[derive(clap::Args)]
pub struct DlqWhere {
    /// Service whose dead letters to read.
    #[arg(long)]
    pub service: String,
    /// Data directory.
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
}

/// Runs a dead-letter command.
pub async fn run(command: DlqCommand, config: MiloConfig) -> anyhow::Result<ExitCode> {
    let at = match &command {
        DlqCommand::List(at) | DlqCommand::Purge(at) => at,
        DlqCommand::Show { at, .. } | DlqCommand::Replay { at, .. } => at,
    };
    let data_dir = at
        .data_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.clone());
    let service = at.service.clone();
    let store =
        dlq::open(&data_dir, &service).with_context(|| format!("dead letters of {service}"))?;
    match command {
        DlqCommand::List(_) => {
            for d in dlq::list(&store)? {
                println!("{}", dlq::line(&d));
            }
        }
        DlqCommand::Show { id, .. } => {
            let d = store
                .dead_letter(id)?
                .with_context(|| format!("no dead letter {id}"))?;
            println!("{}\npayload: {}", dlq::line(&d), d.payload);
        }
        DlqCommand::Replay { id, .. } => {
            let n = dlq::replay(&store, id)?;
            println!("{n} dead letters queued; {service} hands them to its handler when it starts");
        }
        DlqCommand::Purge(_) => println!("purged {} dead letters", dlq::purge(&store)?),
    }
    Ok(ExitCode::SUCCESS)
}
