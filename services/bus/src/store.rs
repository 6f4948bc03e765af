//! A part's own sled database, with a `sync` that really reaches stable storage.
//!
//! sled 0.34's `flush()` ends in `sync_file_range`, which a power cut can undo; `sync` adds a
//! real `fdatasync` of the log file. Callers batch: one `sync` for every message in hand.
//!
//! Keys are strings. The bus keeps its own records under `_` (`_o/` outbox and log, `_x/` the
//! log's index, `_s/` the last number per topic, `_m/` marks, `_r/` the relay's state and the
//! store's birth, `_i/` inbox, `_d/` dead letters); a service uses any other prefix.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

mod counters;
pub(crate) use counters::Batch;
pub use counters::StoreStats;

/// How often sled's flusher thread looks for unsynced writes and segments to clean.
const FLUSH_EVERY_MS: u64 = 10_000;

pub(crate) const OUTBOX: &str = "_o/";
pub(crate) const INBOX: &str = "_i/";

/// What the inbox keeps of a message handled: its fingerprint, and where in the part's
/// handling order it was handled (an id of the store's counter; written since format 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Seen {
    /// Fingerprint and position.
    Handled(u64, u64),
    /// Fingerprint alone (format 2, operator requests).
    Print(u64),
}

impl Seen {
    /// The message's fingerprint.
    pub(crate) fn print(self) -> u64 {
        match self {
            Seen::Handled(p, _) | Seen::Print(p) => p,
        }
    }

    /// Where it was handled, if known.
    pub(crate) fn at(self) -> Option<u64> {
        match self {
            Seen::Handled(_, at) => Some(at),
            Seen::Print(_) => None,
        }
    }
}
pub(crate) const DEAD: &str = "_d/";
/// Index of the log: `_x/<topic>\0<seq>` → outbox key.
pub(crate) const INDEX: &str = "_x/";
/// The last sequence number given on each topic: `_s/<topic>`.
pub(crate) const HEADS: &str = "_s/";
/// A consumer's marks: `_m/<producer>\0<topic>` → what it has of that producer's topic.
pub(crate) const MARKS: &str = "_m/";
/// The relay's own state (`_r/relay`).
pub(crate) const RELAY: &str = "_r/relay";
/// When the store began, for producers asked to replay (`_r/born`, ms since the Unix epoch).
pub(crate) const BORN: &str = "_r/born";

/// Store errors. Each message says everything, cause included, and none has a `source`: a
/// chain printed with `{:#}` would say the cause twice.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("database error: {0}")]
    Sled(sled::Error),
    /// Another process has the store open: sled locks a database to one process.
    #[error("could not acquire lock on {path}: the store is in use by another process")]
    Locked {
        /// The store's directory.
        path: PathBuf,
    },
    /// The filesystem failed.
    #[error("cannot open or sync {path}: {error}")]
    Io {
        /// File involved.
        path: PathBuf,
        /// Cause.
        error: std::io::Error,
    },
    /// A stored value does not decode.
    #[error("corrupt value under {key}: {reason}")]
    Corrupt {
        /// Key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The store's on-disk format is newer than this Milo reads, or unreadable.
    #[error(transparent)]
    Format(#[from] crate::format::FormatError),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Sled(e)
    }
}

/// sled's error for a database another process holds (it says so only in words).
fn opening(dir: &Path, e: sled::Error) -> StoreError {
    match &e {
        sled::Error::Io(io) if io.to_string().starts_with("could not acquire lock") => {
            StoreError::Locked {
                path: dir.to_owned(),
            }
        }
        _ => e.into(),
    }
}

/// Tuning of a store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// sled page-cache cap in bytes.
    pub cache_bytes: u64,
    /// When false, `sync` stops at sled's flush (benchmarks of the fsync cost only).
    pub fsync: bool,
    /// Days a published event is kept in the part's log, to be published again to a
    /// consumer that missed it (see [`crate::log`]).
    pub log_days: u32,
    /// Most megabytes the log keeps; the oldest events go first.
    pub log_mb: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_bytes: 2 * 1024 * 1024,
            fsync: true,
            log_days: 7,
            log_mb: 64,
        }
    }
}

/// A part's database. Cheap to clone; readers (HTTP) may share it.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    log: File,
    path: PathBuf,
    fsync: bool,
    /// How long and how much the log keeps: milliseconds, bytes.
    log_limits: (u64, u64),
    health: Health,
    counters: counters::Counters,
}

/// How the store's `sync`s are going, read by [`Store::health`] from another task.
struct Health {
    /// Start of the clock below (monotonic: a Pi without a clock battery jumps at boot).
    base: Instant,
    /// When the `sync` in progress started, in ms since `base`, plus 1; 0 when none is.
    syncing_since_ms: AtomicU64,
    /// Why the last `sync` failed; `None` once one succeeds.
    failed: Mutex<Option<String>>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            base: Instant::now(),
            syncing_since_ms: AtomicU64::new(0),
            failed: Mutex::new(None),
        }
    }
}

