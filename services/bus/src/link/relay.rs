//! The outbox side of a link: which durable entries still wait for their PUBACK, which are
//! kept after it, and what to publish (again).

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use tracing::warn;

use super::KEEP_ACKED;
use crate::store::{self, Store, OUTBOX};
use crate::tx::Outgoing as Entry;
use crate::BusError;

/// The outbox side of a link: which durable entries still wait for their PUBACK.
pub(super) struct Relay {
    store: Store,
    /// Entries up to this key are durable (and may be published).
    pub(super) durable: u64,
    /// Entries up to this key are in `queue` or already submitted.
    loaded: u64,
    pub(super) queue: VecDeque<(u64, Entry)>,
    /// PUBACKed entries still kept, oldest first.
    acked: VecDeque<(Instant, u64)>,
}

impl Relay {
    pub(super) fn new(store: Store) -> Result<Relay, BusError> {
        // Everything found on disk at start is durable.
        let durable = store.last_seq(OUTBOX)?.unwrap_or(0);
        Ok(Relay {
            store,
            durable,
            loaded: 0,
            queue: VecDeque::new(),
            acked: VecDeque::new(),
        })
    }

    /// After a (re)connect: publish every entry still in the outbox, from the start.
    pub(super) fn reload(&mut self) {
        self.queue.clear();
        self.loaded = 0;
        self.load();
    }

    /// Publishes again the entries still kept up to `upto` (for a part that lost its session),
    /// except a retained entry that a newer one on its topic supersedes: entries after `upto`
    /// were published already, and an older retained value published after them would
    /// overwrite the broker's newer one (a stale availability, board or telemetry that stays
    /// until the owner next publishes).
    pub(super) fn replay(&mut self, upto: u64) {
        let newest = self.newest_retained();
        let superseded =
            |key: u64, e: &Entry| e.retain && newest.get(&e.topic).is_some_and(|n| *n > key);
        let entries = self.entries(1, upto);
        self.queue
            .extend(entries.into_iter().filter(|(k, e)| !superseded(*k, e)));
    }

    /// The newest outbox key of each retained topic.
    fn newest_retained(&self) -> HashMap<String, u64> {
        let mut newest = HashMap::new();
        for (key, entry) in self.entries(1, u64::MAX) {
            if entry.retain {
                newest.insert(entry.topic, key);
            }
        }
        newest
    }

    pub(super) fn durable(&mut self, key: u64, connected: bool) {
        self.durable = self.durable.max(key);
        if connected {
            self.load();
        }
    }

    /// Queues the durable entries not loaded yet.
    fn load(&mut self) {
        self.enqueue(self.loaded.saturating_add(1), self.durable);
        self.loaded = self.durable;
    }

    /// Queues the outbox entries with keys in `from..=upto`, in key order.
    fn enqueue(&mut self, from: u64, upto: u64) {
        let entries = self.entries(from, upto);
        self.queue.extend(entries);
    }

    /// The outbox entries with keys in `from..=upto`, in key order.
    fn entries(&self, from: u64, upto: u64) -> Vec<(u64, Entry)> {
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
                Some(entry) => out.push((key, entry)),
                None => warn!(key, "Unreadable outbox entry skipped."),
            }
        }
        out
    }

    pub(super) fn acked(&mut self, key: u64) {
        self.acked.push_back((Instant::now(), key));
    }

    /// Deletes the entries PUBACKed longer than [`KEEP_ACKED`] ago.
    pub(super) fn forget_old(&mut self) {
        while let Some((at, key)) = self.acked.front().copied() {
            if at.elapsed() < KEEP_ACKED {
                break;
            }
            self.acked.pop_front();
            if let Err(e) = self.store.raw_remove(&store::seq_key(OUTBOX, key)) {
                // Left in place it is published again later: a duplicate, never a loss.
                warn!(key, error = %e, "Cannot delete an acknowledged outbox entry.");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreConfig;
    use milo_contracts::topics;

    fn put(store: &Store, key: u64, topic: &str, payload: &str, retain: bool) {
        let entry = Entry {
            topic: topic.into(),
            payload: payload.as_bytes().to_vec(),
            retain,
        };
        let mut batch = sled::Batch::default();
        batch.insert(store::seq_key(OUTBOX, key), entry.encode());
        store.apply(batch).unwrap();
    }

    #[test]
    fn a_replay_never_puts_back_a_retained_value_a_newer_one_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        put(&store, 1, topics::MENU_AVAILABILITY, "oat 840", true);
        put(&store, 2, topics::ORDERS_CREATED, "a", false);
        put(&store, 3, topics::BOARDS_PICKUP, "board 1", true);
        // Published after the replay was asked for (upto = 3): the newer availability.
        put(&store, 4, topics::MENU_AVAILABILITY, "oat 5840", true);
        let mut relay = Relay::new(store).unwrap();
        relay.replay(3);
        let again: Vec<(u64, String)> = relay
            .queue
            .iter()
            .map(|(k, e)| (*k, String::from_utf8_lossy(&e.payload).into_owned()))
            .collect();
        assert_eq!(again, vec![(2, "a".into()), (3, "board 1".into())]);
        // A reconnect publishes everything in order: the newest value still lands last.
        relay.reload();
        let keys: Vec<u64> = relay.queue.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, vec![1, 2, 3, 4]);
    }
}
