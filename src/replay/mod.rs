//! `milo replay`: a period's events re-run from the parts' logs through the parts this Milo
//! builds, into scratch stores, and where the outcome differs from the original.
//!
//! The inputs are every numbered event the parts' logs hold (each part's log is what it
//! published). Each part whose every input is such an event ([`REPLAYED`]) is started over its
//! own empty scratch store (`--into DIR/<part>`) and handed the events it subscribes to, in
//! the order it handled them (its inbox says where; events of two producers can cross on the
//! broker, and an outcome may depend on the order; events it never handled are left out and
//! counted), through the path a running part takes (`milo_bus::runner::rerun`). Then, for each event of the period, what
//! the part answered (the numbered events its handling published, each log entry naming the
//! event it answers, or a dead letter) is compared with what it answers now; and, when the
//! whole history was re-run, its kept records with the original store's. Ids it makes, times
//! it reads from the clock and its event numbers are masked (`normal`). A difference is
//! reported under the order it concerns (the event's correlation id, or the order id in a
//! record's key), or under the shop (a stock level, a day's totals).
//!
//! Parts with inputs no log holds are not re-run ([`NOT_RERUN`]). Timers and after-commit
//! actions are not run (`rerun`): a difference a timer would have made is not seen, and an
//! event a part handled that no log holds (an operator's restock) is counted as an outside
//! input, whose effects the scratch store lacks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use milo_bus::log::{self, LogEntry};
use milo_bus::{Store, StoreError};
use milo_config::{ConfigError, MiloConfig};
use milo_contracts::dead_letters::valid_part;
use milo_contracts::RawEnvelope;
use serde::Serialize;
use uuid::Uuid;

mod compare;
mod normal;
pub mod text;

use compare::Ctx;

/// Parts a replay re-runs: every input of theirs is an event some part's log holds.
pub const REPLAYED: &[&str] = &["inventory", "saga", "notification", "analytics"];

/// Parts a replay does not re-run, and why.
pub const NOT_RERUN: &[(&str, &str)] = &[
    (
        "order",
        "orders are placed by POS terminals and over HTTP, which keep no log",
    ),
    (
        "payment",
        "its answers are the card gateway's, which a replay must not call",
    ),
    (
        "barista",
        "station presence and telemetry reach it as retained messages, which no log keeps",
    ),
    ("stations", "a machine makes the drinks"),
];

/// Events handed to a part in one group (one sled batch in the scratch store).
const FEED_GROUP: usize = 512;

/// What to replay.
#[derive(Debug, Clone)]
pub struct Options {
    /// The data directory whose logs are read (its parts stopped).
    pub data_dir: PathBuf,
    /// Where the scratch stores go: a new or empty directory.
    pub into: PathBuf,
    /// Compare answers to events made from then on (ms since the epoch).
    pub from_ms: Option<u64>,
    /// Re-run and compare events made until then (ms since the epoch); kept records are
    /// compared only without it (the original store holds what came after).
    pub to_ms: Option<u64>,
    /// Parts to re-run (none: every part of [`REPLAYED`] this store has).
    pub parts: Vec<String>,
}

/// Why a replay could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A part's store is held by a running part.
    #[error(
        "{part} runs (its store is in use): stop Milo, or copy the data directory and replay \
         the copy"
    )]
    Running {
        /// The part.
        part: String,
    },
    /// The scratch directory holds something.
    #[error("{0} is not empty: replay into a new directory")]
    ScratchNotEmpty(PathBuf),
    /// The scratch directory cannot be made.
    #[error("cannot create {path}: {error}")]
    Scratch {
        /// The directory.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// No part's store in the data directory.
    #[error("{0} holds no part's store")]
    NoStores(PathBuf),
    /// A part that cannot be replayed was asked for.
    #[error("{part} cannot be replayed: {why}")]
    NotReplayable {
        /// The part.
        part: String,
        /// Why.
        why: String,
    },
    /// A store failed.
    #[error("{part}: {error}")]
    Store {
        /// The part (or `<part> (scratch)`).
        part: String,
        /// The error.
        error: StoreError,
    },
    /// A part's handler failed on its scratch store.
    #[error("{part} failed while re-running: {error}")]
    Handler {
        /// The part.
        part: String,
        /// The error.
        error: String,
    },
    /// The configuration cannot build a part.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// An event from a part's log.
#[derive(Debug, Clone)]
struct Input {
    producer: String,
    entry: LogEntry,
    id: Uuid,
    kind: String,
    correlation: Uuid,
    causation: Option<Uuid>,
}

/// What a replay found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Events the logs hold.
    pub events: usize,
    /// The oldest and newest of them, ms since the epoch.
    pub span_ms: Option<(u64, u64)>,
    /// The period compared, as asked.
    pub from_ms: Option<u64>,
    /// The period compared, as asked.
    pub to_ms: Option<u64>,
    /// Where the scratch stores are.
    pub into: PathBuf,
    /// Each part re-run.
    pub parts: Vec<PartReport>,
    /// Differences about each order.
    pub orders: BTreeMap<Uuid, Vec<Difference>>,
    /// Differences about the shop as a whole (stock, totals).
    pub shop: Vec<Difference>,
    /// Parts not re-run, and why.
    pub not_rerun: Vec<NotRerun>,
}

