//! The outbox side of a link: which durable entries still wait for their PUBACK, which are
//! kept after it, and what to publish (again).

use std::collections::VecDeque;
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

    /// Publishes again the entries still kept up to `upto` (for a part that lost its session).
    pub(super) fn replay(&mut self, upto: u64) {
        self.enqueue(1, upto);
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
        for kv in self.store.raw_range(store::seq_key(OUTBOX, from), OUTBOX) {
            let Ok((k, v)) = kv else { break };
            let Some(key) = store::seq_of(OUTBOX, &k) else {
                continue;
            };
            if key > upto {
                break;
            }
            match Entry::decode(&v) {
                Some(entry) => self.queue.push_back((key, entry)),
                None => warn!(key, "Unreadable outbox entry skipped."),
            }
        }
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
