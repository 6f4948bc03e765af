//! Dead letters, and the operator's requests about them (`milo dlq`), answered over MQTT by
//! the part that keeps them, so a running store's dead letters can be handled without
//! stopping it. `milo trace` asks the same way about one order ([`crate::trace`]).
//!
//! A request ([`DeadLettersRequested`]) goes to `commands/<part>/dead-letters`; the part
//! answers ([`DeadLettersAnswered`]) on the `reply_to` topic it names, which must be the
//! request's own, `replies/<part>/dead-letters/<request id>` ([`topics::dead_letter_replies`]):
//! a request cannot make a part publish anywhere else. Every answer fits in one MQTT payload:
//! texts are cut with [`clip`] and lists come in pages (`next` is where the next page
//! starts).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use uuid::Uuid;

use crate::envelope::{Envelope, Event};
use crate::topics;
use crate::trace::{TracedEvent, TracedLetter};

/// The `source` of an operator's requests.
pub const OPERATOR: &str = "operator";

/// Longest topic in an answer (JSON-escaped bytes).
pub const TOPIC_LIMIT: usize = 256;

/// Longest reason in an answer (JSON-escaped bytes).
pub const REASON_LIMIT: usize = 1024;

/// One refused message, as the part that refused it keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Sequence id in the part's store.
    pub id: u64,
    /// Where it arrived.
    pub topic: String,
    /// Why it was refused.
    pub reason: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// The payload: text, or `hex:` + hex when not UTF-8.
    pub payload: String,
}

/// What the operator asks of a part's dead letters. Ranges are of dead-letter ids, both ends
/// included; no `upto` means "the newest one when the request is handled", so a page loop
/// never chases letters made meanwhile (a replay that fails again makes a new one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeadLetterOp {
    /// Summaries (no payloads) of the letters in range, one page.
    List {
        /// First id.
        #[serde(default)]
        from: u64,
        /// Last id.
        #[serde(default)]
        upto: Option<u64>,
    },
    /// One letter with its payload (cut to fit an answer).
    Show {
        /// Its id.
        id: u64,
    },
    /// Hand the letters in range to the part's handler now, one page; each is applied,
    /// dead-lettered again (under a new id) or found a repeat.
    Replay {
        /// First id.
        #[serde(default)]
        from: u64,
        /// Last id.
        #[serde(default)]
        upto: Option<u64>,
    },
    /// Delete the letters in range, one page.
    Purge {
        /// First id.
        #[serde(default)]
        from: u64,
        /// Last id.
        #[serde(default)]
        upto: Option<u64>,
    },
    /// `milo trace`: the order's events in this part's log, one page of log keys (the whole
    /// log is read, a bounded number of entries per page).
    Trace {
        /// The order.
        order_id: Uuid,
        /// First log key.
        #[serde(default)]
        from: u64,
        /// Last log key.
        #[serde(default)]
        upto: Option<u64>,
    },
    /// `milo trace`: whether this part's inbox holds each of these events.
    Inbox {
        /// Event ids.
        events: Vec<Uuid>,
    },
    /// `milo trace`: this part's dead letters about the order, one page of dead-letter ids.
    OrderLetters {
        /// The order.
        order_id: Uuid,
        /// First id.
        #[serde(default)]
        from: u64,
        /// Last id.
        #[serde(default)]
        upto: Option<u64>,
    },
}

impl DeadLetterOp {
    /// True for the requests that change the store (recorded in the part's inbox, so a
    /// request delivered twice acts once).
    pub fn changes(&self) -> bool {
        matches!(
            self,
            DeadLetterOp::Replay { .. } | DeadLetterOp::Purge { .. }
        )
    }

    /// The same request for the page of ids (or log keys) `from..=upto` (a `show` and an
    /// `inbox` stay as they are).
    pub fn page(&self, from: u64, upto: u64) -> DeadLetterOp {
        let upto = Some(upto);
        match self {
            DeadLetterOp::List { .. } => DeadLetterOp::List { from, upto },
            DeadLetterOp::Replay { .. } => DeadLetterOp::Replay { from, upto },
            DeadLetterOp::Purge { .. } => DeadLetterOp::Purge { from, upto },
            DeadLetterOp::Trace { order_id, .. } => DeadLetterOp::Trace {
                order_id: *order_id,
                from,
                upto,
            },
            DeadLetterOp::OrderLetters { order_id, .. } => DeadLetterOp::OrderLetters {
                order_id: *order_id,
                from,
                upto,
            },
            one @ (DeadLetterOp::Show { .. } | DeadLetterOp::Inbox { .. }) => one.clone(),
        }
    }
}

