//! A part's log: the events it published, kept for days so a consumer that missed some can
//! have them again (docs/ARCHITECTURE.md, "Every consumer sees every event").
//!
//! The log is the outbox itself. Each of a part's own events is numbered on its topic
//! (`seq` in the envelope: 1, 2, 3… with no gap, the last one under `_s/<topic>`, written in
//! the same batch) and its outbox entry `_o/<key>` is not deleted after its PUBACK: it stays,
//! with the time it was made, until it is older than `store.log_days` or the log is larger
//! than `store.log_mb` (the relay prunes the oldest, `link::relay`). An index
//! `_x/<topic>\0<seq>` → key finds a range of one topic. Unnumbered entries (retained state,
//! an event said again byte for byte, another part's event relayed) are deleted shortly after
//! their PUBACK, as before the log.
//!
//! Consumers keep marks per producer and topic (`runner::marks`); producers answer their
//! [`ReplayRequest`](milo_contracts::replay::ReplayRequest)s from here.

use crate::store::{self, Store, StoreError, HEADS, INDEX, OUTBOX};
use crate::tx::Outgoing;

/// Events this process's parts missed for good (a producer no longer held them).
static LOST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts events missed for good.
pub(crate) fn count_lost(n: u64) {
    LOST.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
}

/// How many events this process's parts missed for good since it started (each is also a
/// dead letter and an ERROR line).
pub fn lost() -> u64 {
    LOST.load(std::sync::atomic::Ordering::Relaxed)
}

/// One published event as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Its outbox key: the order the part made its events in.
    pub key: u64,
    /// When it was made, ms since the Unix epoch (0: written before the log existed).
    pub at_ms: u64,
    /// Its number on its topic (none: not numbered).
    pub seq: Option<u64>,
    /// The topic.
    pub topic: String,
    /// The exact payload.
    pub payload: Vec<u8>,
    /// Published retained.
    pub retain: bool,
    /// The event whose handling made it (none: a command, a timer, a raw message, or an
    /// entry written before entries named it).
    pub handled: Option<uuid::Uuid>,
}

impl LogEntry {
    fn from(key: u64, o: Outgoing) -> LogEntry {
        LogEntry {
            key,
            at_ms: o.at_ms,
            seq: o.seq,
            topic: o.topic,
            payload: o.payload,
            retain: o.retain,
            handled: o.handled,
        }
    }
}

impl LogEntry {
    /// Bytes of its outbox value as stored (an entry written before entries named the event
    /// they answer is 16 bytes shorter than counted).
    pub fn stored_len(&self) -> u64 {
        (crate::tx::HEADER + self.topic.len() + self.payload.len()) as u64
    }

    pub(crate) fn into_outgoing(self) -> Outgoing {
        Outgoing {
            topic: self.topic,
            payload: self.payload,
            retain: self.retain,
            at_ms: self.at_ms,
            seq: self.seq,
            handled: self.handled,
        }
    }
}

/// Key of the index entry of `topic`'s event number `seq`.
pub(crate) fn index_key(topic: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(INDEX.len() + topic.len() + 9);
    k.extend_from_slice(INDEX.as_bytes());
    k.extend_from_slice(topic.as_bytes());
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Every entry of the log from key `from` on, in the order they were made (unreadable ones
/// skipped).
pub fn entries(store: &Store, from: u64) -> impl Iterator<Item = LogEntry> + '_ {
    store
        .raw_range(store::seq_key(OUTBOX, from), OUTBOX)
        .map_while(Result::ok)
        .filter_map(|(k, v)| {
            let key = store::seq_of(OUTBOX, &k)?;
            Some(LogEntry::from(key, Outgoing::decode(&v)?))
        })
}

/// The entry under outbox key `key`.
pub fn entry(store: &Store, key: u64) -> Result<Option<LogEntry>, StoreError> {
    let found = store.raw_get(&store::seq_key(OUTBOX, key))?;
    Ok(found.and_then(|v| Outgoing::decode(&v).map(|o| LogEntry::from(key, o))))
}

/// The outbox keys of `topic`'s events numbered `from..=to` that the log still holds, in
/// order, at most `limit`.
pub fn find(
    store: &Store,
    topic: &str,
    from: u64,
    to: u64,
    limit: usize,
) -> Result<Vec<(u64, u64)>, StoreError> {
    let start = index_key(topic, from);
    let prefix = {
        let mut p = INDEX.as_bytes().to_vec();
        p.extend_from_slice(topic.as_bytes());
        p.push(0);
        p
    };
    let mut out = Vec::new();
    for kv in store.raw_range_bytes(start, prefix.clone()) {
        let (k, v) = kv?;
        let Some(seq) = k
            .get(prefix.len()..)
            .and_then(|t| t.try_into().ok())
            .map(u64::from_be_bytes)
        else {
            continue;
        };
        if seq > to || out.len() >= limit {
            break;
        }
        if let Ok(key) = <[u8; 8]>::try_from(&v[..]) {
            out.push((seq, u64::from_be_bytes(key)));
        }
    }
    Ok(out)
}

/// The first number `topic` still holds in the log, if any.
pub fn oldest(store: &Store, topic: &str) -> Result<Option<u64>, StoreError> {
    Ok(find(store, topic, 0, u64::MAX, 1)?
        .first()
        .map(|(seq, _)| *seq))
}

/// What the log holds: numbered events, and the bytes of their entries and index keys as
/// stored (keys and values, before sled's own overhead).
pub fn size(store: &Store) -> Result<(u64, u64), StoreError> {
    let (mut events, mut bytes) = (0, 0);
    for e in entries(store, 1).filter(|e| e.seq.is_some()) {
        events += 1;
        // Key and entry; the index key and its value.
        bytes += (OUTBOX.len() + 8) as u64 + e.stored_len();
        bytes += (INDEX.len() + e.topic.len() + 9 + 8) as u64;
    }
    Ok((events, bytes))
}

/// The topics this part numbers events on, with the last number given on each.
pub fn heads(store: &Store) -> Result<Vec<(String, u64)>, StoreError> {
    let mut out = Vec::new();
    for (k, v) in store.raw_scan(HEADS.as_bytes(), usize::MAX)? {
        let topic = String::from_utf8_lossy(&k[HEADS.len()..]).into_owned();
        let seq: u64 = store::decode(&topic, &v)?;
        out.push((topic, seq));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
