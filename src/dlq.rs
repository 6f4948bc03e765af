//! `milo dlq list|show|replay|purge`: a part's dead letters. sled locks a store to one
//! process, so a stopped part's letters are read from its store here (a replay is queued for
//! the part's handler at its next start), and a running part is asked over MQTT
//! ([`milo_bus::dlq::Requester`]; a replay happens at once). This module is the store side
//! and the lines both sides print.

use std::path::Path;

use milo_bus::{DeadLetter, Store, StoreConfig, StoreError};
use milo_contracts::dead_letters::{LetterSummary, ReplayOutcome, Replayed};

/// Opens a part's store for the dead-letter commands (never creating one): [`StoreError::Locked`]
/// while the part runs, an `Io` error of kind `NotFound` when there is no store, and the real
/// cause when the store cannot be read (permissions: run as the `milo` user).
pub fn open(data_dir: &Path, service: &str) -> Result<Store, StoreError> {
    let dir = data_dir.join(service);
    let log = dir.join("db");
    match std::fs::metadata(&log) {
        Ok(m) if m.is_file() => Store::open(&dir, &StoreConfig::default()),
        Ok(_) => Err(StoreError::Io {
            path: log,
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "not a store"),
        }),
        Err(error) => Err(StoreError::Io { path: log, error }),
    }
}

/// Every dead letter, oldest first.
pub fn list(store: &Store) -> Result<Vec<DeadLetter>, StoreError> {
    store.dead_letters(0, usize::MAX)
}

/// One line per dead letter.
pub fn line(d: &DeadLetter) -> String {
    summary_line(&LetterSummary::of(d))
}

/// One line per dead letter, from a running part's list.
pub fn summary_line(d: &LetterSummary) -> String {
    let at = d
        .received_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    format!("{:>8}  {at}  {:<24}  {}", d.id, d.topic, d.reason)
}

/// One line per letter a running part replayed: what became of it.
pub fn replayed_line(r: &Replayed) -> String {
    let what = match &r.outcome {
        ReplayOutcome::Applied => "applied".to_owned(),
        ReplayOutcome::Repeat => "a repeat: applied before, no second effect".to_owned(),
        ReplayOutcome::DeadLettered { id, reason } => {
            format!("dead-lettered again as {id}: {reason}")
        }
    };
    format!("{:>8}  {:<24}  {what}", r.id, r.topic)
}

/// The closing line of a live replay.
pub fn replay_summary(part: &str, replayed: &[Replayed]) -> String {
    let count = |f: fn(&ReplayOutcome) -> bool| replayed.iter().filter(|r| f(&r.outcome)).count();
    let applied = count(|o| matches!(o, ReplayOutcome::Applied));
    let repeats = count(|o| matches!(o, ReplayOutcome::Repeat));
    let again = count(|o| matches!(o, ReplayOutcome::DeadLettered { .. }));
    format!(
        "{part} replayed {} dead letters: {applied} applied, {again} dead-lettered again, \
         {repeats} repeats",
        replayed.len()
    )
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
