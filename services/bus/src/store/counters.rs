//! What a store's disk work has cost since it opened: counters a bench reads before and after
//! a run ([`Store::stats`](super::Store::stats)), cheap enough to keep always on.

use std::iter::Sum;
use std::ops::Add;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sled::IVec;

/// A store's disk work since it opened. Subtract two readings ([`StoreStats::since`]) for a
/// run's share; add the stores of a shop together (`+`, [`Sum`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Calls of `Store::sync`, each one sled flush (which ends in `sync_file_range`).
    pub syncs: u64,
    /// Real `fdatasync`s of the log among them: as many as `syncs` with `store.fsync`, else 0.
    pub fdatasyncs: u64,
    /// Time spent in `sync`, flush and fdatasync together (on the blocking threads).
    pub sync_time: Duration,
    /// Batches applied (a group commit is one).
    pub batches: u64,
    /// Bytes of the keys and values those batches inserted: what the parts asked sled to keep.
    /// sled's log adds headers and rewrites pages, so the disk sees more; a migration's own
    /// writes are not counted (sled does not say a batch's size).
    pub bytes: u64,
}

impl StoreStats {
    /// The work done between `earlier` and this reading.
    pub fn since(&self, earlier: &StoreStats) -> StoreStats {
        StoreStats {
            syncs: self.syncs.saturating_sub(earlier.syncs),
            fdatasyncs: self.fdatasyncs.saturating_sub(earlier.fdatasyncs),
            sync_time: self.sync_time.saturating_sub(earlier.sync_time),
            batches: self.batches.saturating_sub(earlier.batches),
            bytes: self.bytes.saturating_sub(earlier.bytes),
        }
    }
}

impl Add for StoreStats {
    type Output = StoreStats;

    fn add(self, o: StoreStats) -> StoreStats {
        StoreStats {
            syncs: self.syncs.saturating_add(o.syncs),
            fdatasyncs: self.fdatasyncs.saturating_add(o.fdatasyncs),
            sync_time: self.sync_time.saturating_add(o.sync_time),
            batches: self.batches.saturating_add(o.batches),
            bytes: self.bytes.saturating_add(o.bytes),
        }
    }
}

impl Sum for StoreStats {
    fn sum<I: Iterator<Item = StoreStats>>(iter: I) -> StoreStats {
        iter.fold(StoreStats::default(), Add::add)
    }
}

/// The live counters behind [`StoreStats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    syncs: AtomicU64,
    fdatasyncs: AtomicU64,
    sync_nanos: AtomicU64,
    batches: AtomicU64,
    bytes: AtomicU64,
}

impl Counters {
    pub(super) fn synced(&self, took: Duration, fdatasync: bool) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.fdatasyncs
            .fetch_add(u64::from(fdatasync), Ordering::Relaxed);
        self.sync_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub(super) fn applied(&self, bytes: u64) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(super) fn read(&self) -> StoreStats {
        StoreStats {
            syncs: self.syncs.load(Ordering::Relaxed),
            fdatasyncs: self.fdatasyncs.load(Ordering::Relaxed),
            sync_time: Duration::from_nanos(self.sync_nanos.load(Ordering::Relaxed)),
            batches: self.batches.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

/// A sled batch that counts the bytes it inserts.
#[derive(Default)]
pub(crate) struct Batch {
    pub(super) inner: sled::Batch,
    pub(super) bytes: u64,
}

impl Batch {
    /// Sets `key` to `value`.
    pub(crate) fn insert(&mut self, key: impl Into<IVec>, value: impl Into<IVec>) {
        let (key, value) = (key.into(), value.into());
        let len = key.len().saturating_add(value.len());
        self.bytes = self
            .bytes
            .saturating_add(u64::try_from(len).unwrap_or(u64::MAX));
        self.inner.insert(key, value);
    }

    /// Deletes `key`.
    pub(crate) fn remove(&mut self, key: impl Into<IVec>) {
        self.inner.remove(key);
    }
}

/// A batch built elsewhere (a migration's): applied like any other, its bytes not counted.
impl From<sled::Batch> for Batch {
    fn from(inner: sled::Batch) -> Batch {
        Batch { inner, bytes: 0 }
    }
}
