//! [`Tx`]: the staged effect of one message: state writes, events to publish, and what to do
//! once it is durable.
//!
//! A committed `Tx` goes into its group's [`Overlay`]; the whole group is written as one sled
//! batch right before the group's fsync (sled seals and writes its log on every batch, so one
//! batch per message would cost more than the fsync). Reads through a `Tx` see the overlay, so
//! each message sees the effects of the messages before it in the same group.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use milo_contracts::{Envelope, Event};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::log;
use crate::store::{self, Store, StoreError, HEADS, OUTBOX};
use crate::BusError;

/// A message to publish once the state change that made it is durable: an outbox entry,
/// kept afterwards as the part's log when it is numbered (see [`crate::log`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outgoing {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    /// When it was staged, ms since the Unix epoch (0: an entry from before the log).
    pub at_ms: u64,
    /// Its number on `topic`, if it is one of this part's numbered events.
    pub seq: Option<u64>,
    /// The event whose handling made it (none: a command, a timer, a raw message).
    pub handled: Option<Uuid>,
}

/// First byte of an entry that names the event it answers: 4, plus 1 when retained.
const ANSWERS: u8 = 4;
/// First byte of an entry written since the log but before entries named what they answer:
/// 2, plus 1 when retained. Entries from before the log start with 0 or 1 (retained) and
/// have no time or number.
const LOGGED: u8 = 2;
/// Bytes of an entry before its topic: tag, time, number, event answered, topic length.
pub(crate) const HEADER: usize = 35;

impl Outgoing {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let topic = self.topic.as_bytes();
        let mut v = Vec::with_capacity(HEADER + topic.len() + self.payload.len());
        v.push(ANSWERS + u8::from(self.retain));
        v.extend_from_slice(&self.at_ms.to_be_bytes());
        v.extend_from_slice(&self.seq.unwrap_or(0).to_be_bytes());
        v.extend_from_slice(self.handled.unwrap_or_else(Uuid::nil).as_bytes());
        // Topics are built by the contracts crate: far below 64 KiB.
        v.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        v.extend_from_slice(topic);
        v.extend_from_slice(&self.payload);
        v
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Outgoing> {
        let tag = *bytes.first()?;
        if tag > ANSWERS + 1 {
            return None;
        }
        let (at_ms, seq, rest) = if tag >= LOGGED {
            let at = u64::from_be_bytes(bytes.get(1..9)?.try_into().ok()?);
            let seq = u64::from_be_bytes(bytes.get(9..17)?.try_into().ok()?);
            (at, (seq > 0).then_some(seq), bytes.get(17..)?)
        } else {
            (0, None, bytes.get(1..)?)
        };
        let (handled, rest) = if tag >= ANSWERS {
            let id = Uuid::from_bytes(rest.get(..16)?.try_into().ok()?);
            ((!id.is_nil()).then_some(id), rest.get(16..)?)
        } else {
            (None, rest)
        };
        let len = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize;
        let topic = std::str::from_utf8(rest.get(2..2 + len)?).ok()?.to_owned();
        let payload = rest.get(2 + len..)?.to_vec();
        Some(Outgoing {
            topic,
            payload,
            retain: tag % 2 == 1,
            at_ms,
            seq,
            handled,
        })
    }
}

type AfterCommit = Box<dyn FnOnce() + Send>;

/// An event as it was published, kept to publish it again unchanged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Published {
    /// Topic.
    pub topic: String,
    /// The exact JSON payload.
    pub payload: String,
}

/// Key → new value, or `None` for a delete.
type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Writes of a group not yet applied to sled.
#[derive(Debug, Default, Clone)]
pub(crate) struct Overlay(Arc<Mutex<Writes>>);

impl Overlay {
    fn lock(&self) -> std::sync::MutexGuard<'_, Writes> {
        // A poisoned lock only means a handler panicked mid-way; the map itself is consistent.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stages one raw write.
    pub(crate) fn put(&self, key: Vec<u8>, value: Vec<u8>) {
        self.lock().insert(key, Some(value));
    }