impl Health {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    /// Marks a `sync` as running until the guard drops (also if it panics).
    fn syncing(&self) -> SyncGuard<'_> {
        let _ = self.syncing_since_ms.compare_exchange(
            0,
            self.now_ms(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        SyncGuard(self)
    }

    /// How long the `sync` in progress has been running, if one is.
    fn syncing_for(&self) -> Option<Duration> {
        match self.syncing_since_ms.load(Ordering::Acquire) {
            0 => None,
            since => Some(Duration::from_millis(self.now_ms().saturating_sub(since))),
        }
    }

    fn finished(&self, result: &Result<(), StoreError>) {
        let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        *failed = result.as_ref().err().map(ToString::to_string);
    }
}

struct SyncGuard<'a>(&'a Health);

impl Drop for SyncGuard<'_> {
    fn drop(&mut self) {
        self.0.syncing_since_ms.store(0, Ordering::Release);
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Store {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path, config: &StoreConfig) -> Result<Store, StoreError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |error| StoreError::Io { path, error }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(config.cache_bytes)
            // Every group is flushed and synced by `sync`; sled's own flusher only writes what
            // is saved without one (the relay's state, pruned log entries: lost in a crash they
            // are only older) and cleans segments. Every 10 s rather than every second: an idle
            // store's ten flushers woke the machine ten times a second for nothing.
            .flush_every_ms(Some(FLUSH_EVERY_MS))
            .open()
            .map_err(|e| opening(dir, e))?;
        let log_path = dir.join("db");
        let log = File::open(&log_path).map_err(io(&log_path))?;
        // Make the new files' directory entries durable too.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
        let store = Store {
            inner: Arc::new(Inner {
                db,
                log,
                path: dir.to_owned(),
                fsync: config.fsync,
                log_limits: (
                    u64::from(config.log_days) * 24 * 3600 * 1000,
                    u64::from(config.log_mb) * 1024 * 1024,
                ),
                health: Health::default(),
                counters: counters::Counters::default(),
            }),
        };
        crate::format::ensure(&store)?;
        Ok(store)
    }

    /// How long (ms) and how much (bytes) the log keeps.
    pub(crate) fn log_limits(&self) -> (u64, u64) {
        self.inner.log_limits
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Makes everything written so far durable: sled flush, then a real fdatasync. While it
    /// runs, and after it fails, [`Store::health`] says so.
    pub fn sync(&self) -> Result<(), StoreError> {
        let health = &self.inner.health;
        let result = {
            let _running = health.syncing();
            self.sync_now()
        };
        health.finished(&result);
        result
    }

    /// `Err` with the reason when a `sync` has been running for longer than `stall` (a disk
    /// that stopped answering) or the last one failed; a supervisor (systemd's watchdog)
    /// stops vouching for the part then.
    pub fn health(&self, stall: Duration) -> Result<(), String> {
        let health = &self.inner.health;
        if let Some(running) = health.syncing_for().filter(|d| *d > stall) {
            let secs = running.as_secs();
            return Err(format!("store stalled: sync running for {secs} s"));
        }
        let failed = health.failed.lock().unwrap_or_else(PoisonError::into_inner);
        match failed.as_deref() {
            Some(why) => Err(format!("store failing: last sync failed: {why}")),
            None => Ok(()),
        }
    }

    /// The disk work done since the store opened: syncs, real fdatasyncs, time in them, and
    /// the bytes applied.
    pub fn stats(&self) -> StoreStats {
        self.inner.counters.read()
    }

    fn sync_now(&self) -> Result<(), StoreError> {
        let started = Instant::now();
        self.inner.db.flush()?;
        if self.inner.fsync {
            self.inner.log.sync_data().map_err(|error| StoreError::Io {
                path: self.inner.path.join("db"),
                error,
            })?;
        }
        let took = started.elapsed();
        self.inner.counters.synced(took, self.inner.fsync);
        Ok(())
    }

    /// Reads and decodes one value.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.inner.db.get(key)? {
            None => Ok(None),
            Some(bytes) => decode(key, &bytes).map(Some),
        }
    }

    /// Values under `prefix`, in key order, strictly after `after` if given, at most `limit`.
    pub fn scan<T: DeserializeOwned>(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let mut out = Vec::new();
        let start = match after {
            Some(a) => format!("{prefix}{a}\u{0}"),
            None => prefix.to_owned(),
        };
        for kv in self.inner.db.range(start.as_bytes()..) {
            let (k, v) = kv?;
            let key = String::from_utf8_lossy(&k).into_owned();
            if !key.starts_with(prefix) || out.len() >= limit {
                break;
            }
            let value = decode(&key, &v)?;
            out.push((key[prefix.len()..].to_owned(), value));
        }
        Ok(out)
    }

    /// Number of keys under `prefix` (keys only: nothing is decoded).
    pub fn count(&self, prefix: &str) -> usize {
        self.inner
            .db
            .scan_prefix(prefix.as_bytes())
            .keys()
            .filter(Result::is_ok)
            .count()
    }

    /// Whether this part handled event `id` (its inbox holds it) and where in its handling
    /// order (an id of the store's counter: a later event has a larger one; `None` for an
    /// event handled before format 3): `milo replay` hands a part the events it handled, in
    /// that order.
    pub fn handled_at(&self, id: uuid::Uuid) -> Result<Option<Option<u64>>, StoreError> {
        Ok(self.get::<Seen>(&format!("{INBOX}{id}"))?.map(Seen::at))
    }

    /// The part's own records (every key outside the bus's `_` prefixes), raw, in key order:
    /// what `milo replay` compares between a part's store and its scratch store.
    pub fn records(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.inner.db.iter() {
            let (k, v) = kv?;
            if !k.starts_with(b"_") {
                out.push((String::from_utf8_lossy(&k).into_owned(), v.to_vec()));
            }
        }
        Ok(out)
    }

    /// At most `limit` raw entries whose keys start with `prefix`, in key order.
    pub(crate) fn raw_scan(
        &self,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<(sled::IVec, sled::IVec)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.inner.db.scan_prefix(prefix) {
            if out.len() >= limit {
                break;
            }
            out.push(kv?);
        }
        Ok(out)
    }

    pub(crate) fn raw_get(&self, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self.inner.db.get(key)?)
    }

    pub(crate) fn apply(&self, batch: impl Into<Batch>) -> Result<(), StoreError> {
        let batch = batch.into();
        self.inner.db.apply_batch(batch.inner)?;
        self.inner.counters.applied(batch.bytes);
        Ok(())
    }

    /// A fresh sequence id, never 0 (0 means "nothing yet" to the relay).
    pub(crate) fn next_id(&self) -> Result<u64, StoreError> {
        Ok(self.inner.db.generate_id()? + 1)
    }

    pub(crate) fn raw_range(
        &self,
        from: Vec<u8>,
        prefix: &str,
    ) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>> + '_ {
        let prefix = prefix.as_bytes().to_vec();
        self.inner
            .db
            .range(from..)
            .take_while(move |kv| kv.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix)))
            .map(|kv| kv.map_err(StoreError::from))
    }

    pub(crate) fn raw_range_bytes(
        &self,
        from: Vec<u8>,
        prefix: Vec<u8>,
    ) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>> + '_ {
        self.inner
            .db
            .range(from..)
            .take_while(move |kv| kv.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix)))
            .map(|kv| kv.map_err(StoreError::from))
    }

    /// The highest sequence id under `prefix`, if any.
    pub(crate) fn last_seq(&self, prefix: &str) -> Result<Option<u64>, StoreError> {
        let hi = seq_key(prefix, u64::MAX);
        let found = self
            .inner
            .db
            .range(prefix.as_bytes()..=hi.as_slice())
            .next_back();
        match found {
            Some(kv) => Ok(seq_of(prefix, &kv?.0)),
            None => Ok(None),
        }
    }

    pub(crate) fn raw_insert(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        self.inner.db.insert(key, value)?;
        Ok(())
    }

    pub(crate) fn raw_remove(&self, key: &[u8]) -> Result<(), StoreError> {
        self.inner.db.remove(key)?;
        Ok(())
    }
}

