//! `milo trace ORDER_ID [--json]`: an order's timeline across every part (`milo::trace`).
//!
//! Each part's store is tried first, as `milo dlq` does: a stopped part is read there. A part
//! that holds its store (it runs) is asked over MQTT with the operator's credential, as is a
//! part with no store here when some part runs (a station on its own board). Parts are asked
//! at the same time; each one that runs costs a few round trips.
//!
//! Exit codes: 0 printed; 1 no part knows the order (or no store is here); 2 bad order id or
//! broker address; 3 a part holds its store and did not answer (what the others said is
//! printed).

use std::path::PathBuf;
use std::process::ExitCode;

use milo::shop::ShopError;
use milo::trace::{self, Found, PartFound, Read, Reader, Trace};
use milo::{dlq, MiloConfig};
use milo_bus::{Store, StoreError};
use uuid::Uuid;

mod remote;

/// `milo trace`'s arguments.
#[derive(clap::Args)]
pub struct TraceArgs {
    /// The order's id (a UUID).
    pub order_id: Uuid,
    /// Print the timeline as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// Data directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Broker address, to ask the parts that run (default: mqtt.address).
    #[arg(long)]
    pub mqtt: Option<String>,
}

/// No part knows the order, or no store is here.
const NOT_FOUND: u8 = 1;
/// A broker address that cannot be right.
const USAGE: u8 = 2;
/// A part holds its store and did not answer in time.
const UNREACHABLE: u8 = 3;

/// Where a part's word comes from.
enum Source {
    /// Its store, opened: the part is stopped.
    Store(Store),
    /// It runs (its store is held).
    Running,
    /// No store here.
    Missing,
    /// Its store cannot be read.
    Broken(String),
}

/// Runs `milo trace`.
pub async fn run(args: TraceArgs, mut config: MiloConfig) -> anyhow::Result<ExitCode> {
    if let Some(d) = args.data_dir {
        config.data_dir = d;
    }
    if let Some(m) = args.mqtt {
        config.mqtt.address = m;
    }
    let order = args.order_id;
    let readers = trace::readers(&config, &config.data_dir).map_err(ShopError::Config)?;
    let sources: Vec<Source> = readers.iter().map(|r| open(&config, &r.part)).collect();
    let mut found: Vec<PartFound> = readers
        .iter()
        .zip(&sources)
        .map(|(r, s)| first_look(&config, &r.part, s, order))
        .collect();
    let running = sources.iter().any(|s| matches!(s, Source::Running));
    let mut asked = Vec::new();
    if running {
        let mqtt = crate::cmd::dlq::operator_mqtt(&config)?;
        let wanted: Vec<usize> = (0..sources.len())
            .filter(|i| matches!(sources[*i], Source::Running | Source::Missing))
            .collect();
        match remote::ask_all(&mqtt, &readers, &wanted, &mut found, order).await {
            Ok(requesters) => asked = requesters,
            Err(e) => {
                eprintln!("milo trace: {e}");
                return Ok(ExitCode::from(USAGE));
            }
        }
    }
    let events = trace::distinct_events(&found);
    for ((reader, source), part) in readers.iter().zip(&sources).zip(found.iter_mut()) {
        if let Source::Store(store) = source {
            let read = part
                .found
                .inbox_from_store(store, &trace::consumed(reader, &events));
            if let Err(e) = read {
                part.read = Read::Unreachable(format!("its store cannot be read: {e}"));
            }
        }
    }
    remote::inboxes(
        asked,
        &readers,
        &mut found,
        &events,
        config.mqtt.max_payload,
    )
    .await;
    drop(sources);
    Ok(report(order, &config, &found, &readers, args.json))
}

/// Opens a part's store, never making one.
fn open(config: &MiloConfig, part: &str) -> Source {
    match dlq::open(&config.data_dir, part) {
        Ok(store) => Source::Store(store),
        Err(StoreError::Locked { .. }) => Source::Running,
        Err(StoreError::Io { error, .. }) if error.kind() == std::io::ErrorKind::NotFound => {
            Source::Missing
        }
        Err(e) => Source::Broken(format!("its store cannot be read: {e}")),
    }
}

/// What can be said of a part before any is asked: its store's word, or why it has none yet.
fn first_look(config: &MiloConfig, part: &str, source: &Source, order: Uuid) -> PartFound {
    let dir = config.data_of(part);
    let (read, found) = match source {
        Source::Store(store) => match Found::from_store(store, order) {
            Ok(found) => (Read::Store, found),
            Err(e) => {
                let why = format!("its store cannot be read: {e}");
                (Read::Unreachable(why), Found::default())
            }
        },
        Source::Running => (Read::Unreachable(String::new()), Found::default()),
        Source::Missing => {
            let why = format!("no store in {}", dir.display());
            (Read::Absent(why), Found::default())
        }
        Source::Broken(why) => (Read::Unreachable(why.clone()), Found::default()),
    };
    PartFound {
        part: part.to_owned(),
        read,
        found,
    }
}

/// Prints the timeline (or why there is none); the exit code.
fn report(
    order: Uuid,
    config: &MiloConfig,
    found: &[PartFound],
    readers: &[Reader],
    json: bool,
) -> ExitCode {
    let trace = Trace::build(order, found, readers);
    let unreachable: Vec<&PartFound> = found
        .iter()
        .filter(|p| matches!(p.read, Read::Unreachable(_)))
        .collect();
    for p in found.iter().filter(|p| p.found.omitted > 0) {
        let (part, n) = (&p.part, p.found.omitted);
        eprintln!("milo trace: {n} of {part}'s records about the order do not fit one MQTT message (mqtt.max_payload); stop {part} and trace again to see them");
    }
    if trace.is_empty() && unreachable.is_empty() {
        let dir = config.data_dir.display();
        if !found.iter().any(|p| p.read.known()) {
            eprintln!("milo trace: there is no part's store in {dir}");
        } else {
            eprintln!("milo trace: no part knows order {order}: it is in no log and no dead letter (logs keep events store.log_days days)");
        }
        return ExitCode::from(NOT_FOUND);
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&trace).unwrap_or_default()
        );
    } else {
        print!("{}", trace::text::render(&trace));
    }
    for p in &unreachable {
        if let Read::Unreachable(why) = &p.read {
            eprintln!("milo trace: {} was not read: {why}", p.part);
        }
    }
    if unreachable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(UNREACHABLE)
    }
}
