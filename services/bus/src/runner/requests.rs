//! The operator's requests about this part's dead letters (`commands/<part>/dead-letters`,
//! see `milo_contracts::dead_letters`), handled inside the group commit like any message and
//! answered on the request's reply topic once the group is durable.
//!
//! A request from the network is checked before anything is read: shape, `source`, a reply
//! topic of this part's own, not expired; a bad one is dead-lettered with the reason. Work
//! per request is bounded (one page) and every answer fits one payload of `max_payload`.
//! `milo trace`'s requests about one order are answered the same way ([`trace`]).

use milo_contracts::dead_letters::{
    clip, DeadLetterAnswer, DeadLetterOp, DeadLettersAnswered, DeadLettersRequested, LetterSummary,
    ReplayOutcome, Replayed, OPERATOR, REASON_LIMIT, TOPIC_LIMIT,
};
use milo_contracts::{topics, Envelope, RawEnvelope};
use time::OffsetDateTime;
use tracing::{debug, info, warn};

use super::group::{Group, Outcome};
use super::{Rejection, Service};
use crate::dlq::{self, DeadLetter};
use crate::fingerprint;
use crate::store::{self, Seen, StoreError, DEAD, INBOX};

/// Most letters in one page of a list.
pub const LIST_PAGE: usize = 500;
/// Most letters handed to the handler by one replay request.
pub const REPLAY_PAGE: usize = 64;
/// Most letters deleted by one purge request.
pub const PURGE_PAGE: usize = 1000;
/// Room kept in an answer for what its measure cannot know in advance (the length of
/// `occurred_at`, `next`).
const SLACK: usize = 64;

/// A stored letter, or why it does not decode.
type Read = Result<DeadLetter, String>;

/// A request that passed the checks.
struct Request {
    env: RawEnvelope,
    reply_to: String,
    op: DeadLetterOp,
}

