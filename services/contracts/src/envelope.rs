//! The one JSON envelope every event travels in, and decoding with a reason for each failure.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The data of one event type: its `type` name, `version` and the topic it is published on.
pub trait Event: Serialize + DeserializeOwned {
    /// The `type` field of the envelope.
    const TYPE: &'static str;
    /// The version this struct reads and writes.
    const VERSION: u32;
    /// The topic this event is published on.
    const TOPIC: &'static str;

    /// Reads `data` of an older `version` as this version (upcasting); `None` when this
    /// consumer cannot read that version.
    fn upcast(_version: u32, _data: &str) -> Option<Result<Self, DecodeError>> {
        None
    }
}

/// An event as it travels: metadata plus typed `data`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope<T> {
    /// UUID v7, the idempotency key of the event.
    pub id: Uuid,
    /// Event type name, e.g. `OrderCreated`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Version of `data`'s schema.
    pub version: u32,
    /// When the producer made the event.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The order id the event belongs to.
    pub correlation_id: Uuid,
    /// The event that caused this one, if any.
    pub causation_id: Option<Uuid>,
    /// The producing service or device.
    pub source: String,
    /// The producer's sequence number of this event on its topic: 1, 2, 3… with no gap, so a
    /// consumer tells a repeat (at or below what it has) from a gap (above the next one).
    /// Absent on events that are not sequenced (retained state, a POS terminal's orders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The event data.
    pub data: T,
}

/// An envelope borrowed field by field, in [`Envelope`]'s own order: the JSON of an event
/// with its sequence number, byte for byte what parsing and serialising it again gives.
#[derive(Serialize)]
struct Sequenced<'a, T> {
    id: &'a Uuid,
    #[serde(rename = "type")]
    kind: &'a str,
    version: u32,
    #[serde(with = "time::serde::rfc3339")]
    occurred_at: OffsetDateTime,
    correlation_id: &'a Uuid,
    causation_id: &'a Option<Uuid>,
    source: &'a str,
    seq: u64,
    data: &'a T,
}

/// An envelope whose `data` is kept as raw JSON until a consumer decodes it.
pub type RawEnvelope = Envelope<Box<serde_json::value::RawValue>>;

