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
use milo_bus::runner::rerun::{Fed, Rerun};
use milo_bus::{Service, Store, StoreError};
use milo_config::{ConfigError, MiloConfig};
use milo_contracts::dead_letters::valid_part;
use milo_contracts::policy::topic_matches;
use milo_contracts::RawEnvelope;
use serde::Serialize;
use uuid::Uuid;

mod normal;
pub mod text;

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

/// One part's replay.
struct Ctx<'a> {
    config: &'a MiloConfig,
    options: &'a Options,
    inputs: &'a [Input],
    ids: &'a HashSet<Uuid>,
    part: &'a str,
    original: &'a Store,
}

type Found = (PartReport, Vec<(Option<Uuid>, Difference)>);

impl Ctx<'_> {
    fn store_error(&self, scratch: bool) -> impl Fn(StoreError) -> ReplayError + '_ {
        move |error| ReplayError::Store {
            part: if scratch {
                format!("{} (scratch)", self.part)
            } else {
                self.part.to_owned()
            },
            error,
        }
    }

    fn run<S: Service>(&self, service: S) -> Result<Found, ReplayError> {
        let filters = service.subscriptions();
        let to = self.options.to_ms.unwrap_or(u64::MAX);
        let was_letters = letters(self.original).map_err(self.store_error(false))?;
        let (mut mine, mut unhandled): (Vec<(u64, &Input)>, usize) = (Vec::new(), 0);
        for i in self.inputs.iter().filter(|i| {
            i.entry.at_ms <= to && filters.iter().any(|f| topic_matches(f, &i.entry.topic))
        }) {
            let handled = self
                .original
                .handled_at(i.id)
                .map_err(self.store_error(false))?;
            let letter = was_letters.get(&i.id).and_then(|l| l.first()).map(|l| l.0);
            match (handled, letter) {
                (Some(Some(at)), _) | (None, Some(at)) => mine.push((at, i)),
                // Handled before handling positions were kept: after those that say.
                (Some(None), _) => mine.push((u64::MAX, i)),
                (None, None) => unhandled += 1,
            }
        }
        // In the order the part handled them: events of two producers can cross on the
        // broker, and a part's outcome may depend on the order.
        mine.sort_by_key(|(at, _)| *at);
        let mine: Vec<&Input> = mine.into_iter().map(|(_, i)| i).collect();
        let handler = |e: milo_bus::Rejection| ReplayError::Handler {
            part: self.part.to_owned(),
            error: e.to_string(),
        };
        let scratch = Store::open(&self.options.into.join(self.part), &self.config.store)
            .map_err(self.store_error(true))?;
        let mut rerun =
            Rerun::start(service, scratch, self.config.mqtt.max_payload).map_err(handler)?;
        let mut fed = Vec::with_capacity(mine.len());
        for group in mine.chunks(FEED_GROUP) {
            let messages = group
                .iter()
                .map(|i| (i.entry.topic.as_str(), &i.entry.payload[..]));
            fed.extend(rerun.feed(messages).map_err(handler)?);
        }
        let scratch = rerun.finish().map_err(self.store_error(true))?;

        // Ids that are the same in both runs: the events handed to the part and their orders.
        // Not their causes: a cause may be one of the part's own events, whose id is new in
        // the re-run.
        let mut known: HashSet<Uuid> = HashSet::new();
        for i in &mine {
            known.insert(i.id);
            known.insert(i.correlation);
        }
        let was_answers = answers(self.original);
        let now_answers = answers(&scratch);
        let reach = reach(self.original).map_err(self.store_error(false))?;
        let from = self.options.from_ms.unwrap_or(0).max(reach);
        let mut report = PartReport {
            part: self.part.to_owned(),
            rerun: mine.len(),
            outside: was_answers
                .keys()
                .filter(|id| !self.ids.contains(id))
                .count(),
            ..PartReport::default()
        };
        let mut found = Vec::new();
        for (input, fed) in mine.iter().zip(&fed) {
            if input.entry.at_ms < from {
                continue;
            }
            report.compared += 1;
            let mut was = texts(was_answers.get(&input.id), &known);
            was.extend(
                was_letters
                    .get(&input.id)
                    .into_iter()
                    .flatten()
                    .map(|(_, r)| normal::normalize(&format!("dead-lettered: {r}"), &known)),
            );
            let mut now = texts(now_answers.get(&input.id), &known);
            if let Fed::DeadLettered(r) = fed {
                now.push(normal::normalize(&format!("dead-lettered: {r}"), &known));
            }
            was.sort();
            now.sort();
            if was != now {
                report.answers_differ += 1;
                let order = (!input.correlation.is_nil()).then_some(input.correlation);
                found.push((
                    order,
                    Difference::Answer {
                        part: self.part.to_owned(),
                        event: input.id,
                        kind: input.kind.clone(),
                        producer: input.producer.clone(),
                        at_ms: input.entry.at_ms,
                        was,
                        now,
                    },
                ));
            }
        }
        if unhandled > 0 {
            report.notes.push(format!(
                "{unhandled} events it subscribes to it never handled (it stopped first, or \
                 never had them): not re-run"
            ));
        }
        if report.outside > 0 {
            report.notes.push(format!(
                "it handled {} events that no log holds (operator commands): their effects are \
                 not in the scratch store",
                report.outside
            ));
        }
        if self.options.to_ms.is_some() {
            report
                .notes
                .push("kept records not compared: --to leaves later events out".into());
        } else if let Some(why) = pruned(&mine) {
            report
                .notes
                .push(format!("kept records not compared: {why}"));
        } else {
            let orders: HashSet<Uuid> = mine.iter().map(|i| i.correlation).collect();
            self.records(&scratch, &known, &orders, &mut report, &mut found)?;
        }
        Ok((report, found))
    }

    /// Compares the part's kept records with the scratch store's.
    fn records(
        &self,
        scratch: &Store,
        known: &HashSet<Uuid>,
        orders: &HashSet<Uuid>,
        report: &mut PartReport,
        found: &mut Vec<(Option<Uuid>, Difference)>,
    ) -> Result<(), ReplayError> {
        let masked =
            |store: &Store, scratch| -> Result<BTreeMap<String, Vec<String>>, ReplayError> {
                let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for (k, v) in store.records().map_err(self.store_error(scratch))? {
                    let key = normal::normalize(&k, known);
                    let value = normal::normalize(&String::from_utf8_lossy(&v), known);
                    out.entry(key).or_default().push(value);
                }
                for values in out.values_mut() {
                    values.sort();
                }
                Ok(out)
            };
        let was = masked(self.original, false)?;
        let now = masked(scratch, true)?;
        let keys: std::collections::BTreeSet<&String> = was.keys().chain(now.keys()).collect();
        report.records = Some(keys.len());
        for key in keys {
            let (w, n) = (was.get(key), now.get(key));
            if w == n {
                continue;
            }
            report.records_differ += 1;
            let order = first_uuid(key).filter(|u| orders.contains(u));
            found.push((
                order,
                Difference::Record {
                    part: self.part.to_owned(),
                    key: key.clone(),
                    was: w.cloned().unwrap_or_default(),
                    now: n.cloned().unwrap_or_default(),
                },
            ));
        }
        Ok(())
    }
}

