//! What the simulated processor remembers of each idempotency key (the order id): the charges
//! it approved and the voids it took. A real processor keeps this on its side; the simulation
//! keeps it in memory and, with `payment.ledger = "path"`, in an append-only file of JSON
//! lines, each one fsynced before the processor answers. So a charge asked again after the
//! payment service was killed (or the simulation restarted) answers the same transaction id
//! without charging again, a voided key never charges later, and a test can count how many
//! times each order was charged ([`read`]).
//!
//! A torn last line (a crash while appending) is skipped when read: its answer was never
//! given, so the charge was not taken.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Entry {
    /// A charge approved: money taken.
    Charge {
        /// The idempotency key.
        order_id: Uuid,
        /// The processor's transaction id.
        transaction_id: String,
        /// Amount, in cents.
        amount_cents: u64,
    },
    /// A void: that key never charges (and a charge taken with it is given back).
    Void {
        /// The idempotency key.
        order_id: Uuid,
    },
}

#[derive(Debug, Default)]
struct Memory {
    charged: HashMap<Uuid, String>,
    voided: HashSet<Uuid>,
    file: Option<File>,
}

/// The processor's memory of idempotency keys.
#[derive(Debug, Default)]
pub struct Ledger {
    memory: Mutex<Memory>,
    path: Option<PathBuf>,
}

/// Every entry of the ledger at `path`, in order (torn or unreadable lines left out).
pub fn read(path: &Path) -> std::io::Result<Vec<Entry>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut entries = Vec::new();
    for line in BufReader::new(file).lines() {
        if let Ok(entry) = serde_json::from_str(&line?) {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// How many charges each order got in the ledger at `path` (a test's count of money taken).
pub fn charges(path: &Path) -> std::io::Result<HashMap<Uuid, usize>> {
    let mut n = HashMap::new();
    for e in read(path)? {
        if let Entry::Charge { order_id, .. } = e {
            *n.entry(order_id).or_default() += 1;
        }
    }
    Ok(n)
}

impl Ledger {
    /// A ledger in memory only.
    pub fn in_memory() -> Ledger {
        Ledger::default()
    }

    /// The ledger kept in `path` (made if missing, with its directory), read back.
    pub fn open(path: &Path) -> std::io::Result<Ledger> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut memory = Memory::default();
        for e in read(path)? {
            match e {
                Entry::Charge {
                    order_id,
                    transaction_id,
                    ..
                } => {
                    memory.charged.insert(order_id, transaction_id);
                }
                Entry::Void { order_id } => {
                    memory.voided.insert(order_id);
                }
            }
        }
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        // After a torn last line, the next entry starts on a line of its own.
        let torn = std::fs::read(path)?.last().is_some_and(|b| *b != b'\n');
        if torn {
            file.write_all(b"\n")?;
        }
        memory.file = Some(file);
        Ok(Ledger {
            memory: Mutex::new(memory),
            path: Some(path.to_owned()),
        })
    }

    /// Where it is kept, if on disk.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        // A poisoned lock only means a holder panicked; the maps are consistent.
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True if `order_id` was voided.
    pub fn voided(&self, order_id: Uuid) -> bool {
        self.memory().voided.contains(&order_id)
    }

    /// Records a void of `order_id` (durably, if on disk).
    pub fn void(&self, order_id: Uuid) -> std::io::Result<()> {
        let mut m = self.memory();
        if m.voided.insert(order_id) {
            append(&mut m, &Entry::Void { order_id })?;
        }
        Ok(())
    }

    /// The transaction id of the charge of `order_id`: the one already taken with this key,
    /// or `transaction_id` recorded now (durably, if on disk) when none was. `None` if the
    /// key was voided: it never charges.
    pub fn charge(
        &self,
        order_id: Uuid,
        transaction_id: String,
        amount_cents: u64,
    ) -> std::io::Result<Option<String>> {
        let mut m = self.memory();
        if m.voided.contains(&order_id) {
            return Ok(None);
        }
        if let Some(taken) = m.charged.get(&order_id) {
            return Ok(Some(taken.clone()));
        }
        let entry = Entry::Charge {
            order_id,
            transaction_id: transaction_id.clone(),
            amount_cents,
        };
        append(&mut m, &entry)?;
        m.charged.insert(order_id, transaction_id.clone());
        Ok(Some(transaction_id))
    }
}

/// Appends `entry` and makes it durable before anyone is answered.
fn append(m: &mut Memory, entry: &Entry) -> std::io::Result<()> {
    let Some(file) = m.file.as_mut() else {
        return Ok(());
    };
    let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    line.push(b'\n');
    file.write_all(&line)?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_keys_across_a_reopen_and_skips_a_torn_line() {
        let dir = std::env::temp_dir().join(format!("milo-ledger-{}", Uuid::now_v7()));
        let path = dir.join("sub").join("ledger.jsonl");
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        {
            let l = Ledger::open(&path).unwrap();
            assert_eq!(
                l.charge(a, "t-a".into(), 300).unwrap().as_deref(),
                Some("t-a")
            );
            assert_eq!(
                l.charge(a, "t-a2".into(), 300).unwrap().as_deref(),
                Some("t-a")
            );
            l.void(b).unwrap();
            assert_eq!(l.charge(b, "t-b".into(), 300).unwrap(), None);
        }
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"op":"charge","order_id":"#).unwrap();
        let l = Ledger::open(&path).unwrap();
        assert_eq!(
            l.charge(a, "t-a3".into(), 300).unwrap().as_deref(),
            Some("t-a")
        );
        assert!(l.voided(b));
        assert_eq!(charges(&path).unwrap().get(&a), Some(&1));
        assert_eq!(charges(&path).unwrap().get(&b), None);
        let c = Uuid::now_v7();
        assert!(l.charge(c, "t-c".into(), 1).unwrap().is_some());
        assert_eq!(
            charges(&path).unwrap().get(&c),
            Some(&1),
            "after the torn line"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