impl Group<'_> {
    /// Handles one request: answers it, or dead-letters it with the reason.
    pub(super) fn request<S: Service>(
        &mut self,
        service: &mut S,
        payload: &[u8],
    ) -> Result<(), Rejection> {
        let topic = self.requests.clone();
        let request = match self.check(payload) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(reason) => {
                warn!(part = self.name, %reason, "Operator request refused.");
                self.dead_letter(&topic, payload, None, &reason)?;
                return Ok(());
            }
        };
        let inbox_key = format!("{INBOX}{}", request.env.id);
        let print = fingerprint(payload);
        if request.op.changes() && self.seen(&inbox_key, print, payload)? {
            return Ok(());
        }
        // The reads below go to the store itself: this group's writes so far first.
        self.flush()?;
        let answer = match request.op.clone() {
            DeadLetterOp::List { from, upto } => self.list(&request, from, upto)?,
            DeadLetterOp::Show { id } => self.show(&request, id)?,
            DeadLetterOp::Replay { from, upto } => self.replay(service, &request, from, upto)?,
            DeadLetterOp::Purge { from, upto } => self.purge(from, upto)?,
            DeadLetterOp::Trace {
                order_id,
                from,
                upto,
            } => self.trace(&request, order_id, from, upto)?,
            DeadLetterOp::Inbox { events } => self.inbox(&events)?,
            DeadLetterOp::OrderLetters {
                order_id,
                from,
                upto,
            } => self.order_letters(&request, order_id, from, upto)?,
        };
        if request.op.changes() {
            let mut tx = self.tx();
            tx.put(&inbox_key, &Seen::Print(print));
            self.commit(tx)?;
        }
        let payload = self.reply(&request, answer).to_json();
        if payload.len() > self.max_payload {
            warn!(
                part = self.name,
                size = payload.len(),
                "Answer too large; not sent."
            );
        } else {
            self.replies.push((request.reply_to, payload));
        }
        Ok(())
    }

    /// Whether a request that changes the store came before (acked without effect; with
    /// other content it is dead-lettered as a conflicting duplicate).
    fn seen(&mut self, inbox_key: &str, print: u64, payload: &[u8]) -> Result<bool, StoreError> {
        match self.tx().get::<Seen>(inbox_key)?.map(Seen::print) {
            None => Ok(false),
            Some(seen) if seen == print => {
                debug!(
                    key = inbox_key,
                    "Repeat operator request acked without effect."
                );
                Ok(true)
            }
            Some(_) => {
                let reason = "conflicting duplicate: same request id, different content";
                let topic = self.requests.clone();
                self.dead_letter(&topic, payload, None, reason)?;
                Ok(true)
            }
        }
    }

    /// The request, `None` if it expired, or why it is refused.
    fn check(&self, payload: &[u8]) -> Result<Option<Request>, String> {
        if payload.len() > self.max_payload {
            return Err(format!(
                "oversized: {} bytes, limit {}",
                payload.len(),
                self.max_payload
            ));
        }
        let env = RawEnvelope::parse(payload).map_err(|e| e.to_string())?;
        let data: DeadLettersRequested = env.decode().map_err(|e| e.to_string())?;
        if env.source != OPERATOR {
            let source = clip(&env.source, 64);
            return Err(format!(
                "refused: dead-letter requests come from the operator, not {source:?}"
            ));
        }
        let wanted = topics::dead_letter_replies(self.name, env.id);
        if data.reply_to != wanted {
            let got = clip(&data.reply_to, 128);
            return Err(format!(
                "refused: reply_to must be the request's own {wanted:?}, not {got:?}"
            ));
        }
        if data.expires_at < OffsetDateTime::now_utc() {
            warn!(part = self.name, request = %env.id, "Operator request expired before it came; ignored.");
            return Ok(None);
        }
        Ok(Some(Request {
            env,
            reply_to: data.reply_to,
            op: data.request,
        }))
    }

    fn reply(&self, request: &Request, answer: DeadLetterAnswer) -> Envelope<DeadLettersAnswered> {
        let part = self.name.to_owned();
        let data = DeadLettersAnswered { part, answer };
        Envelope::new(
            self.name,
            request.env.correlation_id,
            Some(request.env.id),
            data,
        )
    }

    /// Bytes left for the variable part of `empty`, an answer with nothing in it yet.
    fn room(&self, request: &Request, empty: DeadLetterAnswer) -> usize {
        let base = self.reply(request, empty).to_json().len();
        self.max_payload.saturating_sub(base + SLACK)
    }

    /// The range's effective end: `upto`, or the newest letter now.
    fn end(&self, upto: Option<u64>) -> Result<u64, StoreError> {
        match upto {
            Some(upto) => Ok(upto),
            None => Ok(self.store.last_seq(DEAD)?.unwrap_or(0)),
        }
    }

    /// At most `limit` letters with ids in `from..=upto`, each read or unreadable.
    fn letters(&self, from: u64, upto: u64, limit: usize) -> Result<Vec<(u64, Read)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.store.raw_range(store::seq_key(DEAD, from), DEAD) {
            let (k, v) = kv?;
            let Some(id) = store::seq_of(DEAD, &k).filter(|id| *id <= upto) else {
                break;
            };
            if out.len() >= limit {
                break;
            }
            let read = store::decode::<DeadLetter>(&format!("{DEAD}{id}"), &v);
            out.push((id, read.map_err(|e| e.to_string())));
        }
        Ok(out)
    }

    fn list(
        &self,
        r: &Request,
        from: u64,
        upto: Option<u64>,
    ) -> Result<DeadLetterAnswer, StoreError> {
        let upto = self.end(upto)?;
        let room = self.room(
            r,
            DeadLetterAnswer::List {
                letters: Vec::new(),
                upto,
                next: None,
            },
        );
        let (mut letters, mut used, mut next) = (Vec::new(), 0, None);
        for (id, read) in self.letters(from, upto, LIST_PAGE + 1)? {
            let summary = match read {
                Ok(letter) => LetterSummary::of(&letter),
                Err(why) => unreadable(id, &why),
            };
            let size = json_len(&summary) + 1;
            if letters.len() == LIST_PAGE || used + size > room {
                next = Some(id);
                break;
            }
            used += size;
            letters.push(summary);
        }
        Ok(DeadLetterAnswer::List {
            letters,
            upto,
            next,
        })
    }

    fn show(&self, r: &Request, id: u64) -> Result<DeadLetterAnswer, StoreError> {
        let Some((_, read)) = self.letters(id, id, 1)?.pop() else {
            return Ok(DeadLetterAnswer::Show {
                letter: None,
                payload_bytes: 0,
            });
        };
        let mut letter = match read {
            Ok(letter) => letter,
            Err(why) => {
                let s = unreadable(id, &why);
                let payload = String::new();
                DeadLetter {
                    id,
                    topic: s.topic,
                    reason: s.reason,
                    received_at: s.received_at,
                    payload,
                }
            }
        };
        let payload = std::mem::take(&mut letter.payload);
        letter.topic = clip(&letter.topic, TOPIC_LIMIT);
        letter.reason = clip(&letter.reason, REASON_LIMIT);
        let payload_bytes = payload.len();
        let empty = DeadLetterAnswer::Show {
            letter: Some(letter.clone()),
            payload_bytes,
        };
        letter.payload = clip(&payload, self.room(r, empty));
        Ok(DeadLetterAnswer::Show {
            letter: Some(letter),
            payload_bytes,
        })
    }

    fn replay<S: Service>(
        &mut self,
        service: &mut S,
        r: &Request,
        from: u64,
        upto: Option<u64>,
    ) -> Result<DeadLetterAnswer, Rejection> {
        let upto = self.end(upto)?;
        let empty = DeadLetterAnswer::Replay {
            replayed: Vec::new(),
            upto,
            next: None,
        };
        let room = self.room(r, empty);
        let (mut replayed, mut used, mut next) = (Vec::new(), 0, None);
        for (id, read) in self.letters(from, upto, REPLAY_PAGE + 1)? {
            if replayed.len() == REPLAY_PAGE || used + largest_replayed() + 1 > room {
                next = Some(id);
                break;
            }
            let letter = match read {
                Ok(letter) => letter,
                Err(why) => {
                    warn!(part = self.name, dead_letter_id = id, %why, "Unreadable dead letter not replayed.");
                    continue;
                }
            };
            info!(part = self.name, dead_letter_id = id, topic = %letter.topic, "Replaying a dead letter now.");
            let mut tx = self.tx();
            tx.remove_raw(store::seq_key(DEAD, id));
            self.commit(tx)?;
            let outcome = if letter.topic == self.requests {
                let why = "an operator request is not replayed: send it again";
                self.dead_letter(&letter.topic, &dlq::original(&letter.payload), None, why)?
            } else {
                self.message(service, &letter.topic, &dlq::original(&letter.payload))?
            };
            let item = Replayed {
                id,
                topic: clip(&letter.topic, TOPIC_LIMIT),
                outcome: outcome.into(),
            };
            used += json_len(&item) + 1;
            replayed.push(item);
        }
        Ok(DeadLetterAnswer::Replay {
            replayed,
            upto,
            next,
        })
    }

    fn purge(&mut self, from: u64, upto: Option<u64>) -> Result<DeadLetterAnswer, StoreError> {
        let upto = self.end(upto)?;
        let mut page = self.letters(from, upto, PURGE_PAGE + 1)?;
        let next = (page.len() > PURGE_PAGE)
            .then(|| page.pop().map(|(id, _)| id))
            .flatten();
        let mut tx = self.tx();
        for (id, _) in &page {
            tx.remove_raw(store::seq_key(DEAD, *id));
        }
        self.commit(tx)?;
        let purged = page.len() as u64;
        info!(part = self.name, purged, "Dead letters purged.");
        Ok(DeadLetterAnswer::Purge { purged, upto, next })
    }
}

impl From<Outcome> for ReplayOutcome {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Applied => ReplayOutcome::Applied,
            Outcome::Repeat => ReplayOutcome::Repeat,
            Outcome::DeadLettered(id, reason) => ReplayOutcome::DeadLettered {
                id,
                reason: clip(&reason, REASON_LIMIT),
            },
        }
    }
}

/// What a list says of a record that does not decode.
fn unreadable(id: u64, why: &str) -> LetterSummary {
    LetterSummary {
        id,
        topic: String::new(),
        reason: clip(&format!("unreadable record: {why}"), REASON_LIMIT),
        received_at: OffsetDateTime::UNIX_EPOCH,
        payload_bytes: 0,
    }
}

/// The JSON size of the largest [`Replayed`] an answer can carry.
fn largest_replayed() -> usize {
    json_len(&Replayed {
        id: u64::MAX,
        topic: "t".repeat(TOPIC_LIMIT),
        outcome: ReplayOutcome::DeadLettered {
            id: u64::MAX,
            reason: "r".repeat(REASON_LIMIT),
        },
    })
}

fn json_len(value: &impl serde::Serialize) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX / 2, |v| v.len())
}

mod trace;

#[cfg(test)]
mod tests;