/// Why the logs no longer hold a part's whole history: a producer's topic does not start at
/// number 1.
fn pruned(mine: &[&Input]) -> Option<String> {
    let mut first: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for i in mine {
        let seq = i.entry.seq.unwrap_or(0);
        let f = first.entry((&i.producer, &i.entry.topic)).or_insert(seq);
        *f = (*f).min(seq);
    }
    first
        .into_iter()
        .find(|(_, seq)| *seq > 1)
        .map(|((p, t), seq)| format!("{p}'s log of {t} starts at event {seq} (older ones pruned)"))
}

/// How far back a part's own log reaches: 0 while it holds every event the part numbered,
/// else when its oldest entry was made (its answers to older events are pruned).
fn reach(store: &Store) -> Result<u64, StoreError> {
    for (topic, _) in log::heads(store)? {
        if log::oldest(store, &topic)? != Some(1) {
            let oldest = log::entries(store, 1).find(|e| e.seq.is_some());
            return Ok(oldest.map_or(u64::MAX, |e| e.at_ms));
        }
    }
    Ok(0)
}

/// The numbered entries of a store's log, by the event whose handling made them.
fn answers(store: &Store) -> HashMap<Uuid, Vec<LogEntry>> {
    let mut out: HashMap<Uuid, Vec<LogEntry>> = HashMap::new();
    for e in log::entries(store, 1).filter(|e| e.seq.is_some()) {
        if let Some(id) = e.handled {
            out.entry(id).or_default().push(e);
        }
    }
    out
}

/// A store's dead letters (id, reason), by the id of the event refused.
fn letters(store: &Store) -> Result<HashMap<Uuid, Vec<(u64, String)>>, StoreError> {
    let mut out: HashMap<Uuid, Vec<(u64, String)>> = HashMap::new();
    for letter in store.dead_letters(0, usize::MAX)? {
        let payload = milo_bus::dlq::original(&letter.payload);
        if let Ok(env) = RawEnvelope::parse(&payload) {
            out.entry(env.id)
                .or_default()
                .push((letter.id, letter.reason));
        }
    }
    Ok(out)
}

/// An answer's events as compared: topic, type, version, correlation, causation and data.
fn texts(entries: Option<&Vec<LogEntry>>, known: &HashSet<Uuid>) -> Vec<String> {
    entries
        .into_iter()
        .flatten()
        .map(|e| {
            let text = match RawEnvelope::parse(&e.payload) {
                Ok(env) => format!(
                    "{} {} v{} order {} cause {} {}",
                    e.topic,
                    env.kind,
                    env.version,
                    env.correlation_id,
                    env.causation_id.map_or("none".into(), |c| c.to_string()),
                    env.data.get()
                ),
                Err(_) => format!(
                    "{} (unreadable) {}",
                    e.topic,
                    String::from_utf8_lossy(&e.payload)
                ),
            };
            normal::normalize(&text, known)
        })
        .collect()
}

/// The first UUID in `text`.
fn first_uuid(text: &str) -> Option<Uuid> {
    (0..text.len().saturating_sub(35))
        .filter(|i| text.is_char_boundary(*i))
        .find_map(|i| text.get(i..i + 36).and_then(|s| Uuid::parse_str(s).ok()))
}