impl Report {
    /// True when some outcome differs.
    pub fn differs(&self) -> bool {
        !self.orders.is_empty() || !self.shop.is_empty()
    }
}

/// A part not re-run.
#[derive(Debug, Clone, Serialize)]
pub struct NotRerun {
    /// The part.
    pub part: String,
    /// Why.
    pub why: String,
}

/// One part's replay.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PartReport {
    /// The part.
    pub part: String,
    /// Events handed to it.
    pub rerun: usize,
    /// Events whose answers were compared (in the period and within its log's reach).
    pub compared: usize,
    /// Of them, answered differently.
    pub answers_differ: usize,
    /// Events it handled that no log holds (operator commands): not re-run.
    pub outside: usize,
    /// Kept records compared (none: not compared, see `note`).
    pub records: Option<usize>,
    /// Of them, different.
    pub records_differ: usize,
    /// What limits the comparison.
    pub notes: Vec<String>,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum Difference {
    /// A part answers an event otherwise.
    Answer {
        /// The part.
        part: String,
        /// The event answered.
        event: Uuid,
        /// Its type.
        kind: String,
        /// Its producer.
        producer: String,
        /// When it was made, ms since the epoch.
        at_ms: u64,
        /// The original answer (events, `dead-lettered: …`), masked.
        was: Vec<String>,
        /// The answer now.
        now: Vec<String>,
    },
    /// A part keeps a record otherwise.
    Record {
        /// The part.
        part: String,
        /// The record's key (masked).
        key: String,
        /// The original values under that key, masked.
        was: Vec<String>,
        /// The values now.
        now: Vec<String>,
    },
}

/// Replays `options` with the parts `config` builds.
pub fn replay(config: &MiloConfig, options: &Options) -> Result<Report, ReplayError> {
    let stores = open_stores(&options.data_dir)?;
    if stores.is_empty() {
        return Err(ReplayError::NoStores(options.data_dir.clone()));
    }
    let wanted = wanted_parts(config, options, &stores)?;
    scratch_dir(&options.into)?;
    let inputs = inputs(&stores)?;
    let ids: HashSet<Uuid> = inputs.iter().map(|i| i.id).collect();
    let span = match (inputs.first(), inputs.last()) {
        (Some(a), Some(b)) => Some((a.entry.at_ms, b.entry.at_ms)),
        _ => None,
    };
    let mut report = Report {
        events: inputs.len(),
        span_ms: span,
        from_ms: options.from_ms,
        to_ms: options.to_ms,
        into: options.into.clone(),
        parts: Vec::new(),
        orders: BTreeMap::new(),
        shop: Vec::new(),
        not_rerun: NOT_RERUN
            .iter()
            .map(|(part, why)| NotRerun {
                part: (*part).to_owned(),
                why: (*why).to_owned(),
            })
            .collect(),
    };
    let menu = Arc::new(config.menu()?);
    let mode = config.saga.mode;
    for part in wanted {
        let original = &stores[&part];
        let ctx = Ctx {
            config,
            options,
            inputs: &inputs,
            ids: &ids,
            part: &part,
            original,
        };
        let (part_report, differences) = match part.as_str() {
            "inventory" => ctx.run(milo_inventory::InventoryService::new(
                config.inventory.clone(),
                mode,
                menu.clone(),
            ))?,
            "saga" => ctx.run(milo_saga::Coordinator::new(config.saga.retry.clone()))?,
            "notification" => ctx.run(milo_notification::NotificationService::new(
                config.notification.clone(),
            ))?,
            _ => ctx.run(milo_analytics::AnalyticsService::new(config.zone()?))?,
        };
        report.parts.push(part_report);
        for (order, d) in differences {
            match order {
                Some(o) => report.orders.entry(o).or_default().push(d),
                None => report.shop.push(d),
            }
        }
    }
    Ok(report)
}

