//! The on-disk format of a store, stamped in the store itself, so a newer Milo can migrate an
//! older store and an older Milo refuses a store it cannot read instead of misreading it.
//!
//! Format 2 is the layout described in [`crate::store`]: the bus's records under `_o/` (the
//! outbox and log, entries with their time and number), `_x/` (the log's index), `_s/` (the
//! last number per topic), `_m/` (a consumer's marks), `_r/` (the relay's state), `_i/`, `_d/`
//! and `_p/`, a service's records as JSON under its own prefixes. Format 3 is format 2 whose
//! log entries also name the event whose handling made them and whose inbox records also say
//! where in the part's handling order each event was handled (`milo replay` hands a part its
//! events in that order and compares its answers to each); it still reads format 2's entries
//! and records. Format 1 is the same without
//! the log (outbox entries with no time or number, which format 2 still reads). Format 0 is a
//! store written before the stamp existed (Milo up to commit a90e3ec): format 1, no stamp.
//!
//! The stamp is a JSON number under [`VERSION_KEY`] in the store's default tree. `_v/` sorts
//! with the bus's own `_` prefixes, which no service scans (every scan has a prefix of its
//! own), and a sled batch writes one tree: keeping the stamp in the same tree as the data lets
//! a migration's writes and its new stamp land in one batch, all or nothing.
//!
//! [`Store::open`] checks the stamp: an empty store is stamped [`FORMAT`]; an older one is
//! migrated one format at a time (a table of [`Migration`]s), each step one batch with its
//! stamp, then synced; a newer or unreadable stamp is refused without writing anything.

use std::path::PathBuf;

use tracing::info;

use crate::store::{Store, StoreError};

/// The format this Milo writes, and the newest it reads.
pub const FORMAT: u32 = 3;

/// Key of the format stamp.
pub const VERSION_KEY: &str = "_v/format";

/// One migration: the writes that take a store from format `n` to `n + 1`, worked out from
/// the store as it is. They are applied in one batch together with the stamp `n + 1`.
pub type Migration = fn(&Store) -> Result<sled::Batch, StoreError>;

/// `MIGRATIONS[n]` takes a store from format `n` to `n + 1`: a format 2 adds one function.
const MIGRATIONS: [Migration; FORMAT as usize] = [from_0, from_1, from_2];

/// Format 0 has format 1's layout: only the stamp is new.
fn from_0(_: &Store) -> Result<sled::Batch, StoreError> {
    Ok(sled::Batch::default())
}

/// Format 2 reads format 1's outbox entries as they are (no time: pruned as soon as they are
/// PUBACKed; no number: never asked for); its new records start empty. The stamp keeps a
/// format 1 Milo from misreading the new entries.
fn from_1(_: &Store) -> Result<sled::Batch, StoreError> {
    Ok(sled::Batch::default())
}

/// Format 3 reads format 2's log entries as they are (they name no event answered: `milo
/// replay` matches them by their causation); the stamp keeps a format 2 Milo from dropping
/// entries it cannot read.
fn from_2(_: &Store) -> Result<sled::Batch, StoreError> {
    Ok(sled::Batch::default())
}

/// A store this Milo cannot read.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Written by a newer Milo.
    #[error(
        "{path} was written by a newer Milo (format {found}); this milo reads formats up to \
         {newest}: install the newer milo again or restore a backup"
    )]
    Newer {
        /// The store.
        path: PathBuf,
        /// Its format.
        found: u32,
        /// The newest this Milo reads.
        newest: u32,
    },
    /// The stamp is not a format number.
    #[error(
        "{path} has an unreadable format version under {VERSION_KEY}: \"{raw}\"; restore a \
         backup"
    )]
    Unreadable {
        /// The store.
        path: PathBuf,
        /// The stamp's bytes, non-ASCII escaped.
        raw: String,
    },
}

/// What [`ensure`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opened {
    /// An empty store, now stamped.
    Created,
    /// Already at the newest format.
    Current,
    /// Migrated from this format.
    Upgraded {
        /// The format it had.
        from: u32,
    },
}

/// Brings a just-opened store to [`FORMAT`], or refuses it.
pub(crate) fn ensure(store: &Store) -> Result<Opened, StoreError> {
    upgrade(store, &MIGRATIONS)
}

/// The store's format stamp; `None` if it has none (empty, or format 0).
pub fn version(store: &Store) -> Result<Option<u32>, StoreError> {
    let Some(raw) = store.raw_get(VERSION_KEY.as_bytes())? else {
        return Ok(None);
    };
    serde_json::from_slice(&raw).map(Some).map_err(|_| {
        let path = store.path().to_owned();
        let raw = raw.escape_ascii().to_string();
        FormatError::Unreadable { path, raw }.into()
    })
}

/// Runs `migrations` (`migrations[n]`: format `n` to `n + 1`) from the store's format on.
fn upgrade(store: &Store, migrations: &[Migration]) -> Result<Opened, StoreError> {
    let newest = u32::try_from(migrations.len()).unwrap_or(u32::MAX);
    let from = match version(store)? {
        Some(found) => found,
        // Nothing at all: a new store (or one that never kept anything), nothing to migrate.
        None if store.raw_scan(b"", 1)?.is_empty() => {
            stamp(store, sled::Batch::default(), newest)?;
            return Ok(Opened::Created);
        }
        None => 0,
    };
    if from > newest {
        let path = store.path().to_owned();
        return Err(FormatError::Newer {
            path,
            found: from,
            newest,
        }
        .into());
    }
    if from == newest {
        return Ok(Opened::Current);
    }
    // A crash between two steps leaves a store stamped with the last finished one.
    for (to, migrate) in (from + 1..).zip(&migrations[from as usize..]) {
        stamp(store, migrate(store)?, to)?;
    }
    let path = store.path().display();
    info!(
        from,
        to = newest,
        "Upgraded {path} from format {from} to {newest}."
    );
    Ok(Opened::Upgraded { from })
}

/// Applies `batch` with the stamp `version`, and makes it durable.
fn stamp(store: &Store, mut batch: sled::Batch, version: u32) -> Result<(), StoreError> {
    let value = serde_json::to_vec(&version).unwrap_or_default();
    batch.insert(VERSION_KEY.as_bytes(), value);
    store.apply(batch)?;
    store.sync()
}

#[cfg(test)]
mod tests;
