//! What a part's store knows of one order, for `milo trace`: the order's events in its log
//! ([`events`]), whether its inbox holds some events ([`inbox`]) and its dead letters about
//! the order ([`letters`]). `milo trace` calls these on a stopped part's store; a running part
//! calls them for the operator's requests (`runner::requests`), a page at a time.
//!
//! There is no index by order: a page reads the log (or the dead letters) in key order and
//! keeps what names the order. The log is bounded (`store.log_mb`, 64 MB by default), and a
//! page reads at most [`Limits::scan`] entries so a running part's group commit is held up
//! for a bounded time.

use milo_contracts::dead_letters::{clip, TOPIC_LIMIT};
use milo_contracts::trace::{PayloadIds, TracedEvent, TracedLetter, NAME_LIMIT};
use milo_contracts::RawEnvelope;
use serde::Serialize;
use uuid::Uuid;

use crate::dlq::{self, DeadLetter};
use crate::fingerprint;
use crate::log::{self, LogEntry};
use crate::store::{self, Seen, Store, StoreError, DEAD, INBOX, OUTBOX};

/// Entries (log entries or dead letters) a running part reads for one request.
pub const SCAN_PAGE: usize = 4096;

/// How much one page may read and say.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Entries read at most.
    pub scan: usize,
    /// JSON bytes of the items at most.
    pub room: usize,
}

impl Limits {
    /// No limit: everything in one page (a stopped part's store).
    pub const NONE: Limits = Limits {
        scan: usize::MAX,
        room: usize::MAX,
    };
}

/// One page of what a store holds about an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// What names the order, in key order.
    pub items: Vec<T>,
    /// Items too large for `room` even alone: left out.
    pub omitted: u64,
    /// The range's last key (the newest one when the first page was read).
    pub upto: u64,
    /// Where the next page starts, if the range is not done.
    pub next: Option<u64>,
}

/// The order's events in the log, keys `from..=upto` (no `upto`: the newest entry now).
pub fn events(
    store: &Store,
    order: Uuid,
    from: u64,
    upto: Option<u64>,
    limits: Limits,
) -> Result<Page<TracedEvent>, StoreError> {
    let upto = match upto {
        Some(u) => u,
        None => store.last_seq(OUTBOX)?.unwrap_or(0),
    };
    let needle = order.hyphenated().to_string();
    let found = log::entries(store, from).map(|e| {
        let item = of_order(&e, &needle, order);
        Ok((e.key, item))
    });
    page(found, upto, limits)
}

/// The event of `entry` if it is one of `order`'s.
fn of_order(entry: &LogEntry, needle: &str, order: Uuid) -> Option<TracedEvent> {
    // Most entries are other orders': a byte search is much cheaper than a parse.
    let needle = needle.as_bytes();
    if !entry.payload.windows(needle.len()).any(|w| w == needle) {
        return None;
    }
    let env = RawEnvelope::parse(&entry.payload).ok()?;
    (env.correlation_id == order).then(|| TracedEvent {
        id: env.id,
        kind: clip(&env.kind, NAME_LIMIT),
        version: env.version,
        topic: clip(&entry.topic, TOPIC_LIMIT),
        source: clip(&env.source, NAME_LIMIT),
        seq: env.seq.or(entry.seq),
        occurred_at: env.occurred_at,
        causation_id: env.causation_id,
        key: entry.key,
        fingerprint: fingerprint(&entry.payload),
    })
}

/// For each of `ids`, the fingerprint this store's inbox holds for it, if any.
pub fn inbox(store: &Store, ids: &[Uuid]) -> Result<Vec<Option<u64>>, StoreError> {
    ids.iter()
        .map(|id| Ok(store.get::<Seen>(&format!("{INBOX}{id}"))?.map(Seen::print)))
        .collect()
}

/// The dead letters about `order` (their payload's `correlation_id`), ids `from..=upto` (no
/// `upto`: the newest one now).
pub fn letters(
    store: &Store,
    order: Uuid,
    from: u64,
    upto: Option<u64>,
    limits: Limits,
) -> Result<Page<TracedLetter>, StoreError> {
    let upto = match upto {
        Some(u) => u,
        None => store.last_seq(DEAD)?.unwrap_or(0),
    };
    let found = store.raw_range(store::seq_key(DEAD, from), DEAD).map(|kv| {
        let (k, v) = kv?;
        let id = store::seq_of(DEAD, &k).unwrap_or(u64::MAX);
        // An unreadable record is `milo dlq`'s to show: it names no order.
        let letter = store::decode::<DeadLetter>(&format!("{DEAD}{id}"), &v).ok();
        Ok((id, letter.and_then(|l| about(&l, order))))
    });
    page(found, upto, limits)
}

/// The letter's record if its payload is about `order`.
fn about(letter: &DeadLetter, order: Uuid) -> Option<TracedLetter> {
    let ids = PayloadIds::of(&dlq::original(&letter.payload));
    (ids.correlation_id == Some(order)).then(|| {
        let (topic, reason) = (&letter.topic, &letter.reason);
        TracedLetter::new(letter.id, ids.id, topic, reason, letter.received_at)
    })
}

/// A page of `found` (key, item if it names the order) up to key `upto`, within `limits`.
fn page<T: Serialize>(
    found: impl Iterator<Item = Result<(u64, Option<T>), StoreError>>,
    upto: u64,
    limits: Limits,
) -> Result<Page<T>, StoreError> {
    let mut out = Page {
        items: Vec::new(),
        omitted: 0,
        upto,
        next: None,
    };
    let (mut read, mut used) = (0, 0usize);
    for kv in found {
        let (key, item) = kv?;
        if key > upto {
            break;
        }
        if read == limits.scan {
            out.next = Some(key);
            break;
        }
        read += 1;
        let Some(item) = item else { continue };
        let size = serde_json::to_vec(&item).map_or(usize::MAX / 2, |v| v.len()) + 1;
        if used.saturating_add(size) > limits.room {
            if out.items.is_empty() {
                out.omitted += 1;
                continue;
            }
            out.next = Some(key);
            break;
        }
        used += size;
        out.items.push(item);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
