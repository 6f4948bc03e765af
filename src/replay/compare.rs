//! One part's replay ([`Ctx::run`]): its events handed to a `Rerun` over an empty scratch
//! store, then what it answered each event (log entries naming the event, dead letters) and,
//! when the whole history was re-run, its kept records compared with the original's, masked
//! by `normal`.

use std::collections::{BTreeMap, HashMap, HashSet};

use milo_bus::log::{self, LogEntry};
use milo_bus::runner::rerun::{Fed, Rerun};
use milo_bus::{Service, Store, StoreError};
use milo_config::MiloConfig;
use milo_contracts::policy::topic_matches;
use milo_contracts::RawEnvelope;
use uuid::Uuid;

use super::{normal, Difference, Input, Options, PartReport, ReplayError, FEED_GROUP};

/// One part's replay.
pub(super) struct Ctx<'a> {
    pub(super) config: &'a MiloConfig,
    pub(super) options: &'a Options,
    pub(super) inputs: &'a [Input],
    pub(super) ids: &'a HashSet<Uuid>,
    pub(super) part: &'a str,
    pub(super) original: &'a Store,
}

pub(super) type Found = (PartReport, Vec<(Option<Uuid>, Difference)>);

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

    pub(super) fn run<S: Service>(&self, service: S) -> Result<Found, ReplayError> {
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