    /// Takes every write as one sled batch.
    pub(crate) fn take_batch(&self) -> Option<crate::store::Batch> {
        let mut writes = self.lock();
        if writes.is_empty() {
            return None;
        }
        let mut batch = crate::store::Batch::default();
        for (k, v) in std::mem::take(&mut *writes) {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        Some(batch)
    }
}

/// The staged effect of one message or command.
///
/// Reads see the store as committed so far (including earlier messages of the same group),
/// not this `Tx`'s own staged writes.
pub struct Tx {
    store: Store,
    overlay: Overlay,
    source: String,
    max_payload: usize,
    writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    outgoing: Vec<Outgoing>,
    /// The last number given on each topic by this `Tx`.
    seqs: BTreeMap<String, u64>,
    after: Vec<AfterCommit>,
    /// The event this `Tx` handles, named by each log entry it makes.
    handling: Option<Uuid>,
    /// Retained states to publish once the group is durable, without the outbox.
    states: Vec<(String, Vec<u8>)>,
}

impl Tx {
    pub(crate) fn new(store: Store, overlay: Overlay, source: &str, max_payload: usize) -> Tx {
        Tx {
            store,
            overlay,
            source: source.to_owned(),
            max_payload,
            writes: Vec::new(),
            outgoing: Vec::new(),
            seqs: BTreeMap::new(),
            after: Vec::new(),
            handling: None,
            states: Vec::new(),
        }
    }

    /// This `Tx` handles event `id`: its log entries say so (`milo replay` compares a part's
    /// answers to each event).
    pub(crate) fn handling(mut self, id: Uuid) -> Tx {
        self.handling = Some(id);
        self
    }

