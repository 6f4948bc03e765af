//! One group commit: the messages and commands in hand, each applied as its own `Tx` into the
//! group's overlay, dead letters for what cannot be used, and what to do once it is durable.

use milo_contracts::events::DeadLettered;
use milo_contracts::replay::EventsUnavailable;
use milo_contracts::{topics, DecodeError, RawEnvelope};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};
use uuid::Uuid;

use super::marks::Marks;
use super::meters::Meters;
use super::{hooks, Rejection, Service, HANDLER_ATTEMPTS};
use crate::dlq::{self, DeadLetter};
use crate::fingerprint;
use crate::link::{Delivery, LinkCommand};
use crate::store::{self, Seen, Store, StoreError, DEAD, INBOX};
use crate::tx::{Overlay, Tx};

/// The messages of one group commit and what to do once it is durable.
pub(super) struct Group<'a> {
    pub(super) name: &'a str,
    pub(super) overlay: Overlay,
    pub(super) store: &'a Store,
    pub(super) max_payload: usize,
    last_outbox: Option<u64>,
    pub(super) after: Vec<Box<dyn FnOnce() + Send>>,
    /// This part's operator requests topic (`commands/<name>/dead-letters`).
    pub(super) requests: String,
    /// Answers to publish once the group is durable: topic and payload.
    pub(super) replies: Vec<(String, Vec<u8>)>,
    /// Writes of this group already applied to sled (before a request read the store): the
    /// group must be synced even if its overlay is empty at the end.
    pub(super) flushed: bool,
    /// What this part has of each producer's numbered events.
    pub(super) marks: Marks,
    /// This part's metrics.
    pub(super) meters: Meters,
    /// Retained states to publish once the group is durable ([`Tx::publish_state`]).
    pub(super) states: Vec<(String, Vec<u8>)>,
}

/// What became of one message.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Its effect is staged.
    Applied,
    /// A repeat event: acked without effect.
    Repeat,
    /// Refused: dead-lettered under this id, with the reason.
    DeadLettered(u64, String),
}

impl<'a> Group<'a> {
    pub(super) fn new(name: &'a str, store: &'a Store, max_payload: usize, marks: Marks) -> Self {
        Group {
            name,
            overlay: Overlay::default(),
            store,
            max_payload,
            last_outbox: None,
            after: Vec::new(),
            requests: topics::dead_letter_requests(name),
            replies: Vec::new(),
            flushed: false,
            marks,
            meters: Meters::new(name),
            states: Vec::new(),
        }
    }

    pub(super) fn tx(&self) -> Tx {
        Tx::new(
            self.store.clone(),
            self.overlay.clone(),
            self.name,
            self.max_payload,
        )
    }

    pub(super) fn commit(&mut self, mut tx: Tx) -> Result<(), StoreError> {
        for topic in tx.topics() {
            self.meters.published(topic);
        }
        for (topic, payload) in tx.take_states() {
            // The latest of a group only: an older one would be overwritten at once.
            self.states.retain(|(t, _)| *t != topic);
            self.states.push((topic, payload));
        }
        let (last, after) = tx.commit()?;
        self.last_outbox = last.or(self.last_outbox);
        self.after.extend(after);
        Ok(())
    }

    pub(super) fn delivery<S: Service>(
        &mut self,
        service: &mut S,
        d: &Delivery,
    ) -> Result<(), Rejection> {
        let (topic, payload) = (d.publish.topic.as_str(), &d.publish.payload[..]);
        if topic == self.requests {
            return self.request(service, payload);
        }
        if hooks::lose(self.name, topic, payload) {
            warn!(
                service = self.name,
                topic, "Test hook: this delivery is lost on purpose."
            );
            return Ok(());
        }
        if topic == topics::REPLAY_UNAVAILABLE {
            return self
                .unavailable(topic, payload)
                .map(drop)
                .map_err(Into::into);
        }
        self.message(service, topic, payload).map(drop)
    }

    /// Hands every dead letter queued for replay to the handler again, in one group.
    pub(super) fn replays<S: Service>(&mut self, service: &mut S) -> Result<usize, Rejection> {
        let pending = self.store.pending_replays()?;
        for letter in &pending {
            info!(service = self.name, dead_letter_id = letter.id, topic = %letter.topic, "Replaying a dead letter.");
            self.message(service, &letter.topic, &dlq::original(&letter.payload))?;
            let mut tx = self.tx();
            tx.remove_raw(store::seq_key(dlq::REPLAY, letter.id));
            self.commit(tx)?;
        }
        Ok(pending.len())
    }