/// Why a payload could not be read. The text is what the dead-letter store records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not UTF-8 or not JSON at all.
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// JSON, but not an envelope, or `data` of the wrong shape.
    #[error("wrong schema: {0}")]
    WrongSchema(String),
    /// A `type` this consumer does not know on this topic.
    #[error("unknown type {kind:?} on this topic")]
    UnknownType {
        /// The type found.
        kind: String,
    },
    /// A known type with a version this consumer cannot read.
    #[error("unknown version {version} of {kind}")]
    UnknownVersion {
        /// The type found.
        kind: String,
        /// The version found.
        version: u32,
    },
    /// Larger than the configured limit.
    #[error("oversized: {size} bytes, limit {limit}")]
    Oversized {
        /// Payload size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

impl RawEnvelope {
    /// Parses a payload as an envelope, telling malformed JSON from a wrong shape.
    pub fn parse(payload: &[u8]) -> Result<Self, DecodeError> {
        serde_json::from_slice(payload).map_err(|e| {
            // Only on failure: tell JSON that is not an envelope from text that is not JSON.
            match serde_json::from_slice::<serde::de::IgnoredAny>(payload) {
                Ok(_) => DecodeError::WrongSchema(e.to_string()),
                Err(e) => DecodeError::Malformed(e.to_string()),
            }
        })
    }

    /// The error for an event type a consumer does not take on this topic.
    pub fn unexpected(&self) -> DecodeError {
        DecodeError::UnknownType {
            kind: self.kind.clone(),
        }
    }

    /// True if this envelope carries event type `E` (any version).
    pub fn is<E: Event>(&self) -> bool {
        self.kind == E::TYPE
    }

    /// Decodes `data` as `E`, checking type and version.
    pub fn decode<E: Event>(&self) -> Result<E, DecodeError> {
        if self.kind != E::TYPE {
            return Err(DecodeError::UnknownType {
                kind: self.kind.clone(),
            });
        }
        if self.version != E::VERSION {
            return E::upcast(self.version, self.data.get()).unwrap_or_else(|| {
                Err(DecodeError::UnknownVersion {
                    kind: self.kind.clone(),
                    version: self.version,
                })
            });
        }
        serde_json::from_str(self.data.get())
            .map_err(|e| DecodeError::WrongSchema(format!("{}: {e}", E::TYPE)))
    }
}

impl<T: Event> Envelope<T> {
    /// A new event: fresh UUID v7 id, now as `occurred_at`.
    pub fn new(source: &str, correlation_id: Uuid, causation_id: Option<Uuid>, data: T) -> Self {
        Envelope {
            id: Uuid::now_v7(),
            kind: T::TYPE.to_owned(),
            version: T::VERSION,
            occurred_at: OffsetDateTime::now_utc(),
            correlation_id,
            causation_id,
            source: source.to_owned(),
            seq: None,
            data,
        }
    }

    /// The JSON payload of this envelope.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain structs of strings, numbers and maps with string keys cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl<T: Serialize> Envelope<T> {
    /// The JSON payload of this envelope numbered `seq` by its producer.
    pub fn to_json_seq(&self, seq: u64) -> Vec<u8> {
        let numbered = Sequenced {
            id: &self.id,
            kind: &self.kind,
            version: self.version,
            occurred_at: self.occurred_at,
            correlation_id: &self.correlation_id,
            causation_id: &self.causation_id,
            source: &self.source,
            seq,
            data: &self.data,
        };
        serde_json::to_vec(&numbered).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::OrderRejected;

    fn rejected() -> Envelope<OrderRejected> {
        let order_id = Uuid::now_v7();
        Envelope::new(
            "order",
            order_id,
            None,
            OrderRejected {
                order_id,
                reason: "unknown item".into(),
            },
        )
    }

    #[test]
    fn round_trips_and_checks_type_and_version() {
        let env = rejected();
        let raw = RawEnvelope::parse(&env.to_json()).unwrap();
        assert_eq!(raw.decode::<OrderRejected>().unwrap(), env.data);
        let mut other = raw.clone();
        other.version = 9;
        assert!(matches!(
            other.decode::<OrderRejected>(),
            Err(DecodeError::UnknownVersion { version: 9, .. })
        ));
        other.kind = "Nope".into();
        assert!(matches!(
            other.decode::<OrderRejected>(),
            Err(DecodeError::UnknownType { .. })
        ));
    }

    #[test]
    fn a_parsed_envelope_serialises_back_byte_for_byte() {
        // Parts keep an event they heard this way to say it again: consumers' inboxes must see
        // the very same bytes (a repeat), not a conflicting duplicate.
        let bytes = rejected().to_json();
        let raw = RawEnvelope::parse(&bytes).unwrap();
        assert_eq!(serde_json::to_vec(&raw).unwrap(), bytes);
    }

    #[test]
    fn a_numbered_envelope_reads_back_its_seq_and_serialises_back_byte_for_byte() {
        let bytes = rejected().to_json_seq(42);
        let raw = RawEnvelope::parse(&bytes).unwrap();
        assert_eq!(raw.seq, Some(42));
        assert_eq!(serde_json::to_vec(&raw).unwrap(), bytes);
        // Without a number the field is absent, as before sequence numbers existed.
        let plain = rejected().to_json();
        assert!(!String::from_utf8_lossy(&plain).contains("\"seq\""));
        assert_eq!(RawEnvelope::parse(&plain).unwrap().seq, None);
    }

    #[test]
    fn tells_malformed_from_wrong_schema() {
        assert!(matches!(
            RawEnvelope::parse(b"{not json"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            RawEnvelope::parse(&[0xff, 0xfe]),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            RawEnvelope::parse(br#"{"id":1}"#),
            Err(DecodeError::WrongSchema(_))
        ));
    }
}
