//! The outbox side of a link: publishes the durable entries in order, tracks their PUBACKs,
//! keeps the numbered ones as the part's log (pruned by age and size, see [`crate::log`]),
//! and answers the replay requests of consumers that missed some.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use milo_contracts::policy::topic_matches;
use milo_contracts::replay::{EventsUnavailable, ReplayRequest, REPLAY_LIMIT};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::log;
use crate::store::{self, Store, OUTBOX, RELAY};
use crate::tx::Outgoing as Entry;
use crate::BusError;

/// Shortest time between two prunings of the log (and saves of the relay's state).
const PRUNE_EVERY: Duration = Duration::from_secs(1);
/// Most entries one pruning deletes.
const PRUNE_BATCH: usize = 10_000;

/// What the relay keeps in the store (`_r/relay`), saved while it works, never while idle.
/// Lost in a crash it is only older: more entries are published again at the next start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    /// Every entry up to this key was PUBACKed.
    acked: u64,
    /// Entries up to this key are counted in `bytes`.
    counted: u64,
    /// Size of the log.
    bytes: u64,
}

/// The outbox side of a link.
pub(super) struct Relay {
    store: Store,
    /// This part's name: the `source` of its numbered events.
    producer: String,
    /// Entries up to this key are durable (and may be published).
    pub(super) durable: u64,
    /// Entries up to this key are in `queue`, submitted or PUBACKed.
    loaded: u64,
    pub(super) queue: VecDeque<(u64, Entry)>,
    /// Entries loaded for their first publish and not PUBACKed yet: numbered, size.
    unacked: BTreeMap<u64, (bool, u64)>,
    state: State,
    saved: State,
    pruned_at: Option<Instant>,
    /// New entries were loaded since the last pruning.
    grew: bool,
}

impl Relay {
    pub(super) fn new(store: Store, producer: String) -> Result<Relay, BusError> {
        // Everything found on disk at start is durable.
        let durable = store.last_seq(OUTBOX)?.unwrap_or(0);
        let state = match store.raw_get(RELAY.as_bytes())? {
            Some(v) => store::decode(RELAY, &v)?,
            None => State::default(),
        };
        Ok(Relay {
            store,
            producer,
            durable,
            loaded: state.acked,
            queue: VecDeque::new(),
            unacked: BTreeMap::new(),
            state,
            saved: state,
            pruned_at: None,
            grew: false,
        })
    }

    /// This part's name: the `source` of its numbered events.
    pub(super) fn producer(&self) -> &str {
        &self.producer
    }

    /// Every entry up to this key was PUBACKed.
    fn watermark(&self) -> u64 {
        match self.unacked.keys().next() {
            Some(first) => first - 1,
            None => self.loaded,
        }
    }

    /// After a (re)connect: publish every entry not PUBACKed yet, in order.
    pub(super) fn reload(&mut self) {
        self.queue.clear();
        self.loaded = self.watermark();
        self.load();
    }

    pub(super) fn durable(&mut self, key: u64, connected: bool) {
        self.durable = self.durable.max(key);
        if connected {
            self.load();
        }
    }

    /// Queues the durable entries not loaded yet.
    fn load(&mut self) {
        let from = self.loaded.saturating_add(1);
        for (key, size, entry) in self.entries(from, self.durable) {
            if key > self.state.counted {
                self.state.bytes += size;
                self.state.counted = key;
            }
            self.unacked.insert(key, (entry.seq.is_some(), size));
            self.queue.push_back((key, entry));
            self.grew = true;
        }
        self.loaded = self.loaded.max(self.durable);
    }

    /// The outbox entries with keys in `from..=upto`, in key order, with their sizes.
    fn entries(&self, from: u64, upto: u64) -> Vec<(u64, u64, Entry)> {
        let mut out = Vec::new();
        for kv in self.store.raw_range(store::seq_key(OUTBOX, from), OUTBOX) {
            let Ok((k, v)) = kv else { break };
            let Some(key) = store::seq_of(OUTBOX, &k) else {
                continue;
            };
            if key > upto {
                break;
            }
            match Entry::decode(&v) {
                Some(entry) => out.push((key, v.len() as u64, entry)),
                None => warn!(key, "Unreadable outbox entry skipped."),
            }
        }
        out
    }

