//! `milo trace ORDER_ID`: an order's whole timeline across every part, in causal order, with
//! what each consuming part did with each event.
//!
//! Every part keeps the events it published in its log, and records each event it applied in
//! its inbox (`_i/<event id>`) and each message it refused as a dead letter. A trace gathers,
//! from every part ([`parts`]), the log's events whose `correlation_id` is the order, then asks
//! each part about the events it consumes: applied (its inbox holds the event, with the same
//! payload's fingerprint), dead-lettered (a dead letter holds it), or not seen. A repeat is
//! acked without any record, so it cannot be told apart afterwards. A stopped part is read
//! from its store ([`Found::from_store`]); a running one is asked over MQTT by `milo trace`.
//!
//! # Layout
//! - [`parts`]: which parts there are and what each consumes.
//! - [`causal`]: the events in causal order.
//! - [`text`]: the timeline as printed.

pub mod causal;
pub mod parts;
pub mod text;

use std::collections::{BTreeMap, HashMap, HashSet};

use milo_bus::trace::{self as store_trace, Limits};
use milo_bus::{Store, StoreError};
use milo_contracts::policy::topic_matches;
use milo_contracts::topics;
use milo_contracts::trace::{is_compensation, TracedEvent, TracedLetter};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

pub use parts::{readers, Reader};

/// What one part holds about the order.
#[derive(Debug, Default, Clone)]
pub struct Found {
    /// The order's events in its log.
    pub events: Vec<TracedEvent>,
    /// Its dead letters about the order.
    pub letters: Vec<TracedLetter>,
    /// The fingerprint its inbox holds for each event asked about that it holds.
    pub inbox: HashMap<Uuid, u64>,
    /// Records a running part left out: too large for one MQTT message.
    pub omitted: u64,
}

impl Found {
    /// The order's events and dead letters in a stopped part's store.
    pub fn from_store(store: &Store, order: Uuid) -> Result<Found, StoreError> {
        Ok(Found {
            events: store_trace::events(store, order, 0, None, Limits::NONE)?.items,
            letters: store_trace::letters(store, order, 0, None, Limits::NONE)?.items,
            inbox: HashMap::new(),
            omitted: 0,
        })
    }

    /// Reads from a stopped part's store whether its inbox holds each of `ids`.
    pub fn inbox_from_store(&mut self, store: &Store, ids: &[Uuid]) -> Result<(), StoreError> {
        let held = store_trace::inbox(store, ids)?;
        self.held(ids, &held);
        Ok(())
    }

    /// Notes the inbox's answer about `ids` (one fingerprint or none each, in order).
    pub fn held(&mut self, ids: &[Uuid], held: &[Option<u64>]) {
        for (id, print) in ids.iter().zip(held) {
            if let Some(print) = print {
                self.inbox.insert(*id, *print);
            }
        }
    }
}

/// How a part was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "read", content = "why", rename_all = "snake_case")]
pub enum Read {
    /// From its store: the part is stopped.
    Store,
    /// Over MQTT: the part runs and answered.
    Asked,
    /// Not read: no store in the data directory, and nobody answered for it.
    Absent(String),
    /// Not read: it holds its store and did not answer, or its store could not be read.
    Unreachable(String),
}

impl Read {
    /// True when the part's word is in the trace.
    pub fn known(&self) -> bool {
        matches!(self, Read::Store | Read::Asked)
    }
}

/// One part's contribution.
#[derive(Debug, Clone)]
pub struct PartFound {
    /// The part.
    pub part: String,
    /// How it was read.
    pub read: Read,
    /// What it holds (empty when not read).
    pub found: Found,
}

/// The events of `found` (every part's), one per id, without the dead-letter notices (the
/// dead letters themselves are shown): the producer's own copy first.
pub fn distinct_events(found: &[PartFound]) -> Vec<TracedEvent> {
    let mut by_id: BTreeMap<Uuid, TracedEvent> = BTreeMap::new();
    for p in found {
        for e in &p.found.events {
            if topic_matches(topics::DLQ_ALL, &e.topic) {
                continue;
            }
            let own = e.source == p.part;
            if own || !by_id.contains_key(&e.id) {
                by_id.insert(e.id, e.clone());
            }
        }
    }
    by_id.into_values().collect()
}

/// The ids of `events` that `reader` consumes: what to ask its inbox about.
pub fn consumed(reader: &Reader, events: &[TracedEvent]) -> Vec<Uuid> {
    let read = events.iter().filter(|e| reader.reads(&e.topic));
    read.map(|e| e.id).collect()
}

/// The order's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    /// The order.
    pub order_id: Uuid,
    /// Every part and how it was read.
    pub parts: Vec<PartRead>,
    /// The events, in causal order.
    pub events: Vec<Step>,
    /// Dead letters about the order that hold none of its events above.
    pub dead_letters: Vec<PartLetter>,
}