/// Operator → part (`commands/<part>/dead-letters`). The envelope id names the request; the
/// answer carries it as `causation_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLettersRequested {
    /// Where to answer: `replies/<part>/dead-letters/<this request's id>`, nothing else.
    pub reply_to: String,
    /// The requester stops waiting then: a request still queued for the part's session
    /// after it is acted on never (a purge must not happen minutes later).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// What to do.
    pub request: DeadLetterOp,
}
impl DeadLettersRequested {
    /// The operator's request to `part`, answered on its own reply topic; its id also
    /// serves as its correlation id.
    pub fn envelope(
        part: &str,
        expires_at: OffsetDateTime,
        request: DeadLetterOp,
    ) -> Envelope<DeadLettersRequested> {
        let data = DeadLettersRequested {
            reply_to: String::new(),
            expires_at,
            request,
        };
        let mut env = Envelope::new(OPERATOR, Uuid::nil(), None, data);
        env.correlation_id = env.id;
        env.data.reply_to = topics::dead_letter_replies(part, env.id);
        env
    }
}

impl Event for DeadLettersRequested {
    const TYPE: &'static str = "DeadLettersRequested";
    const VERSION: u32 = 1;
    const TOPIC: &'static str = topics::DEAD_LETTER_REQUESTS_ALL;
}

/// A letter in a list: everything but the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LetterSummary {
    /// Its id.
    pub id: u64,
    /// Where it arrived (cut to [`TOPIC_LIMIT`]).
    pub topic: String,
    /// Why it was refused (cut to [`REASON_LIMIT`]).
    pub reason: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// Length of the stored payload text.
    pub payload_bytes: usize,
}

impl LetterSummary {
    /// The summary of a letter, texts cut to their limits.
    pub fn of(letter: &DeadLetter) -> LetterSummary {
        LetterSummary {
            id: letter.id,
            topic: clip(&letter.topic, TOPIC_LIMIT),
            reason: clip(&letter.reason, REASON_LIMIT),
            received_at: letter.received_at,
            payload_bytes: letter.payload.len(),
        }
    }
}

/// What a live replay did with one letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReplayOutcome {
    /// The handler took it: its effect is durable.
    Applied,
    /// Its event id was already in the inbox with the same content: no second effect.
    Repeat,
    /// Refused again: kept under a new id, with the reason.
    DeadLettered {
        /// The new dead letter's id.
        id: u64,
        /// Why (cut to [`REASON_LIMIT`]).
        reason: String,
    },
}

/// One replayed letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replayed {
    /// The letter's id (now gone from the store).
    pub id: u64,
    /// Where it had arrived (cut to [`TOPIC_LIMIT`]).
    pub topic: String,
    /// What happened.
    pub outcome: ReplayOutcome,
}

/// A part's answer, per kind of request. Paged answers say the range's effective end
/// (`upto`) and where the next page starts (`next`, none when done).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DeadLetterAnswer {
    /// A page of summaries.
    List {
        /// The letters, oldest first.
        letters: Vec<LetterSummary>,
        /// Last id of the range (0: none).
        upto: u64,
        /// First id of the next page.
        next: Option<u64>,
    },
    /// One letter, or none if there is no such id.
    Show {
        /// The letter; `topic`, `reason` and `payload` cut to fit one answer.
        letter: Option<DeadLetter>,
        /// Length of the whole stored payload text (more than `payload`'s when cut).
        payload_bytes: usize,
    },
    /// A page of replayed letters.
    Replay {
        /// Each letter and its outcome, in id order.
        replayed: Vec<Replayed>,
        /// Last id of the range (0: none).
        upto: u64,
        /// First id of the next page.
        next: Option<u64>,
    },
    /// A page of deleted letters.
    Purge {
        /// How many were deleted.
        purged: u64,
        /// Last id of the range (0: none).
        upto: u64,
        /// First id of the next page.
        next: Option<u64>,
    },
    /// A page of the order's events in the part's log, in log order.
    Trace {
        /// The events.
        events: Vec<TracedEvent>,
        /// Events of the order on this page too large for one answer alone (seen only with
        /// a tiny `mqtt.max_payload`): left out.
        #[serde(default)]
        omitted: u64,
        /// Last log key of the range (0: none).
        upto: u64,
        /// First log key of the next page.
        next: Option<u64>,
    },
    /// For each event asked, in order, the fingerprint the inbox holds for it (none: not
    /// in the inbox).
    Inbox {
        /// One per event asked.
        held: Vec<Option<u64>>,
    },
    /// A page of the part's dead letters about the order.
    OrderLetters {
        /// The letters, oldest first.
        letters: Vec<TracedLetter>,
        /// Letters too large for one answer alone: left out.
        #[serde(default)]
        omitted: u64,
        /// Last id of the range (0: none).
        upto: u64,
        /// First id of the next page.
        next: Option<u64>,
    },
}

