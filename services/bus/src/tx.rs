//! [`Tx`]: the staged effect of one message: state writes, events to publish, and what to do
//! once it is durable. Applied atomically (one sled batch), made durable with its group.

use milo_contracts::{Envelope, Event};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::store::{self, Store, StoreError, OUTBOX};
use crate::BusError;

/// A message to publish once the state change that made it is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outgoing {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

impl Outgoing {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let topic = self.topic.as_bytes();
        let mut v = Vec::with_capacity(3 + topic.len() + self.payload.len());
        v.push(u8::from(self.retain));
        // Topics are built by the contracts crate: far below 64 KiB.
        v.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        v.extend_from_slice(topic);
        v.extend_from_slice(&self.payload);
        v
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Outgoing> {
        let retain = *bytes.first()? == 1;
        let len = u16::from_be_bytes(bytes.get(1..3)?.try_into().ok()?) as usize;
        let topic = std::str::from_utf8(bytes.get(3..3 + len)?).ok()?.to_owned();
        let payload = bytes.get(3 + len..)?.to_vec();
        Some(Outgoing {
            topic,
            payload,
            retain,
        })
    }
}

type AfterCommit = Box<dyn FnOnce() + Send>;

/// The staged effect of one message or command.
///
/// Reads see the store as committed so far (including earlier messages of the same group),
/// not this `Tx`'s own staged writes.
pub struct Tx {
    store: Store,
    source: String,
    max_payload: usize,
    batch: sled::Batch,
    outgoing: Vec<Outgoing>,
    after: Vec<AfterCommit>,
}

impl Tx {
    pub(crate) fn new(store: Store, source: &str, max_payload: usize) -> Tx {
        Tx {
            store,
            source: source.to_owned(),
            max_payload,
            batch: sled::Batch::default(),
            outgoing: Vec::new(),
            after: Vec::new(),
        }
    }

    /// The service or device name events are sourced from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The store, for reads.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Reads one committed value.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        self.store.get(key)
    }

    /// Stages a write.
    pub fn put<T: Serialize>(&mut self, key: &str, value: &T) {
        // Plain data structs always serialise.
        self.batch
            .insert(key.as_bytes(), serde_json::to_vec(value).unwrap_or_default());
    }

    pub(crate) fn put_raw<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        self.batch
            .insert(key, serde_json::to_vec(value).unwrap_or_default());
    }

    /// Stages a delete.
    pub fn remove(&mut self, key: &str) {
        self.batch.remove(key.as_bytes());
    }

    /// Stages an event on its own topic.
    pub fn publish<E: Event>(&mut self, event: &Envelope<E>) -> Result<(), BusError> {
        self.publish_to(E::TOPIC, event)
    }

    /// Stages an event on a given topic (per-device topics, dead letters).
    pub fn publish_to<E: Event>(&mut self, topic: &str, event: &Envelope<E>) -> Result<(), BusError> {
        self.stage(topic, event.to_json(), false)
    }

    /// Stages a retained event (pickup board).
    pub fn publish_retained<E: Event>(&mut self, event: &Envelope<E>) -> Result<(), BusError> {
        self.stage(E::TOPIC, event.to_json(), true)
    }

    /// A new event from this part, caused by `cause` (if any).
    pub fn event<E: Event>(&self, correlation: uuid::Uuid, cause: Option<uuid::Uuid>, data: E) -> Envelope<E> {
        Envelope::new(&self.source, correlation, cause, data)
    }

    /// Runs `f` once this `Tx` is durable (replies to HTTP, starting a gateway call...).
    pub fn after_commit(&mut self, f: impl FnOnce() + Send + 'static) {
        self.after.push(Box::new(f));
    }

    fn stage(&mut self, topic: &str, payload: Vec<u8>, retain: bool) -> Result<(), BusError> {
        if payload.len() > self.max_payload {
            return Err(BusError::Oversized {
                topic: topic.to_owned(),
                size: payload.len(),
                limit: self.max_payload,
            });
        }
        self.outgoing.push(Outgoing {
            topic: topic.to_owned(),
            payload,
            retain,
        });
        Ok(())
    }

    /// Applies the writes and outbox entries atomically. Returns the last outbox key (if any)
    /// and what to run once durable.
    pub(crate) fn commit(mut self) -> Result<(Option<u64>, Vec<AfterCommit>), StoreError> {
        let mut last = None;
        for out in &self.outgoing {
            let id = self.store.next_id()?;
            self.batch.insert(store::seq_key(OUTBOX, id), out.encode());
            last = Some(id);
        }
        self.store.apply(self.batch)?;
        Ok((last, self.after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outgoing_round_trips() {
        let o = Outgoing {
            topic: "orders/created".into(),
            payload: b"{}".to_vec(),
            retain: true,
        };
        assert_eq!(Outgoing::decode(&o.encode()), Some(o));
        assert_eq!(Outgoing::decode(&[1, 0]), None);
    }
}