/// Every part's store in `data_dir`, by name; a running part is an error.
fn open_stores(data_dir: &Path) -> Result<BTreeMap<String, Store>, ReplayError> {
    let mut stores = BTreeMap::new();
    let names = std::fs::read_dir(data_dir)
        .map_err(|error| ReplayError::Store {
            part: data_dir.display().to_string(),
            error: StoreError::Io {
                path: data_dir.to_owned(),
                error,
            },
        })?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| valid_part(n) && data_dir.join(n).join("db").is_file());
    for name in names {
        match crate::dlq::open(data_dir, &name) {
            Ok(store) => {
                stores.insert(name, store);
            }
            Err(StoreError::Locked { .. }) => return Err(ReplayError::Running { part: name }),
            Err(error) => return Err(ReplayError::Store { part: name, error }),
        }
    }
    Ok(stores)
}

/// The parts to re-run: those asked for, or every replayable part the store has.
fn wanted_parts(
    config: &MiloConfig,
    options: &Options,
    stores: &BTreeMap<String, Store>,
) -> Result<Vec<String>, ReplayError> {
    let configured: Vec<&str> = crate::shop::services(config).collect();
    if options.parts.is_empty() {
        return Ok(REPLAYED
            .iter()
            .filter(|p| configured.contains(p) && stores.contains_key(**p))
            .map(|p| (*p).to_owned())
            .collect());
    }
    for part in &options.parts {
        let why = if let Some((_, why)) = NOT_RERUN.iter().find(|(p, _)| p == part) {
            Some((*why).to_owned())
        } else if !REPLAYED.contains(&part.as_str()) {
            Some(format!(
                "no such part (replayable: {})",
                REPLAYED.join(", ")
            ))
        } else if !configured.contains(&part.as_str()) {
            Some("not a part of the configured saga mode".to_owned())
        } else if !stores.contains_key(part) {
            Some(format!("no store in {}", options.data_dir.display()))
        } else {
            None
        };
        if let Some(why) = why {
            return Err(ReplayError::NotReplayable {
                part: part.clone(),
                why,
            });
        }
    }
    Ok(options.parts.clone())
}

/// Makes `into`, which must be new or empty.
fn scratch_dir(into: &Path) -> Result<(), ReplayError> {
    let scratch = |error| ReplayError::Scratch {
        path: into.to_owned(),
        error,
    };
    match std::fs::read_dir(into) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(ReplayError::ScratchNotEmpty(into.to_owned()));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(into).map_err(scratch)
        }
        Err(e) => Err(scratch(e)),
    }
}

/// Every numbered event of every log, in the order they were made: by time; at the same
/// millisecond a cause before its effects, then by producer and log order.
fn inputs(stores: &BTreeMap<String, Store>) -> Result<Vec<Input>, ReplayError> {
    let mut all = Vec::new();
    for (producer, store) in stores {
        for entry in log::entries(store, 1).filter(|e| e.seq.is_some()) {
            let Ok(env) = RawEnvelope::parse(&entry.payload) else {
                continue;
            };
            all.push(Input {
                producer: producer.clone(),
                id: env.id,
                kind: env.kind,
                correlation: env.correlation_id,
                causation: env.causation_id,
                entry,
            });
        }
    }
    let at: HashMap<Uuid, usize> = all.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
    let depth: Vec<usize> = (0..all.len())
        .map(|i| {
            // Ancestors within the logs, bounded in case of a cycle of bad ids.
            let (mut d, mut cur) = (0, i);
            while let Some(&up) = all[cur].causation.as_ref().and_then(|c| at.get(c)) {
                d += 1;
                cur = up;
                if d > all.len() {
                    break;
                }
            }
            d
        })
        .collect();
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&all[a], &all[b]);
        (x.entry.at_ms, depth[a], &x.producer, x.entry.key).cmp(&(
            y.entry.at_ms,
            depth[b],
            &y.producer,
            y.entry.key,
        ))
    });
    let mut slots: Vec<Option<Input>> = all.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}
