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
use std::time::Duration;

use milo::shop::ShopError;
use milo::trace::{self, Found, PartFound, Read, Reader, Trace};
use milo::{dlq, MiloConfig};
use milo_bus::dlq::{AskError, Requester};
use milo_bus::{MqttConfig, Store, StoreError};
use milo_contracts::dead_letters::{DeadLetterAnswer, DeadLetterOp};
use tokio::task::JoinSet;
use uuid::Uuid;

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
/// How long to wait for the broker, then for each answer.
const WAIT: Duration = Duration::from_secs(5);

/// Where a part's word comes from.
enum Source {
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
        match ask_all(&mqtt, &readers, &sources, &mut found, order).await {
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
    inboxes(
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

/// Asks every part that runs, and every part with no store here, about the order, all at
/// once; the connections of those that answered. `Err` only for a broker address that does
/// not parse.
async fn ask_all(
    mqtt: &MqttConfig,
    readers: &[Reader],
    sources: &[Source],
    found: &mut [PartFound],
    order: Uuid,
) -> Result<Vec<(usize, Requester)>, AskError> {
    let mut set = JoinSet::new();
    for (i, (reader, source)) in readers.iter().zip(sources).enumerate() {
        if matches!(source, Source::Running | Source::Missing) {
            let (mqtt, part) = (mqtt.clone(), reader.part.clone());
            set.spawn(async move { (i, ask_part(&mqtt, &part, order).await) });
        }
    }
    let mut requesters = Vec::new();
    while let Some(done) = set.join_next().await {
        let Ok((i, answer)) = done else { continue };
        let p = &mut found[i];
        match answer {
            Ok((requester, f)) => {
                (p.read, p.found) = (Read::Asked, f);
                requesters.push((i, requester));
            }
            Err(AskError::Address(e)) => return Err(AskError::Address(e)),
            Err(e) => match &mut p.read {
                Read::Absent(why) => *why = format!("{why}, and {e}"),
                read => *read = Read::Unreachable(format!("it holds its store, and {e}")),
            },
        }
    }
    Ok(requesters)
}

/// Connects and asks one part for the order's events and dead letters.
async fn ask_part(
    mqtt: &MqttConfig,
    part: &str,
    order: Uuid,
) -> Result<(Requester, Found), AskError> {
    let mut r = Requester::connect(mqtt, part, WAIT).await?;
    match found_by(&mut r, order).await {
        Ok(found) => Ok((r, found)),
        Err(e) => {
            r.close().await;
            Err(e)
        }
    }
}

/// Every page of the part's events of the order, then of its dead letters about it.
async fn found_by(r: &mut Requester, order: Uuid) -> Result<Found, AskError> {
    let (order_id, from, upto) = (order, 0, None);
    let mut answers = r
        .pages(DeadLetterOp::Trace {
            order_id,
            from,
            upto,
        })
        .await?;
    let letters = DeadLetterOp::OrderLetters {
        order_id,
        from,
        upto,
    };
    answers.extend(r.pages(letters).await?);
    let mut found = Found::default();
    for answer in answers {
        match answer {
            DeadLetterAnswer::Trace {
                events, omitted, ..
            } => {
                found.events.extend(events);
                found.omitted += omitted;
            }
            DeadLetterAnswer::OrderLetters {
                letters, omitted, ..
            } => {
                found.letters.extend(letters);
                found.omitted += omitted;
            }
            _ => {}
        }
    }
    Ok(found)
}

/// Asks each part that answered whether its inbox holds the events it consumes, then closes
/// its connection. A part that stops answering now is marked unreachable.
async fn inboxes(
    asked: Vec<(usize, Requester)>,
    readers: &[Reader],
    found: &mut [PartFound],
    events: &[milo_contracts::trace::TracedEvent],
    max_payload: usize,
) {
    // A request carries about 40 bytes per id; its answer fewer.
    let chunk = (max_payload.saturating_sub(1024) / 40).max(1);
    let mut set = JoinSet::new();
    for (i, mut r) in asked {
        let ids = trace::consumed(&readers[i], events);
        set.spawn(async move {
            let mut held = Vec::new();
            let mut result = Ok(());
            for ids in ids.chunks(chunk) {
                match r
                    .ask(DeadLetterOp::Inbox {
                        events: ids.to_vec(),
                    })
                    .await
                {
                    Ok(DeadLetterAnswer::Inbox { held: h }) => held.push((ids.to_vec(), h)),
                    Ok(_) => {}
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            r.close().await;
            (i, held, result)
        });
    }
    while let Some(done) = set.join_next().await {
        let Ok((i, held, result)) = done else {
            continue;
        };
        let p = &mut found[i];
        for (ids, h) in held {
            p.found.held(&ids, &h);
        }
        if let Err(e) = result {
            p.read = Read::Unreachable(format!("it stopped answering: {e}"));
        }
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