    /// Hands one message to the service (through the inbox); what became of it, counted in
    /// `milo_events_handled_total` by part, type and outcome.
    pub(super) fn message<S: Service>(
        &mut self,
        service: &mut S,
        topic: &str,
        payload: &[u8],
    ) -> Result<Outcome, Rejection> {
        let mut kind = "raw";
        let outcome = self.handle(service, topic, payload, &mut kind)?;
        let what = match outcome {
            Outcome::Applied => "applied",
            Outcome::Repeat => "repeat",
            Outcome::DeadLettered(..) => "dead_lettered",
        };
        self.meters.handled(kind, what);
        Ok(outcome)
    }

    /// [`Group::message`] itself; `kind` is set to the event's type once it is read.
    fn handle<S: Service>(
        &mut self,
        service: &mut S,
        topic: &str,
        payload: &[u8],
        kind: &mut &'static str,
    ) -> Result<Outcome, Rejection> {
        if payload.len() > self.max_payload {
            let reason = DecodeError::Oversized {
                size: payload.len(),
                limit: self.max_payload,
            };
            return Ok(self.dead_letter(topic, payload, None, &reason.to_string())?);
        }
        if service.is_raw(topic) {
            let mut tx = self.tx();
            return match service.on_raw(&mut tx, topic, payload) {
                Ok(()) => Ok(self.commit(tx).map(|()| Outcome::Applied)?),
                Err(Rejection::Store(e)) => Err(e.into()),
                Err(r) => Ok(self.dead_letter(topic, payload, None, &r.to_string())?),
            };
        }
        *kind = "unreadable";
        let env = match RawEnvelope::parse(payload) {
            Ok(env) => env,
            Err(e) => return Ok(self.dead_letter(topic, payload, None, &e.to_string())?),
        };
        *kind = milo_contracts::policy::known_type(&env.kind).unwrap_or("other");
        // Every line logged while this event is handled names its order and itself.
        let span = tracing::info_span!("event", order_id = %env.correlation_id, event_id = %env.id);
        let _in = span.enter();
        if let Some(seq) = env.seq.filter(|_| env.source != self.name) {
            self.marks.see(&env.source, topic, seq);
        }
        let inbox_key = format!("{INBOX}{}", env.id);
        let print = fingerprint(payload);
        match self.tx().get::<Seen>(&inbox_key)?.map(Seen::print) {
            Some(seen) if seen == print => {
                debug!(event_id = %env.id, topic, "Repeat event acked without effect.");
                return Ok(Outcome::Repeat);
            }
            Some(_) => {
                let reason = "conflicting duplicate: same event id, different content";
                return Ok(self.dead_letter(topic, payload, Some(env.correlation_id), reason)?);
            }
            None => {}
        }
        let mut attempt = 1;
        let outcome = loop {
            let mut tx = self.tx().handling(env.id);
            match service.on_event(&mut tx, topic, &env) {
                Ok(()) => break Ok(tx),
                // A failing read (a corrupt record...) may be passing; if it is not, the
                // message must not block the topic: dead-letter it after a few attempts.
                Err(Rejection::Store(e)) if attempt < HANDLER_ATTEMPTS => {
                    warn!(service = self.name, topic, attempt, error = %e, "Handler failed; trying again.");
                    attempt += 1;
                }
                Err(Rejection::Store(e)) => {
                    break Err(Rejection::Invalid(format!(
                        "handler failed after {attempt} attempts: {e}"
                    )))
                }
                Err(r) => break Err(r),
            }
        };
        match outcome {
            Ok(mut tx) => {
                tx.put(&inbox_key, &Seen::Handled(print, self.store.next_id()?));
                Ok(self.commit(tx).map(|()| Outcome::Applied)?)
            }
            Err(r) => {
                let reason = r.to_string();
                Ok(self.dead_letter(topic, payload, Some(env.correlation_id), &reason)?)
            }
        }
    }

