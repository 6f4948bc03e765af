//! `milo replay --into SCRATCH [--from T] [--to T] [--part P]... [--json]`: a period's events
//! re-run from the parts' logs by this Milo into scratch stores, and where the outcome differs
//! (`milo::replay`).
//!
//! Exit codes: 0 no difference; 1 some outcome differs; 2 the replay could not be made (a
//! part runs, the scratch directory is not empty, a bad time or part).

use std::path::PathBuf;
use std::process::ExitCode;

use milo::replay::{self, Options};
use milo::MiloConfig;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `milo replay`'s arguments.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// Where the scratch stores go (a new or empty directory, kept for inspection).
    #[arg(long)]
    pub into: PathBuf,
    /// Compare answers to events made from this time on (RFC 3339, e.g. 2026-12-07T10:00:00Z).
    #[arg(long, value_parser = parse_time)]
    pub from: Option<u64>,
    /// Re-run and compare events made until this time (RFC 3339); kept records are then not
    /// compared.
    #[arg(long, value_parser = parse_time)]
    pub to: Option<u64>,
    /// A part to re-run (repeatable; default: inventory, saga, notification and analytics).
    #[arg(long = "part")]
    pub parts: Vec<String>,
    /// Print the report as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// Data directory whose logs are read (default: data_dir); its parts must be stopped.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Something differs.
const DIFFERS: u8 = 1;
/// The replay could not be made.
const FAILED: u8 = 2;

/// An RFC 3339 time as ms since the epoch.
fn parse_time(s: &str) -> Result<u64, String> {
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| format!("{s:?} is not an RFC 3339 time (2026-12-07T10:00:00Z): {e}"))?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(|_| format!("{s:?} is before 1970"))
}

/// Runs `milo replay`.
pub fn run(args: ReplayArgs, config: MiloConfig) -> anyhow::Result<ExitCode> {
    if let (Some(from), Some(to)) = (args.from, args.to) {
        if from > to {
            eprintln!("milo replay: --from is after --to");
            return Ok(ExitCode::from(FAILED));
        }
    }
    let options = Options {
        data_dir: args.data_dir.unwrap_or_else(|| config.data_dir.clone()),
        into: args.into,
        from_ms: args.from,
        to_ms: args.to,
        parts: args.parts,
    };
    let report = match replay::replay(&config, &options) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("milo replay: {e}");
            return Ok(ExitCode::from(FAILED));
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", replay::text::render(&report));
    }
    Ok(if report.differs() {
        ExitCode::from(DIFFERS)
    } else {
        ExitCode::SUCCESS
    })
}