/// A part and how it was read.
#[derive(Debug, Clone, Serialize)]
pub struct PartRead {
    /// The part.
    pub part: String,
    /// How.
    #[serde(flatten)]
    pub read: Read,
}

/// One event and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The event id.
    pub id: Uuid,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its topic.
    pub topic: String,
    /// Its producer.
    pub source: String,
    /// The producer's number of it on its topic.
    pub seq: Option<u64>,
    /// When its producer made it.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The event that caused it.
    pub causation_id: Option<Uuid>,
    /// False when its cause is in no part's log (a POS's request, an HTTP call, an event
    /// older than the logs).
    pub cause_in_trace: bool,
    /// True for a refund, release, withdrawal or cancellation, asked or confirmed.
    pub compensation: bool,
    /// The parts whose logs hold it.
    pub logged_by: Vec<String>,
    /// What each part that consumes it (or dead-lettered it) did with it.
    pub handled: Vec<Handling>,
}

/// What one part did with one event.
#[derive(Debug, Clone, Serialize)]
pub struct Handling {
    /// The part.
    pub part: String,
    /// What it did.
    pub outcome: Outcome,
    /// Its dead letters holding the event.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dead_letters: Vec<TracedLetter>,
}

/// What a part did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Its inbox holds the event: its effect is durable.
    Applied,
    /// Its inbox holds the event id with another payload's fingerprint.
    AppliedOther,
    /// Refused: a dead letter holds it.
    DeadLettered,
    /// Neither in its inbox nor in its dead letters.
    NotSeen,
    /// The part was not read.
    Unknown,
}

/// A dead letter and the part that keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct PartLetter {
    /// The part.
    pub part: String,
    /// The letter.
    #[serde(flatten)]
    pub letter: TracedLetter,
}

impl Trace {
    /// The timeline of `order` from what every part said, with `readers` saying who
    /// consumes what.
    pub fn build(order: Uuid, found: &[PartFound], readers: &[Reader]) -> Trace {
        let events = distinct_events(found);
        let mut logged: HashMap<Uuid, Vec<String>> = HashMap::new();
        for p in found {
            for e in &p.found.events {
                logged.entry(e.id).or_default().push(p.part.clone());
            }
        }
        let shown: HashSet<Uuid> = events.iter().map(|e| e.id).collect();
        let steps = causal::order(&events)
            .into_iter()
            .map(|i| step(&events[i], &shown, found, readers, &logged))
            .collect();
        let dead_letters = found
            .iter()
            .flat_map(|p| p.found.letters.iter().map(move |l| (p, l)))
            .filter(|(_, l)| !l.event_id.is_some_and(|id| shown.contains(&id)))
            .map(|(p, l)| PartLetter {
                part: p.part.clone(),
                letter: l.clone(),
            })
            .collect();
        let parts = found.iter().map(|p| PartRead {
            part: p.part.clone(),
            read: p.read.clone(),
        });
        Trace {
            order_id: order,
            parts: parts.collect(),
            events: steps,
            dead_letters,
        }
    }

    /// True when no part said anything about the order.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.dead_letters.is_empty()
    }
}

fn step(
    e: &TracedEvent,
    shown: &HashSet<Uuid>,
    found: &[PartFound],
    readers: &[Reader],
    logged: &HashMap<Uuid, Vec<String>>,
) -> Step {
    let mut handled: Vec<Handling> = Vec::new();
    for p in found {
        let consumes = readers
            .iter()
            .any(|r| r.part == p.part && r.reads(&e.topic));
        let letters: Vec<TracedLetter> = p
            .found
            .letters
            .iter()
            .filter(|l| l.event_id == Some(e.id))
            .cloned()
            .collect();
        if !consumes && letters.is_empty() {
            continue;
        }
        let outcome = match p.found.inbox.get(&e.id) {
            _ if !p.read.known() => Outcome::Unknown,
            Some(print) if *print == e.fingerprint => Outcome::Applied,
            Some(_) => Outcome::AppliedOther,
            None if !letters.is_empty() => Outcome::DeadLettered,
            None => Outcome::NotSeen,
        };
        handled.push(Handling {
            part: p.part.clone(),
            outcome,
            dead_letters: letters,
        });
    }
    Step {
        id: e.id,
        kind: e.kind.clone(),
        topic: e.topic.clone(),
        source: e.source.clone(),
        seq: e.seq,
        occurred_at: e.occurred_at,
        causation_id: e.causation_id,
        cause_in_trace: e.causation_id.is_some_and(|c| shown.contains(&c)),
        compensation: is_compensation(&e.topic),
        logged_by: logged.get(&e.id).cloned().unwrap_or_default(),
        handled,
    }
}

#[cfg(test)]
mod tests;