    /// A PUBACK: a numbered entry stays in the log, any other is done with.
    pub(super) fn acked(&mut self, key: u64) {
        let Some((numbered, size)) = self.unacked.remove(&key) else {
            return;
        };
        if !numbered {
            if let Err(e) = self.store.raw_remove(&store::seq_key(OUTBOX, key)) {
                // Left in place it is pruned with the log later: never a loss.
                warn!(key, error = %e, "Cannot delete an acknowledged outbox entry.");
                return;
            }
            self.state.bytes = self.state.bytes.saturating_sub(size);
        }
    }

    /// Prunes the log and saves the relay's state, at most once per [`PRUNE_EVERY`], and only
    /// after the part published something: an idle part writes nothing (events that age out
    /// while it is idle go at its next publish).
    pub(super) fn tidy(&mut self) {
        if self.pruned_at.is_some_and(|at| at.elapsed() < PRUNE_EVERY) {
            return;
        }
        self.state.acked = self.watermark();
        if !self.grew && self.state == self.saved {
            return;
        }
        self.pruned_at = Some(Instant::now());
        if std::mem::take(&mut self.grew) {
            if let Err(e) = self.prune() {
                warn!(error = %e, "Cannot prune the log; it is tried again later.");
            }
        }
        if self.state != self.saved {
            let value = serde_json::to_vec(&self.state).unwrap_or_default();
            match self.store.raw_insert(RELAY.as_bytes(), value) {
                Ok(()) => self.saved = self.state,
                Err(e) => warn!(error = %e, "Cannot save the relay's state."),
            }
        }
    }

    /// Deletes the oldest PUBACKed entries while they are older than `store.log_days` or the
    /// log is larger than `store.log_mb`.
    fn prune(&mut self) -> Result<(), BusError> {
        let (max_age, max_bytes) = self.store.log_limits();
        let cutoff = u64::try_from(crate::retry::now_ms())
            .unwrap_or(0)
            .saturating_sub(max_age);
        let upto = self.watermark();
        let mut batch = store::Batch::default();
        let (mut n, mut freed) = (0, 0);
        for e in log::entries(&self.store, 1) {
            let size = e.stored_len();
            let over = self.state.bytes.saturating_sub(freed) > max_bytes;
            if e.key > upto || n >= PRUNE_BATCH || (e.at_ms >= cutoff && !over) {
                break;
            }
            batch.remove(store::seq_key(OUTBOX, e.key));
            if let Some(seq) = e.seq {
                batch.remove(log::index_key(&e.topic, seq));
            }
            n += 1;
            freed += size;
        }
        if n > 0 {
            self.store.apply(batch)?;
            self.state.bytes = self.state.bytes.saturating_sub(freed);
            info!(
                entries = n,
                bytes = freed,
                "Pruned the log's oldest events."
            );
        }
        Ok(())
    }

    /// What a replay request asks of this part: consumer, topic, first and last number,
    /// bounded by what was numbered when it came (later events reach the consumer anyway).
    pub(super) fn asks(&self, request: &ReplayRequest) -> Vec<Ask> {
        // A part keeps no marks of its own events: its own request names none of them and
        // would ask for its whole log on any topic it both reads and writes.
        if request.consumer == self.producer {
            return Vec::new();
        }
        let heads: BTreeMap<String, u64> = match log::heads(&self.store) {
            Ok(heads) => heads.into_iter().collect(),
            Err(e) => {
                warn!(error = %e, "Cannot read the log for a replay; the consumer asks again.");
                return Vec::new();
            }
        };
        let mut asks = Vec::new();
        if !request.filters.is_empty() {
            let after = request.after.get(&self.producer);
            for (topic, head) in &heads {
                if request.filters.iter().any(|f| topic_matches(f, topic)) {
                    let from = after.and_then(|a| a.get(topic)).map_or(1, |n| n + 1);
                    if from <= *head {
                        let ask = (request.consumer.clone(), topic.clone(), from, *head);
                        asks.push((ask, request.since_ms));
                    }
                }
            }
        }
        for range in request
            .ranges
            .iter()
            .filter(|g| g.producer == self.producer)
        {
            let Some(head) = heads.get(&range.topic) else {
                continue;
            };
            let to = range.to.min(*head);
            if range.from <= to && range.from > 0 {
                let ask = (
                    request.consumer.clone(),
                    range.topic.clone(),
                    range.from,
                    to,
                );
                asks.push((ask, request.since_ms));
            }
        }
        asks
    }

