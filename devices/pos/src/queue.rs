//! The POS's durable queue: every order taken is written here (and fsynced) before it is
//! sent, keyed by its order id, and leaves only once the store answered it.
//!
//! The queue is a [`milo_bus::Store`] written through a [`Service`] (`QueueService`), so
//! each change is one group commit with a real fsync. One process at a time owns a queue
//! directory: a lock file (`pos.lock`, holding the owner's pid) is taken before sled's own
//! lock, so a second POS on the same directory fails with a clear message instead of
//! touching it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use milo_bus::{Rejection, Service, Store, StoreConfig, StoreError, Tx};
use milo_contracts::events::OrderPlaced;
use milo_contracts::RawEnvelope;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::{oneshot, watch};
use tracing::warn;
use uuid::Uuid;

use crate::PosError;

/// Key prefix of queued orders: `q/<order id>`.
pub const PREFIX: &str = "q/";
/// The lock file in a queue directory.
pub const LOCK_FILE: &str = "pos.lock";

/// An order waiting in the queue for the store's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    /// The order as it is sent on `orders/placed`.
    pub placed: OrderPlaced,
    /// When the counter took it.
    #[serde(with = "time::serde::rfc3339")]
    pub queued_at: OffsetDateTime,
    /// The `orders/placed` envelope, made once when the order was taken and sent byte for
    /// byte every time: the order service answers an exact repeat with its recorded answer.
    #[serde(default)]
    pub envelope: String,
}

fn key(order_id: Uuid) -> String {
    format!("{PREFIX}{order_id}")
}

/// A queue directory opened by this process: its store and the lock that keeps other
/// processes out (released on drop).
#[derive(Debug)]
pub struct QueueDir {
    /// The store.
    pub store: Store,
    _lock: File,
}

enum Attempt {
    Busy(String),
    Failed(PosError),
}

/// Opens the queue in `dir`, waiting up to `wait` for another POS to let go of it.
pub async fn open(dir: &Path, config: &StoreConfig, wait: Duration) -> Result<QueueDir, PosError> {
    let deadline = Instant::now() + wait;
    let mut told = false;
    loop {
        match try_open(dir, config) {
            Ok(q) => return Ok(q),
            Err(Attempt::Busy(holder)) if Instant::now() >= deadline => {
                return Err(PosError::QueueBusy {
                    dir: dir.to_owned(),
                    holder,
                })
            }
            Err(Attempt::Busy(holder)) => {
                if !std::mem::replace(&mut told, true) {
                    let dir = dir.display();
                    warn!(%dir, %holder, ?wait, "The POS queue is in use; waiting for it.");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(Attempt::Failed(e)) => return Err(e),
        }
    }
}

fn try_open(dir: &Path, config: &StoreConfig) -> Result<QueueDir, Attempt> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Attempt::Failed(PosError::Io { path, source })
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(LOCK_FILE);
    let mut lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io(&path))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(Attempt::Busy(holder(&mut lock))),
        Err(TryLockError::Error(e)) => return Err(io(&path)(e)),
    }
    lock.set_len(0)
        .and_then(|()| lock.rewind())
        .and_then(|()| write!(lock, "pid {}", std::process::id()))
        .map_err(io(&path))?;
    match Store::open(dir, config) {
        Ok(store) => Ok(QueueDir { store, _lock: lock }),
        // A POS of this process is still closing its store: sled lets go of it shortly.
        Err(e) if e.to_string().contains("could not acquire lock") => {
            Err(Attempt::Busy("a POS closing in this process".into()))
        }
        Err(e) => Err(Attempt::Failed(e.into())),
    }
}

/// Who holds a lock file, as it says ("pid 1234").
fn holder(lock: &mut File) -> String {
    let mut text = String::new();
    let _ = lock.read_to_string(&mut text);
    match text.trim() {
        "" => "another process".into(),
        t => t.to_owned(),
    }
}

/// Every queued order, oldest first (order ids are UUID v7).
pub fn list(store: &Store) -> Result<Vec<Queued>, StoreError> {
    Ok(store
        .scan::<Queued>(PREFIX, None, usize::MAX)?
        .into_iter()
        .map(|(_, q)| q)
        .collect())
}

/// True while `order_id` waits in the queue.
pub fn contains(store: &Store, order_id: Uuid) -> Result<bool, StoreError> {
    Ok(store.get::<serde_json::Value>(&key(order_id))?.is_some())
}

/// Changes to the queue, each made durable before it is confirmed.
#[derive(Debug)]
pub enum QueueCommand {
    /// Queue an order; `done` fires once it is on disk.
    Add {
        /// The order.
        entry: Queued,
        /// Fired once durable.
        done: oneshot::Sender<()>,
    },
    /// The store answered the order (`orders/created` or `orders/rejected`): drop it.
    Answered {
        /// The order.
        order_id: Uuid,
    },
}

/// The service that owns the queue's store (no subscriptions: local commands only).
pub struct QueueService {
    name: String,
    len: Arc<watch::Sender<usize>>,
}

impl QueueService {
    /// A queue service named `name` (client ids `milo-<name>`), reporting its length.
    pub fn new(name: &str, len: Arc<watch::Sender<usize>>) -> Self {
        QueueService {
            name: name.to_owned(),
            len,
        }
    }

    /// Reports the queue length once the change is durable.
    fn report(&self, tx: &mut Tx, len: usize) {
        let sender = self.len.clone();
        tx.after_commit(move || {
            sender.send_replace(len);
        });
    }
}

impl Service for QueueService {
    type Command = QueueCommand;

    fn name(&self) -> String {
        self.name.clone()
    }

    fn subscriptions(&self) -> Vec<String> {
        Vec::new()
    }

    fn on_event(&mut self, _tx: &mut Tx, _topic: &str, env: &RawEnvelope) -> Result<(), Rejection> {
        Err(env.unexpected().into())
    }

    fn on_command(&mut self, tx: &mut Tx, cmd: QueueCommand) -> Result<(), Rejection> {
        let len = tx.count(PREFIX)?;
        match cmd {
            QueueCommand::Add { entry, done } => {
                let key = key(entry.placed.order_id);
                let new = tx.get::<serde_json::Value>(&key)?.is_none();
                tx.put(&key, &entry);
                self.report(tx, len + usize::from(new));
                tx.after_commit(move || {
                    let _ = done.send(());
                });
            }
            QueueCommand::Answered { order_id } => {
                let key = key(order_id);
                if tx.get::<serde_json::Value>(&key)?.is_some() {
                    tx.remove(&key);
                    self.report(tx, len.saturating_sub(1));
                }
            }
        }
        Ok(())
    }
}

/// The queue directory of a POS: `queue_dir`, or `<data_dir>/pos` when that is empty.
pub fn queue_path(queue_dir: &Path, data_dir: &Path) -> PathBuf {
    if queue_dir.as_os_str().is_empty() {
        data_dir.join("pos")
    } else {
        queue_dir.to_owned()
    }
}

#[cfg(test)]
mod tests;