impl DeadLetterAnswer {
    /// Where the next page starts and where the range ends, when there is more.
    pub fn more(&self) -> Option<(u64, u64)> {
        match self {
            DeadLetterAnswer::List { upto, next, .. }
            | DeadLetterAnswer::Replay { upto, next, .. }
            | DeadLetterAnswer::Purge { upto, next, .. }
            | DeadLetterAnswer::Trace { upto, next, .. }
            | DeadLetterAnswer::OrderLetters { upto, next, .. } => next.map(|n| (n, *upto)),
            DeadLetterAnswer::Show { .. } | DeadLetterAnswer::Inbox { .. } => None,
        }
    }
}

/// Part → operator, on the request's `reply_to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLettersAnswered {
    /// The part answering.
    pub part: String,
    /// The answer.
    pub answer: DeadLetterAnswer,
}
impl Event for DeadLettersAnswered {
    const TYPE: &'static str = "DeadLettersAnswered";
    const VERSION: u32 = 1;
    const TOPIC: &'static str = topics::DEAD_LETTER_REPLIES_ALL;
}

/// True for a part name that can go in a topic and a data directory: letters, digits, `-`
/// and `_` (the service names and `barista-device-<station>`), at most 64.
pub fn valid_part(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `text` cut so that its JSON string form (escapes included, quotes excluded) takes at most
/// `max` bytes (or the 3 of `…` for a smaller `max`); a cut text ends with `…`.
pub fn clip(text: &str, max: usize) -> String {
    if escaped_len(text) <= max {
        return text.to_owned();
    }
    let room = max.saturating_sub('…'.len_utf8());
    let mut used = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        used += escaped_char(c);
        if used > room {
            break;
        }
        end = i + c.len_utf8();
    }
    format!("{}…", &text[..end])
}

/// Bytes of `text` once escaped in a JSON string (as serde_json writes it).
fn escaped_len(text: &str) -> usize {
    text.chars().map(escaped_char).sum()
}

fn escaped_char(c: char) -> usize {
    match c {
        '"' | '\\' | '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => 2,
        c if u32::from(c) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Envelope, RawEnvelope};

    #[test]
    fn clip_bounds_the_escaped_text() {
        assert_eq!(clip("short", 10), "short");
        for text in ["a\"b\\c\u{1}é\n".repeat(50), "x".repeat(5000)] {
            for max in [0, 3, 10, 100, 257] {
                let cut = clip(&text, max);
                let json = serde_json::to_string(&cut).unwrap();
                assert!(json.len() - 2 <= max.max(3), "{max}: {json}");
                assert!(cut.ends_with('…'));
            }
        }
    }

    #[test]
    fn requests_read_strictly() {
        let ok = r#"{"reply_to":"r","expires_at":"2030-01-01T00:00:00Z","request":{"op":"list"}}"#;
        let r: DeadLettersRequested = serde_json::from_str(ok).unwrap();
        assert_eq!(
            r.request,
            DeadLetterOp::List {
                from: 0,
                upto: None
            }
        );
        for bad in [
            r#"{"reply_to":"r","expires_at":"2030-01-01T00:00:00Z","request":{"op":"drop"}}"#,
            r#"{"reply_to":"r","expires_at":"2030-01-01T00:00:00Z","request":{"op":"show"}}"#,
            r#"{"reply_to":"r","expires_at":"2030-01-01T00:00:00Z","request":{"op":"list","x":1}}"#,
            r#"{"reply_to":"r","request":{"op":"purge"}}"#,
        ] {
            assert!(
                serde_json::from_str::<DeadLettersRequested>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn answers_round_trip() {
        let answer = DeadLettersAnswered {
            part: "payment".into(),
            answer: DeadLetterAnswer::Replay {
                replayed: vec![Replayed {
                    id: 3,
                    topic: topics::ORDERS_CREATED.into(),
                    outcome: ReplayOutcome::DeadLettered {
                        id: 9,
                        reason: "malformed JSON".into(),
                    },
                }],
                upto: 3,
                next: None,
            },
        };
        let env = Envelope::new("payment", uuid::Uuid::nil(), None, answer.clone());
        let raw = RawEnvelope::parse(&env.to_json()).unwrap();
        assert_eq!(raw.decode::<DeadLettersAnswered>().unwrap(), answer);
        assert!(valid_part("barista-device-bar_1") && !valid_part("a/b") && !valid_part(".."));
    }
}