    /// Queues the log entry under `key` to be published again, if it is durable.
    fn requeue(&mut self, key: u64) -> Result<(), BusError> {
        if key <= self.durable {
            if let Some(e) = log::entry(&self.store, key)? {
                self.queue.push_back((key, e.into_outgoing()));
            }
        }
        Ok(())
    }

    /// The first number in `from..=to` on `topic` made at or after `since` (past `to` if
    /// none is).
    fn first_since(&self, topic: &str, from: u64, to: u64, since: u64) -> Result<u64, BusError> {
        let mut next = from;
        while next <= to {
            let found = log::find(&self.store, topic, next, to, 256)?;
            let Some((last, _)) = found.last().copied() else {
                return Ok(to.saturating_add(1));
            };
            for (seq, key) in found {
                if log::entry(&self.store, key)?.is_some_and(|e| e.at_ms >= since) {
                    return Ok(seq);
                }
            }
            next = last + 1;
        }
        Ok(to.saturating_add(1))
    }

    /// Answers replay requests: queues again the numbered events they ask for that the log
    /// holds (overlapping asks once), and says which ones it no longer holds.
    pub(super) fn serve(&mut self, asks: Vec<Ask>) -> Vec<EventsUnavailable> {
        match self.try_serve(asks) {
            Ok(gone) => gone,
            Err(e) => {
                warn!(error = %e, "Cannot read the log for a replay; the consumer asks again.");
                Vec::new()
            }
        }
    }

    fn try_serve(&mut self, asks: Vec<Ask>) -> Result<Vec<EventsUnavailable>, BusError> {
        let mut gone = Vec::new();
        // Per topic, the union of the ranges asked.
        let mut wanted: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
        for ((consumer, topic, from, to), since) in asks {
            let oldest = log::oldest(&self.store, &topic)?;
            let first_held = oldest.unwrap_or(u64::MAX);
            // What was made before the consumer began is none of its business.
            let first_new = match since {
                Some(since) => self.first_since(&topic, from.max(first_held), to, since)?,
                None => from.max(first_held),
            };
            let notice = |from: u64, to: u64, before_consumer: bool| EventsUnavailable {
                consumer: consumer.clone(),
                topic: topic.clone(),
                from,
                to,
                oldest,
                before_consumer,
            };
            // Pruned numbers are the consumer's business if what is held right after them is.
            let pruned_before = since.is_some() && first_new > first_held;
            if from < first_held {
                let last = to.min(first_held.saturating_sub(1));
                gone.push(notice(from, last, pruned_before));
            }
            if first_new > from.max(first_held) && from.max(first_held) <= to {
                let last = to.min(first_new - 1);
                gone.push(notice(from.max(first_held), last, true));
            }
            wanted.entry(topic).or_default().push((first_new, to));
        }
        let mut budget = REPLAY_LIMIT;
        for (topic, mut ranges) in wanted {
            ranges.sort_unstable();
            let mut merged: Vec<(u64, u64)> = Vec::new();
            for (a, b) in ranges.into_iter().filter(|(a, b)| a <= b) {
                match merged.last_mut() {
                    Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                    _ => merged.push((a, b)),
                }
            }
            for (from, to) in merged {
                let found = log::find(&self.store, &topic, from, to, budget)?;
                budget -= found.len();
                for (_, key) in found {
                    self.requeue(key)?;
                }
                if budget == 0 {
                    // Cut short: the newest event shows the consumer what it still misses.
                    if let Some((_, key)) = log::find(&self.store, &topic, to, to, 1)?.first() {
                        self.requeue(*key)?;
                    }
                    return Ok(gone);
                }
            }
        }
        Ok(gone)
    }
}

/// One ask of a replay request: consumer, topic, first and last number; and the consumer's
/// birth (nothing made before it is handed to it).
pub(super) type Ask = ((String, String, u64, u64), Option<u64>);

#[cfg(test)]
mod tests;
