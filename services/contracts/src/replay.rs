//! Asking producers for events again.
//!
//! Every event a part makes is numbered per topic (`seq` in the [envelope](crate::Envelope))
//! and kept in the part's log for days. A consumer keeps, per producer and topic, the last
//! number it has without a gap. When it sees a gap, or comes back without its broker session,
//! it publishes a [`ReplayRequest`] on [`REPLAY_REQUESTS`](crate::topics::REPLAY_REQUESTS);
//! each producer publishes again, on their own topics, the events asked for that its log
//! still holds, and says [`EventsUnavailable`] for what it no longer holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::envelope::Event;
use crate::topics;

/// Most events a producer publishes again for one request; a consumer that still misses
/// some asks again (the producer also sends the newest event of a topic it cut, so the gap
/// shows).
pub const REPLAY_LIMIT: usize = 4096;

/// A consumer's request: what it misses, per producer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The asking part (its name, as in the `source` of its own events).
    pub consumer: String,
    /// After a session loss: the filters the consumer subscribes to. Every producer
    /// publishes again its events on topics matching them, after `after`'s numbers (from the
    /// first it holds for a topic `after` does not name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
    /// Producer → topic → the last number the consumer has without a gap.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub after: BTreeMap<String, BTreeMap<String, u64>>,
    /// Gaps: exactly these ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Range>,
    /// When the consumer's store began (ms since the Unix epoch): events made before it are
    /// not handed to it. A new part, a replaced board or a wiped store starts with what is made
    /// from then on, never with a producer's history (old tickets and commands would be done
    /// again); the producer says which numbers it skipped ([`EventsUnavailable::before_consumer`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<u64>,
}

/// A range of one producer's events on one topic, both ends included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// The producer (`source`).
    pub producer: String,
    /// The topic.
    pub topic: String,
    /// First number.
    pub from: u64,
    /// Last number.
    pub to: u64,
}

impl ReplayRequest {
    /// Reads a request; `None` for anything else (an old plain client id, garbage).
    pub fn parse(payload: &[u8]) -> Option<ReplayRequest> {
        serde_json::from_slice(payload).ok()
    }

    /// The JSON payload.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// True if the request asks nothing of `producer`.
    pub fn is_empty_for(&self, producer: &str) -> bool {
        self.filters.is_empty() && !self.ranges.iter().any(|r| r.producer == producer)
    }
}

/// A producer no longer holds events a consumer asked for: they are older than its log
/// reaches (`docs/ARCHITECTURE.md`, "Every consumer sees every event"). The consumer records
/// the loss as a dead letter, logs it at ERROR and moves on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsUnavailable {
    /// The consumer that asked.
    pub consumer: String,
    /// The topic.
    pub topic: String,
    /// First number missing.
    pub from: u64,
    /// Last number missing.
    pub to: u64,
    /// The first number the producer still holds on the topic (none: nothing).
    pub oldest: Option<u64>,
    /// The events were made before the consumer's store began: nothing was lost, they are
    /// none of its business.
    #[serde(default)]
    pub before_consumer: bool,
}

impl Event for EventsUnavailable {
    const TYPE: &'static str = "EventsUnavailable";
    const VERSION: u32 = 1;
    const TOPIC: &'static str = topics::REPLAY_UNAVAILABLE;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_round_trips_and_garbage_is_none() {
        let mut r = ReplayRequest {
            consumer: "analytics".into(),
            filters: vec![topics::ORDERS_ALL.into()],
            since_ms: Some(1_765_000_000_000),
            ..Default::default()
        };
        r.after
            .entry("order".into())
            .or_default()
            .insert(topics::ORDERS_CREATED.into(), 41);
        r.ranges.push(Range {
            producer: "payment".into(),
            topic: topics::PAYMENTS_COMPLETED.into(),
            from: 3,
            to: 9,
        });
        assert_eq!(ReplayRequest::parse(&r.to_json()), Some(r.clone()));
        assert!(!r.is_empty_for("inventory"), "filters ask every producer");
        assert_eq!(ReplayRequest::parse(b"milo-analytics"), None);
        assert_eq!(ReplayRequest::parse(b"{\"consumer\":1}"), None);
    }
}
