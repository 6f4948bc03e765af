//! Dead letters: what a service could not use, kept with the reason in its own store; and
//! [`Requester`], the operator's way to ask a running part about them.

pub use milo_contracts::dead_letters::DeadLetter;
use time::OffsetDateTime;

use crate::store::{self, Store, StoreError, DEAD};

mod requester;
pub use requester::{AskError, Requester};

/// Prefix of dead letters queued for replay (handed to the handler at the next start).
pub(crate) const REPLAY: &str = "_p/";

/// Longest payload copied into the `dlq/...` event; the store keeps it whole.
pub const EVENT_PAYLOAD_LIMIT: usize = 4096;

/// The payload as text, or `hex:` + hex when it is not UTF-8.
pub fn printable(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(s) => s.to_owned(),
        Err(_) => {
            let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
            format!("hex:{hex}")
        }
    }
}

/// The original bytes of a [`printable`] payload.
pub fn original(printable: &str) -> Vec<u8> {
    match printable.strip_prefix("hex:") {
        Some(hex) => (0..hex.len() / 2)
            .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect(),
        None => printable.as_bytes().to_vec(),
    }
}

impl Store {
    /// Dead letters in id order, after `after`, at most `limit`.
    pub fn dead_letters(&self, after: u64, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let mut out = Vec::new();
        for kv in self.raw_range(store::seq_key(DEAD, after.saturating_add(1)), DEAD) {
            let (k, v) = kv?;
            if out.len() >= limit {
                break;
            }
            out.push(store::decode(&String::from_utf8_lossy(&k), &v)?);
        }
        Ok(out)
    }

    /// One dead letter.
    pub fn dead_letter(&self, id: u64) -> Result<Option<DeadLetter>, StoreError> {
        match self.raw_get(&store::seq_key(DEAD, id))? {
            Some(v) => Ok(Some(store::decode(&format!("{DEAD}{id}"), &v)?)),
            None => Ok(None),
        }
    }

    /// Records a dead letter directly (tools and tests; services do it through their group
    /// commit) and makes it durable; returns its id.
    pub fn record_dead_letter(
        &self,
        topic: &str,
        payload: &[u8],
        reason: &str,
    ) -> Result<u64, StoreError> {
        let id = self.next_id()?;
        let letter = DeadLetter {
            id,
            topic: topic.to_owned(),
            reason: reason.to_owned(),
            received_at: OffsetDateTime::now_utc(),
            payload: printable(payload),
        };
        let mut batch = store::Batch::default();
        batch.insert(
            store::seq_key(DEAD, id),
            serde_json::to_vec(&letter).unwrap_or_default(),
        );
        self.apply(batch)?;
        self.sync()?;
        Ok(id)
    }

    /// Queues a dead letter for replay: the service hands it to its handler again when it
    /// next starts (after a fix). Returns false if there is no such dead letter.
    pub fn queue_replay(&self, id: u64) -> Result<bool, StoreError> {
        let Some(letter) = self.raw_get(&store::seq_key(DEAD, id))? else {
            return Ok(false);
        };
        let mut batch = store::Batch::default();
        batch.insert(store::seq_key(REPLAY, id), letter.to_vec());
        batch.remove(store::seq_key(DEAD, id));
        self.apply(batch)?;
        self.sync()?;
        Ok(true)
    }

    /// Dead letters queued for replay, oldest first.
    pub fn pending_replays(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let mut out = Vec::new();
        for kv in self.raw_range(store::seq_key(REPLAY, 0), REPLAY) {
            let (k, v) = kv?;
            out.push(store::decode(&String::from_utf8_lossy(&k), &v)?);
        }
        Ok(out)
    }

    /// Deletes one dead letter (after a replay or a purge); true if it existed.
    pub fn remove_dead_letter(&self, id: u64) -> Result<bool, StoreError> {
        let existed = self.raw_get(&store::seq_key(DEAD, id))?.is_some();
        self.raw_remove(&store::seq_key(DEAD, id))?;
        Ok(existed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_round_trips() {
        for p in [&b"{\"a\":1}"[..], &[0xff, 0x00, 0x10][..]] {
            assert_eq!(original(&printable(p)), p);
        }
    }
}
