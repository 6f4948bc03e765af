//! The operator's side of dead-letter requests: one MQTT connection that asks a running part
//! (`commands/<part>/dead-letters`) and waits, with a deadline, for its answer on the
//! request's own reply topic. Used by `milo dlq` when the part holds its store.
//!
//! It talks to rumqttc directly rather than through [`crate::link`]: one request at a time,
//! each its own subscription, nothing durable, and nothing logged (a command-line tool's
//! output is its answer).

use std::time::Duration;

use milo_contracts::dead_letters::{
    DeadLetterAnswer, DeadLetterOp, DeadLettersAnswered, DeadLettersRequested,
};
use milo_contracts::{topics, RawEnvelope};
use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS};
use time::OffsetDateTime;
use tokio::time::{timeout_at, Instant};
use uuid::Uuid;

use crate::{BusError, MqttConfig};

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    /// The broker address does not parse.
    #[error(transparent)]
    Address(#[from] BusError),
    /// No broker took the connection in time.
    #[error("no broker answered at {address} within {} s", wait.as_secs())]
    NoBroker {
        /// Broker address.
        address: String,
        /// How long we waited.
        wait: Duration,
    },
    /// Connected, but the part did not answer in time.
    #[error("{part} did not answer at {address} within {} s", wait.as_secs())]
    NoAnswer {
        /// The part asked.
        part: String,
        /// Broker address.
        address: String,
        /// How long we waited.
        wait: Duration,
    },
}

/// A connection asking one part about its dead letters.
pub struct Requester {
    client: AsyncClient,
    events: EventLoop,
    part: String,
    address: String,
    wait: Duration,
}

impl Requester {
    /// Connects to the broker of `mqtt` (clean session) to ask `part`, waiting `wait` at most
    /// for the connection and then for each answer.
    pub async fn connect(
        mqtt: &MqttConfig,
        part: &str,
        wait: Duration,
    ) -> Result<Requester, AskError> {
        let id = format!("milo-operator-{}", Uuid::now_v7().simple());
        let mut opts = mqtt.options(id)?;
        let packet = mqtt.max_payload + 4096;
        opts.set_keep_alive(Duration::from_secs(mqtt.keep_alive_secs.max(1)))
            .set_clean_session(true)
            .set_max_packet_size(packet, packet);
        if let (Some(user), Some(pass)) = (&mqtt.username, &mqtt.password) {
            opts.set_credentials(user.clone(), pass.expose().to_owned());
        }
        let (client, events) = AsyncClient::new(opts, 16);
        let mut requester = Requester {
            client,
            events,
            part: part.to_owned(),
            address: mqtt.address.clone(),
            wait,
        };
        let deadline = Instant::now() + wait;
        let connected = requester
            .until(deadline, |p| matches!(p, Packet::ConnAck(_)))
            .await;
        match connected {
            Some(_) => Ok(requester),
            None => Err(AskError::NoBroker {
                address: requester.address,
                wait,
            }),
        }
    }

    /// Sends one request and returns the part's answer.
    pub async fn ask(&mut self, request: DeadLetterOp) -> Result<DeadLetterAnswer, AskError> {
        let deadline = Instant::now() + self.wait;
        let expires = OffsetDateTime::now_utc() + self.wait;
        let env = DeadLettersRequested::envelope(&self.part, expires, request);
        let reply_to = env.data.reply_to.clone();
        let subscribed = self
            .client
            .subscribe(&reply_to, QoS::AtLeastOnce)
            .await
            .is_ok()
            && self
                .until(deadline, |p| matches!(p, Packet::SubAck(_)))
                .await
                .is_some();
        let topic = topics::dead_letter_requests(&self.part);
        let sent = subscribed
            && self
                .client
                .publish(topic, QoS::AtLeastOnce, false, env.to_json())
                .await
                .is_ok();
        let answer = if sent {
            let answers = |p: &Packet| matches!(p, Packet::Publish(p) if p.topic == reply_to);
            // Whatever else comes on the reply topic is not an answer to this request.
            loop {
                let Some(Packet::Publish(p)) = self.until(deadline, answers).await else {
                    break None;
                };
                let read = RawEnvelope::parse(&p.payload)
                    .ok()
                    .filter(|r| r.causation_id == Some(env.id) && r.source == self.part);
                if let Some(a) = read.and_then(|r| r.decode::<DeadLettersAnswered>().ok()) {
                    break Some(a.answer);
                }
            }
        } else {
            None
        };
        let _ = self.client.try_unsubscribe(reply_to);
        answer.ok_or_else(|| AskError::NoAnswer {
            part: self.part.clone(),
            address: self.address.clone(),
            wait: self.wait,
        })
    }

    /// Every page of a paged request (list, replay, purge), in order; a `show` is one.
    pub async fn pages(&mut self, first: DeadLetterOp) -> Result<Vec<DeadLetterAnswer>, AskError> {
        let mut answers = vec![self.ask(first.clone()).await?];
        while let Some((from, upto)) = answers.last().and_then(DeadLetterAnswer::more) {
            answers.push(self.ask(first.page(from, upto)).await?);
        }
        Ok(answers)
    }

    /// Disconnects (a moment at most).
    pub async fn close(mut self) {
        if self.client.try_disconnect().is_err() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        while let Ok(Ok(_)) = timeout_at(deadline, self.events.poll()).await {}
    }

    /// Polls the connection until a packet `want` accepts arrives (returned), or `deadline`.
    /// A refused or lost connection is tried again, 100 ms apart (a broker just started may
    /// refuse the first connects).
    async fn until(&mut self, deadline: Instant, want: impl Fn(&Packet) -> bool) -> Option<Packet> {
        loop {
            match timeout_at(deadline, self.events.poll()).await {
                Err(_) => return None,
                Ok(Ok(Event::Incoming(p))) if want(&p) => return Some(p),
                Ok(Ok(_)) => {}
                Ok(Err(_)) => {
                    let retry = (Instant::now() + Duration::from_millis(100)).min(deadline);
                    tokio::time::sleep_until(retry).await;
                    if Instant::now() >= deadline {
                        return None;
                    }
                }
            }
        }
    }
}