    /// The service or device name events are sourced from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Reads one value as committed so far (this group's earlier messages included).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        if let Some(pending) = self.overlay.lock().get(key.as_bytes()) {
            return pending
                .as_deref()
                .map(|v| store::decode(key, v))
                .transpose();
        }
        self.store.get(key)
    }

    /// Values under `prefix` in key order, as committed so far, at most `limit`.
    pub fn scan<T: DeserializeOwned>(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, T)>, StoreError> {
        // This group's writes under the prefix, then the store's entries: at most `limit` of
        // them can be live plus one per pending write (which may delete or replace one).
        let pending: Writes = self
            .overlay
            .lock()
            .range(prefix.as_bytes().to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix.as_bytes()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut merged = Writes::new();
        let wanted = limit.saturating_add(pending.len());
        for (k, v) in self.store.raw_scan(prefix.as_bytes(), wanted)? {
            merged.insert(k.to_vec(), Some(v.to_vec()));
        }
        merged.extend(pending);
        let mut out = Vec::new();
        for (k, v) in merged {
            let Some(v) = v else { continue };
            if out.len() >= limit {
                break;
            }
            let key = String::from_utf8_lossy(&k).into_owned();
            let value = store::decode(&key, &v)?;
            out.push((key[prefix.len()..].to_owned(), value));
        }
        Ok(out)
    }

    /// Number of keys under `prefix`, as committed so far.
    pub fn count(&self, prefix: &str) -> Result<usize, StoreError> {
        Ok(self.scan::<serde_json::Value>(prefix, usize::MAX)?.len())
    }

    /// Stages a write.
    pub fn put<T: Serialize>(&mut self, key: &str, value: &T) {
        self.put_raw(key.as_bytes().to_vec(), value);
    }

    pub(crate) fn put_raw<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        // Plain data structs always serialise.
        self.writes
            .push((key, Some(serde_json::to_vec(value).unwrap_or_default())));
    }

    pub(crate) fn remove_raw(&mut self, key: Vec<u8>) {
        self.writes.push((key, None));
    }

    /// Stages a delete.
    pub fn remove(&mut self, key: &str) {
        self.writes.push((key.as_bytes().to_vec(), None));
    }

    /// Stages an event on its own topic.
    pub fn publish<E: Event>(&mut self, event: &Envelope<E>) -> Result<(), BusError> {
        self.publish_to(E::TOPIC, event)
    }

    /// Stages an event on a given topic (per-device topics, dead letters). This part's own
    /// events are numbered on their topic (`seq`) and kept in its log.
    pub fn publish_to<E: Event>(
        &mut self,
        topic: &str,
        event: &Envelope<E>,
    ) -> Result<(), BusError> {
        let (payload, seq) = self.numbered(topic, event)?;
        self.stage_numbered(topic, payload, false, seq)
    }

    /// The JSON of `event` as published on `topic`, numbered if it is this part's own.
    fn numbered<E: Event>(
        &mut self,
        topic: &str,
        event: &Envelope<E>,
    ) -> Result<(Vec<u8>, Option<u64>), StoreError> {
        if event.source != self.source {
            return Ok((event.to_json(), None));
        }
        let seq = match self.seqs.get(topic) {
            Some(n) => n + 1,
            None => self.get::<u64>(&format!("{HEADS}{topic}"))?.unwrap_or(0) + 1,
        };
        self.seqs.insert(topic.to_owned(), seq);
        Ok((event.to_json_seq(seq), Some(seq)))
    }

    /// Answers a request as a participant: the very event recorded in `answer` if there is
    /// one, byte for byte, so every consumer's inbox sees a repeat rather than a second fact;
    /// otherwise a new event with `data`, published and recorded in `answer` (the caller
    /// writes the record holding it).
    pub fn answer<E: Event>(
        &mut self,
        answer: &mut Option<Published>,
        correlation: uuid::Uuid,
        cause: Option<uuid::Uuid>,
        data: impl FnOnce() -> E,
    ) -> Result<(), BusError> {
        if let Some(p) = answer {
            return self.republish(p);
        }
        let event = self.event(correlation, cause, data());
        let (payload, seq) = self.numbered(E::TOPIC, &event)?;
        self.stage_numbered(E::TOPIC, payload.clone(), false, seq)?;
        *answer = Some(Published {
            topic: E::TOPIC.to_owned(),
            payload: String::from_utf8_lossy(&payload).into_owned(),
        });
        Ok(())
    }

    /// Publishes a recorded event again, byte for byte (same event id: inboxes see a repeat).
    pub fn republish(&mut self, recorded: &Published) -> Result<(), BusError> {
        let payload = recorded.payload.clone().into_bytes();
        self.stage(&recorded.topic, payload, false)
    }

    /// Stages a retained event (pickup board).
    pub fn publish_retained<E: Event>(&mut self, event: &Envelope<E>) -> Result<(), BusError> {
        self.stage(E::TOPIC, event.to_json(), true)
    }

    /// Stages a retained plain payload (not an envelope) on `topic`: the current state of a
    /// part, like a device's telemetry, that consumers read raw.
    pub fn publish_raw_retained(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), BusError> {
        self.stage(topic, payload, true)
    }

    /// Publishes a retained state that its owner publishes again by itself (a device's
    /// telemetry, the menu's availability): once the group is durable, straight to the
    /// broker (QoS 1, kept in the link's memory and put back after a broker restart), never
    /// through the outbox, so it costs no disk write and an idle store writes nothing. A
    /// crash may lose the last one: the owner publishes again as it starts, and periodically.
    pub fn publish_state(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), BusError> {
        if payload.len() > self.max_payload {
            return Err(BusError::Oversized {
                topic: topic.to_owned(),
                size: payload.len(),
                limit: self.max_payload,
            });
        }
        self.states.retain(|(t, _)| t != topic);
        self.states.push((topic.to_owned(), payload));
        Ok(())
    }

    /// [`Tx::publish_state`] of an event on its own topic (signed by nobody but this part's
    /// credential, as every publish).
    pub fn publish_state_event<E: Event>(&mut self, event: &Envelope<E>) -> Result<(), BusError> {
        self.publish_state(E::TOPIC, event.to_json())
    }

    /// The retained states this transaction publishes ([`Tx::publish_state`]), taken.
    pub(crate) fn take_states(&mut self) -> Vec<(String, Vec<u8>)> {
        std::mem::take(&mut self.states)
    }

    /// A new event from this part, caused by `cause` (if any).
    pub fn event<E: Event>(
        &self,
        correlation: uuid::Uuid,
        cause: Option<uuid::Uuid>,
        data: E,
    ) -> Envelope<E> {
        Envelope::new(&self.source, correlation, cause, data)
    }

    /// Runs `f` once this `Tx` is durable (replies to HTTP, starting a gateway call...).
    pub fn after_commit(&mut self, f: impl FnOnce() + Send + 'static) {
        self.after.push(Box::new(f));
    }

    fn stage(&mut self, topic: &str, payload: Vec<u8>, retain: bool) -> Result<(), BusError> {
        self.stage_numbered(topic, payload, retain, None)
    }

    fn stage_numbered(
        &mut self,
        topic: &str,
        payload: Vec<u8>,
        retain: bool,
        seq: Option<u64>,
    ) -> Result<(), BusError> {
        if payload.len() > self.max_payload {
            return Err(BusError::Oversized {
                topic: topic.to_owned(),
                size: payload.len(),
                limit: self.max_payload,
            });
        }
        self.outgoing.push(Outgoing {
            topic: topic.to_owned(),
            payload,
            retain,
            at_ms: u64::try_from(crate::retry::now_ms()).unwrap_or(0),
            seq,
            handled: self.handling,
        });
        Ok(())
    }

    /// The topic of every event this transaction will publish.
    pub(crate) fn topics(&self) -> impl Iterator<Item = &str> {
        self.outgoing.iter().map(|o| o.topic.as_str())
    }

    /// Moves the writes and outbox entries into the group's overlay (all or nothing). Returns
    /// the last outbox key (if any) and what to run once durable.
    pub(crate) fn commit(mut self) -> Result<(Option<u64>, Vec<AfterCommit>), StoreError> {
        let mut last = None;
        for out in &self.outgoing {
            let id = self.store.next_id()?;
            self.writes
                .push((store::seq_key(OUTBOX, id), Some(out.encode())));
            if let Some(seq) = out.seq {
                self.writes.push((
                    log::index_key(&out.topic, seq),
                    Some(id.to_be_bytes().to_vec()),
                ));
            }
            last = Some(id);
        }
        for (topic, seq) in std::mem::take(&mut self.seqs) {
            self.put(&format!("{HEADS}{topic}"), &seq);
        }
        let mut overlay = self.overlay.lock();
        for (k, v) in self.writes {
            overlay.insert(k, v);
        }
        Ok((last, self.after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outgoing_round_trips() {
        let o = Outgoing {
            topic: milo_contracts::topics::ORDERS_CREATED.into(),
            payload: b"{}".to_vec(),
            retain: true,
            at_ms: 1_765_000_000_000,
            seq: Some(7),
            handled: Some(Uuid::from_u128(42)),
        };
        assert_eq!(Outgoing::decode(&o.encode()), Some(o.clone()));
        let none = Outgoing { handled: None, ..o };
        assert_eq!(Outgoing::decode(&none.encode()), Some(none));
        // An entry written before entries named what they answer: tag 2, time, number.
        let v2 = [
            &[2u8][..],
            &5u64.to_be_bytes(),
            &3u64.to_be_bytes(),
            &[0, 1],
            b"t{}",
        ]
        .concat();
        let read = Outgoing::decode(&v2).unwrap();
        assert_eq!((read.at_ms, read.seq, read.handled), (5, Some(3), None));
        assert_eq!((read.topic.as_str(), &read.payload[..]), ("t", &b"{}"[..]));
        assert_eq!(Outgoing::decode(&[9, 0]), None);
        assert_eq!(Outgoing::decode(&[1, 0]), None);
        // An entry written before the log: retain flag, topic, payload.
        let old = [&[1u8, 0, 1][..], b"t{}"].concat();
        let read = Outgoing::decode(&old).unwrap();
        assert_eq!(
            (read.retain, read.topic.as_str(), read.at_ms, read.seq),
            (true, "t", 0, None)
        );
        assert_eq!(read.payload, b"{}");
    }

    #[test]
    fn a_scan_merges_the_groups_writes_and_honours_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &crate::StoreConfig::default()).unwrap();
        let overlay = Overlay::default();
        let mut first = Tx::new(store.clone(), overlay.clone(), "test", 1 << 16);
        for k in ["q/a", "q/b", "q/c", "q/d", "r/a"] {
            first.put(k, &k);
        }
        first.commit().unwrap();
        store.apply(overlay.take_batch().unwrap()).unwrap();
        // A later message of the same group deletes one, changes one and adds one.
        let mut second = Tx::new(store.clone(), overlay.clone(), "test", 1 << 16);
        second.remove("q/a");
        second.put("q/b", &"new");
        second.put("q/bb", &"added");
        second.commit().unwrap();
        let tx = Tx::new(store, overlay, "test", 1 << 16);
        let all: Vec<(String, String)> = tx.scan("q/", usize::MAX).unwrap();
        let keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "bb", "c", "d"]);
        assert_eq!(all[0].1, "new");
        let two: Vec<(String, String)> = tx.scan("q/", 2).unwrap();
        assert_eq!(two, all[..2].to_vec());
        assert_eq!(tx.count("q/").unwrap(), 4);
    }
}
