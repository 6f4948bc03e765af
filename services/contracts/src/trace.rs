//! What a part tells `milo trace` about one order: the order's events in its log, whether
//! its inbox holds some events, and its dead letters about the order. Asked over the
//! operator's request topic (`commands/<part>/dead-letters`, [`DeadLetterOp::Trace`],
//! [`DeadLetterOp::Inbox`], [`DeadLetterOp::OrderLetters`]) while the part runs, or read from
//! its store when it is stopped; both give these same records.
//!
//! [`DeadLetterOp::Trace`]: crate::dead_letters::DeadLetterOp::Trace
//! [`DeadLetterOp::Inbox`]: crate::dead_letters::DeadLetterOp::Inbox
//! [`DeadLetterOp::OrderLetters`]: crate::dead_letters::DeadLetterOp::OrderLetters

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::dead_letters::{clip, REASON_LIMIT, TOPIC_LIMIT};
use crate::topics;

/// Longest event type or source in a [`TracedEvent`] (JSON-escaped bytes).
pub const NAME_LIMIT: usize = 128;

/// One of an order's events as its producer's log keeps it: the envelope's head, without its
/// `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracedEvent {
    /// The event id.
    pub id: Uuid,
    /// Its type (cut to [`NAME_LIMIT`]).
    #[serde(rename = "type")]
    pub kind: String,
    /// The version of its data.
    pub version: u32,
    /// Where it was published (cut to [`TOPIC_LIMIT`]).
    pub topic: String,
    /// Who made it (cut to [`NAME_LIMIT`]).
    pub source: String,
    /// The producer's number of it on its topic, if numbered.
    pub seq: Option<u64>,
    /// When its producer made it.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The event that caused it.
    pub causation_id: Option<Uuid>,
    /// Its key in the log that holds it: the order that part made its events in.
    pub key: u64,
    /// The fingerprint of its exact payload (a consumer's inbox holds the same one).
    pub fingerprint: u64,
}

/// A dead letter about an order (its payload's `correlation_id` is the order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracedLetter {
    /// The dead letter's id.
    pub id: u64,
    /// The id of the event it holds, when its payload says one.
    pub event_id: Option<Uuid>,
    /// Where it arrived (cut to [`TOPIC_LIMIT`]).
    pub topic: String,
    /// Why it was refused (cut to [`REASON_LIMIT`]).
    pub reason: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
}

impl TracedLetter {
    /// A letter's record with its texts cut to their limits.
    pub fn new(
        id: u64,
        event_id: Option<Uuid>,
        topic: &str,
        reason: &str,
        received_at: OffsetDateTime,
    ) -> TracedLetter {
        TracedLetter {
            id,
            event_id,
            topic: clip(topic, TOPIC_LIMIT),
            reason: clip(reason, REASON_LIMIT),
            received_at,
        }
    }
}

/// The ids of a payload that may not be a valid envelope (a dead letter's): read leniently,
/// each `None` when absent or not a UUID.
#[derive(Debug, Default, Deserialize)]
pub struct PayloadIds {
    /// Its `id`.
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<Uuid>,
    /// Its `correlation_id`.
    #[serde(default, deserialize_with = "lenient")]
    pub correlation_id: Option<Uuid>,
}

impl PayloadIds {
    /// The ids of `payload`; none when it is not a JSON object.
    pub fn of(payload: &[u8]) -> PayloadIds {
        serde_json::from_slice(payload).unwrap_or_default()
    }
}

fn lenient<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(value.as_str().and_then(|s| s.parse().ok()))
}

/// True for the events that undo or cancel an order: `orders/failed` (what was done is being
/// undone), refunds and releases asked and confirmed, a ticket withdrawn, cancellations asked
/// and the final `orders/canceled`.
pub fn is_compensation(topic: &str) -> bool {
    matches!(
        topic,
        topics::ORDERS_FAILED
            | topics::ORDERS_CANCELED
            | topics::COMMANDS_PAYMENT_REFUND
            | topics::PAYMENTS_REFUNDED
            | topics::COMMANDS_INVENTORY_RELEASE
            | topics::INVENTORY_RELEASED
            | topics::COMMANDS_BARISTA_WITHDRAW
            | topics::TICKETS_WITHDRAWN
            | topics::CANCELLATIONS_REQUESTED
            | topics::COMMANDS_SAGA_CANCEL
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_ids_are_read_from_anything() {
        let id = Uuid::now_v7();
        let both = format!(r#"{{"id":"{id}","correlation_id":"{id}","x":[1]}}"#);
        let read = PayloadIds::of(both.as_bytes());
        assert_eq!((read.id, read.correlation_id), (Some(id), Some(id)));
        for junk in [&b"{\"id\": nope"[..], b"[1]", b"{\"id\":7}", b"\xff"] {
            let read = PayloadIds::of(junk);
            assert_eq!((read.id, read.correlation_id), (None, None));
        }
    }

    #[test]
    fn compensations_are_the_undoing_topics() {
        assert!(is_compensation(topics::PAYMENTS_REFUNDED));
        assert!(is_compensation(topics::COMMANDS_INVENTORY_RELEASE));
        assert!(!is_compensation(topics::PAYMENTS_FAILED));
        assert!(!is_compensation(topics::ORDERS_CREATED));
    }
}