    /// A producer's word that events this part asked for are gone from its log: they are
    /// given up (the part stops asking), logged at ERROR, counted and kept as a dead letter.
    fn unavailable(&mut self, topic: &str, payload: &[u8]) -> Result<Outcome, StoreError> {
        let notice = RawEnvelope::parse(payload).and_then(|e| {
            let data: EventsUnavailable = e.decode()?;
            Ok((e.source, data))
        });
        let (producer, gone) = match notice {
            Ok(n) => n,
            Err(e) => return self.dead_letter(topic, payload, None, &e.to_string()),
        };
        if gone.consumer != self.name
            || !self
                .marks
                .give_up(&producer, &gone.topic, gone.from, gone.to)
        {
            return Ok(Outcome::Repeat);
        }
        let lost = gone.to.saturating_sub(gone.from) + 1;
        crate::log::count_lost(lost);
        let reason = format!(
            "lost: events {}..={} of {producer} on {} are older than its log (it holds from {})",
            gone.from,
            gone.to,
            gone.topic,
            gone.oldest.map_or("none".to_owned(), |o| o.to_string()),
        );
        error!(service = self.name, producer = %producer, topic = %gone.topic, from = gone.from, to = gone.to, "Events missed for good: older than the producer's log.");
        self.dead_letter(topic, payload, None, &reason)
    }

    pub(super) fn command<S: Service>(
        &mut self,
        service: &mut S,
        cmd: S::Command,
    ) -> Result<(), Rejection> {
        let mut tx = self.tx();
        match service.on_command(&mut tx, cmd) {
            Ok(()) => Ok(self.commit(tx)?),
            Err(Rejection::Store(e)) => Err(e.into()),
            Err(r) => {
                warn!(service = self.name, reason = %r, "Local command refused.");
                Ok(())
            }
        }
    }

    /// Records a refused message with its reason and publishes it on `dlq/<service>/<topic>`.
    pub(super) fn dead_letter(
        &mut self,
        topic: &str,
        payload: &[u8],
        correlation: Option<Uuid>,
        reason: &str,
    ) -> Result<Outcome, StoreError> {
        let id = self.store.next_id()?;
        warn!(
            service = self.name,
            topic,
            dead_letter_id = id,
            reason,
            "Message dead-lettered."
        );
        // By part only: a topic may be anyone's choice on a broker with no gate.
        self.meters.dead_letters.increment(1);
        let letter = DeadLetter {
            id,
            topic: topic.to_owned(),
            reason: reason.to_owned(),
            received_at: OffsetDateTime::now_utc(),
            payload: dlq::printable(payload),
        };
        let mut tx = self.tx();
        tx.put_raw(store::seq_key(DEAD, id), &letter);
        let shown = dlq::printable(&payload[..payload.len().min(dlq::EVENT_PAYLOAD_LIMIT)]);
        let event = tx.event(
            correlation.unwrap_or_else(Uuid::nil),
            None,
            DeadLettered {
                service: self.name.to_owned(),
                topic: topic.to_owned(),
                reason: reason.to_owned(),
                dead_letter_id: id,
                payload: shown,
            },
        );
        if let Err(e) = tx.publish_to(&topics::dlq(self.name, topic), &event) {
            warn!(error = %e, "Dead letter kept in the store only.");
        }
        self.commit(tx)?;
        Ok(Outcome::DeadLettered(id, reason.to_owned()))
    }

    /// Stages the marks this group changed, with its other writes.
    pub(super) fn write_marks(&mut self) {
        for (key, value) in self.marks.take_dirty() {
            self.overlay.put(key, value);
        }
    }

    /// Applies this group's writes so far to sled, for a read of the store itself; the group
    /// is synced at its end all the same.
    pub(super) fn flush(&mut self) -> Result<(), StoreError> {
        if let Some(batch) = self.overlay.take_batch() {
            self.store.apply(batch)?;
            self.flushed = true;
        }
        Ok(())
    }

    /// After the group's `sync`: relay the outbox, ack in receive order, answer operator
    /// requests, run replies.
    pub(super) fn finish(
        &mut self,
        publisher: &mpsc::UnboundedSender<LinkCommand>,
        subscriber: &mpsc::UnboundedSender<LinkCommand>,
        deliveries: impl Iterator<Item = Delivery>,
    ) {
        if let Some(key) = self.last_outbox.take() {
            let _ = publisher.send(LinkCommand::Durable(key));
        }
        for d in deliveries {
            let _ = subscriber.send(LinkCommand::Ack(d));
        }
        for (topic, payload) in self.replies.drain(..) {
            let _ = publisher.send(LinkCommand::Publish { topic, payload });
        }
        for (topic, payload) in self.states.drain(..) {
            let _ = publisher.send(LinkCommand::PublishState { topic, payload });
        }
        self.flushed = false;
        for f in self.after.drain(..) {
            f();
        }
    }
}
