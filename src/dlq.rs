//! `milo dlq list|show|replay|purge`: a service's dead letters, read from its store. sled locks
//! a database to one process, so run these while that service is stopped; replayed letters go
//! to the service's handler when it starts again.

use std::path::Path;

use milo_bus::{DeadLetter, Store, StoreConfig, StoreError};

/// Opens a part's store for the dead-letter commands.
pub fn open(data_dir: &Path, service: &str) -> Result<Store, StoreError> {
    let dir = data_dir.join(service);
    if !dir.join("db").is_file() {
        return Err(StoreError::Io {
            path: dir,
            error: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no store for this service here",
            ),
        });
    }
    Store::open(&dir, &StoreConfig::default())
}

/// Every dead letter, oldest first.
pub fn list(store: &Store) -> Result<Vec<DeadLetter>, StoreError> {
    store.dead_letters(0, usize::MAX)
}

/// One line per dead letter.
pub fn line(d: &DeadLetter) -> String {
    let at = d
        .received_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    format!("{:>8}  {at}  {:<24}  {}", d.id, d.topic, d.reason)
}

/// Queues dead letters for replay (`id`, or all): the service hands them to its handler again
/// when it next starts. Returns how many were queued.
pub fn replay(store: &Store, id: Option<u64>) -> Result<usize, StoreError> {
    let ids: Vec<u64> = match id {
        Some(id) => vec![id],
        None => list(store)?.iter().map(|d| d.id).collect(),
    };
    let mut queued = 0;
    for id in ids {
        queued += usize::from(store.queue_replay(id)?);
    }
    Ok(queued)
}

/// Deletes every dead letter; returns how many.
pub fn purge(store: &Store) -> Result<usize, StoreError> {
    let all = list(store)?;
    for d in &all {
        store.remove_dead_letter(d.id)?;
    }
    store.sync()?;
    Ok(all.len())
}