pub(crate) fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

/// Key of a sequence-numbered record: prefix + big-endian id, so keys sort by id.
pub(crate) fn seq_key(prefix: &str, id: u64) -> Vec<u8> {
    let mut k = prefix.as_bytes().to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The id back from a [`seq_key`].
pub(crate) fn seq_of(prefix: &str, key: &[u8]) -> Option<u64> {
    let tail = key.get(prefix.len()..)?;
    Some(u64::from_be_bytes(tail.try_into().ok()?))
}

/// How long a test waits for a database to be let go of: a bound for a loaded machine.
#[cfg(test)]
const REOPEN_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Opens with `open` until the database is free: sled's flusher thread keeps a dropped
/// database (and its lock) alive for a moment. Tests that reopen a store use it.
#[cfg(test)]
pub(crate) fn when_unlocked<T, E: std::fmt::Debug>(mut open: impl FnMut() -> Result<T, E>) -> T {
    let deadline = std::time::Instant::now() + REOPEN_WAIT;
    loop {
        match open() {
            Ok(v) => return v,
            Err(e) if std::time::Instant::now() >= deadline => {
                panic!("cannot reopen the database within {REOPEN_WAIT:?}: {e:?}")
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

/// Runs `open` again while it fails on the database's lock (see [`when_unlocked`]); its first
/// other outcome, for tests that expect an open to fail for another reason.
#[cfg(test)]
pub(crate) fn unlocked<T, E: std::fmt::Display>(
    mut open: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = std::time::Instant::now() + REOPEN_WAIT;
    loop {
        match open() {
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests;
