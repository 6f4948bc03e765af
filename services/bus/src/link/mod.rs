//! The MQTT connection task of one part.
//!
//! One task owns rumqttc's event loop and does everything that depends on the connection's
//! state, so nothing races with a reconnect:
//! - delivers incoming publishes tagged with the connection's *epoch*; an ack is sent only if
//!   its epoch is still current (rumqttd drops a client that acks what it did not send);
//! - relays the outbox: publishes durable entries (QoS 1) in order, maps each to its packet
//!   id from rumqttc's `Outgoing::Publish` events (in submission order) and tells the relay of
//!   its PUBACK; a numbered entry then stays as the part's log ([`crate::log`]), any other is
//!   deleted;
//! - on every CONNACK drops rumqttc's own retransmission queue and stale buffered events,
//!   then publishes again every entry not PUBACKed yet, resubscribes and announces presence;
//! - answers replay requests (`replays/requests`) from the log: a consumer that saw a gap in a
//!   producer's numbers asks for the range, and one that connected without a session (a new
//!   broker) publishes what it has (`Extras::ask`), once subscribed again, so that every
//!   producer publishes again what it misses. Requests are coalesced (served together at most
//!   once per [`REPLAY_GAP`]) so a broker restart does not become a storm; consumers' inboxes
//!   turn the repeats into no-ops;
//! - owns the retained topics it publishes (presence, retained outbox entries): watches them
//!   and puts its value back when someone erases or overwrites it, and after every connect
//!   (`retained`).
//!
//! The poll future is never dropped half-way (rumqttc's writes are not cancel-safe): it is
//! pinned and polled alongside the command channel until it completes.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, LastWill, Outgoing, Packet, Publish, QoS,
    SubscribeFilter,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use milo_contracts::topics;

use crate::config::MqttConfig;
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::BusError;

mod presence;
mod relay;
mod replays;
mod retained;
use relay::Relay;
use retained::Owned;

/// Shortest time between two replays asked by other parts.
pub const REPLAY_GAP: Duration = Duration::from_secs(2);

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(3);

/// What a link needs.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// Stable client id (`milo-<part>`), so the broker keeps the session across reconnects.
    pub client_id: String,
    /// Broker settings.
    pub mqtt: MqttConfig,
    /// Filters to subscribe (QoS 1) after every connect.
    pub subscriptions: Vec<String>,
    /// Retained presence topic: `online` on connect, `offline` as last will and on shutdown.
    pub presence: Option<String>,
    /// Persistent session (services) or a clean one (probes, one-shot tools).
    pub clean_session: bool,
}

/// An incoming publish and the connection epoch it arrived on.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Connection epoch; acks from an older epoch are not sent.
    pub epoch: u64,
    /// The publish.
    pub publish: Publish,
}

/// Requests to the link task.
#[derive(Debug)]
pub enum LinkCommand {
    /// Ack this delivery (send in receive order).
    Ack(Delivery),
    /// Outbox entries up to this key are durable: publish them.
    Durable(u64),
    /// Publish without the outbox (QoS 1), e.g. a POS command or a probe.
    Publish {
        /// Topic.
        topic: String,
        /// Payload.
        payload: Vec<u8>,
    },
    /// Publish a retained state without the outbox (QoS 1): this link owns the topic from
    /// then on, and puts the value back if the broker loses it (`retained`).
    PublishState {
        /// Topic.
        topic: String,
        /// Payload.
        payload: Vec<u8>,
    },
}

/// Handle to a running link.
#[derive(Debug)]
pub struct Link {
    /// Incoming publishes.
    pub deliveries: mpsc::Receiver<Delivery>,
    /// Commands to the link.
    pub commands: mpsc::UnboundedSender<LinkCommand>,
    /// True while connected and subscribed.
    pub ready: watch::Receiver<bool>,
    /// The task; finishes after shutdown, once presence says `offline`.
    pub task: JoinHandle<()>,
}

/// What a part's links do besides publishing and subscribing (none for a tool's link).
#[derive(Default)]
pub struct Extras {
    /// The store whose outbox (and log) this link relays, and the part's name: the `source`
    /// of its numbered events, which it answers replay requests for.
    pub outbox: Option<(Store, String)>,
    /// Presence says `online` only while this is true (after each connect, as soon as it
    /// is): a part's publishing link waits for its subscribing link, so that nobody reacts to
    /// the part being online before its subscriptions exist (the broker drops a QoS 1 publish
    /// nobody is subscribed to). Nothing else waits for the gate.
    pub gate: Option<watch::Receiver<bool>>,
    /// The replay request this link publishes on `replays/requests` after it connected
    /// without a session (a persistent session's link only): what the part has, so every
    /// producer publishes again what it misses.
    pub ask: Option<Box<dyn Fn() -> Vec<u8> + Send>>,
}

/// Starts a link with nothing but its configuration.
pub fn spawn(config: LinkConfig, shutdown: Shutdown) -> Result<Link, BusError> {
    spawn_part(config, Extras::default(), shutdown)
}

/// Starts a part's link.
pub fn spawn_part(
    config: LinkConfig,
    extras: Extras,
    shutdown: Shutdown,
) -> Result<Link, BusError> {
    let Extras { outbox, gate, ask } = extras;
    let mut opts = config.mqtt.options(config.client_id.clone())?;
    opts.set_keep_alive(Duration::from_secs(config.mqtt.keep_alive_secs.max(1)))
        .set_clean_session(config.clean_session)
        .set_manual_acks(true)
        .set_inflight(u16::try_from(config.mqtt.window * 2 + 16).unwrap_or(u16::MAX))
        .set_max_packet_size(
            config.mqtt.max_payload + 4096,
            config.mqtt.max_payload + 4096,
        );
    if let (Some(user), Some(pass)) = (&config.mqtt.username, &config.mqtt.password) {
        opts.set_credentials(user.clone(), pass.expose().to_owned());
    }
    if let Some(topic) = &config.presence {
        opts.set_last_will(LastWill::new(
            topic.clone(),
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
    }
    let (client, mut eventloop) = AsyncClient::new(opts, 8192);
    // Small QoS 1 packets back and forth: Nagle plus delayed ACKs would add ~40 ms per hop.
    let mut network = eventloop.network_options();
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);
    let (deliveries_tx, deliveries) = mpsc::channel(1024);
    let (commands, commands_rx) = mpsc::unbounded_channel();
    let (ready_tx, ready) = watch::channel(false);
    let relay = outbox
        .map(|(store, name)| Relay::new(store, name))
        .transpose()?;
    let mut config = config;
    if relay.is_some() {
        config
            .subscriptions
            .push(topics::REPLAY_REQUESTS.to_owned());
    }
    let task = LinkTask {
        config,
        client,
        deliveries: deliveries_tx,
        ready: ready_tx,
        relay,
        epoch: 0,
        connected: false,
        acks: VecDeque::new(),
        direct: VecDeque::new(),
        owned: Owned::default(),
        fifo: VecDeque::new(),
        inflight: HashMap::new(),
        replays: Vec::new(),
        replay_at: None,
        last_replay: None,
        gate,
        ask,
        presence_due: false,
    };
    let task = tokio::spawn(task.run(eventloop, commands_rx, shutdown));
    Ok(Link {
        deliveries,
        commands,
        ready,
        task,
    })
}

struct LinkTask {
    config: LinkConfig,
    client: AsyncClient,
    deliveries: mpsc::Sender<Delivery>,
    ready: watch::Sender<bool>,
    relay: Option<Relay>,
    epoch: u64,
    connected: bool,
    acks: VecDeque<Publish>,
    /// Publishes without the outbox: topic, payload, retained.
    direct: VecDeque<(String, Vec<u8>, bool)>,
    /// The retained topics this link publishes, and what it last published on each.
    owned: Owned,
    /// Publishes submitted, waiting for their packet id: `Some(outbox key)` or `None`.
    fifo: VecDeque<Option<u64>>,
    /// Packet id → outbox key of publishes waiting for their PUBACK.
    inflight: HashMap<u16, Option<u64>>,
    /// What replay requests asked, waiting to be served together.
    replays: Vec<relay::Ask>,
    /// When they are served.
    replay_at: Option<Instant>,
    /// When requests were last served.
    last_replay: Option<Instant>,
    /// Presence says `online` only while this is true (none: at once).
    gate: Option<watch::Receiver<bool>>,
    /// Builds this link's replay request after a connect without a session.
    ask: Option<Box<dyn Fn() -> Vec<u8> + Send>>,
    /// Connected, and `online` not said yet on this connection.
    presence_due: bool,
}

enum Step {
    Event(Result<Event, ConnectionError>),
    Stop,
}

impl LinkTask {
    async fn run(
        mut self,
        mut eventloop: EventLoop,
        mut commands: mpsc::UnboundedReceiver<LinkCommand>,
        mut shutdown: Shutdown,
    ) {
        let mut backoff = MIN_BACKOFF;
        loop {
            let step = {
                let poll = eventloop.poll();
                tokio::pin!(poll);
                loop {
                    self.announce_when_open();
                    let replay = self.replay_at;
                    let mut gate = self.gate.clone().filter(|_| self.presence_due);
                    let restore = self.owned.next_due();
                    tokio::select! {
                        ev = &mut poll => break Step::Event(ev),
                        open = presence::gate_changed(&mut gate) => if !open {
                            // The gate's owner is gone: say it without waiting.
                            self.gate = None;
                        },
                        _ = sleep_until(replay), if replay.is_some() && self.connected => {
                            self.serve_replays();
                        }
                        _ = sleep_until(restore), if restore.is_some() && self.connected => {
                            self.restore_due();
                        }
                        cmd = commands.recv() => match cmd {
                            Some(cmd) => self.on_command(cmd),
                            None => break Step::Stop,
                        },
                        _ = shutdown.wait() => break Step::Stop,
                    }
                    self.pump();
                }
            };
            let event = match step {
                Step::Stop => break,
                Step::Event(ev) => ev,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    // Retransmissions and buffered events belong to the old connection: the
                    // outbox is the source of truth and is published again below.
                    eventloop.pending.clear();
                    eventloop.state.events.clear();
                    backoff = MIN_BACKOFF;
                    self.on_connected(ack.session_present);
                }
                Ok(Event::Incoming(Packet::Publish(publish)))
                    if publish.topic == topics::REPLAY_REQUESTS && self.relay.is_some() =>
                {
                    self.on_replay_request(&publish.payload);
                    self.acks.push_back(publish);
                }
                Ok(Event::Incoming(Packet::Publish(publish))) if self.watches(&publish.topic) => {
                    let now = Instant::now();
                    self.owned.seen(&publish.topic, &publish.payload, now);
                    self.acks.push_back(publish);
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let delivery = Delivery {
                        epoch: self.epoch,
                        publish,
                    };
                    if self.deliveries.send(delivery).await.is_err() {
                        break;
                    }
                }
                Ok(Event::Incoming(Packet::PubAck(ack))) => self.on_puback(ack.pkid),
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    self.ready.send_replace(true);
                }
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                    if let Some(key) = self.fifo.pop_front() {
                        self.inflight.insert(pkid, key);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    self.on_disconnected(&e);
                    if !self
                        .wait_backoff(backoff, &mut commands, &mut shutdown)
                        .await
                    {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            self.pump();
        }
        self.say_goodbye(&mut eventloop).await;
    }

    fn on_connected(&mut self, session_present: bool) {
        let client = [("client", self.config.client_id.clone())];
        metrics::counter!("milo_mqtt_connects_total", &client).increment(1);
        self.epoch += 1;
        self.connected = true;
        self.fifo.clear();
        self.inflight.clear();
        self.acks.clear();
        info!(client = %self.config.client_id, session_present, "Connected to the broker.");
        // The retained topics this link owns are watched too (see `retained`).
        let filters: Vec<SubscribeFilter> = (self.config.subscriptions.iter())
            .chain(self.config.presence.iter())
            .chain(self.owned.topics())
            .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce))
            .collect();
        if !filters.is_empty() {
            if let Err(e) = self.client.try_subscribe_many(filters) {
                warn!(error = %e, "Cannot subscribe; will retry on reconnect.");
            }
            // What the broker held for this session is gone (a new broker): ask every
            // producer for what we miss, after the SUBSCRIBE so the replayed events reach us.
            if let (false, false, Some(ask)) =
                (session_present, self.config.clean_session, &self.ask)
            {
                if self
                    .client
                    .try_publish(topics::REPLAY_REQUESTS, QoS::AtLeastOnce, false, ask())
                    .is_ok()
                {
                    self.fifo.push_back(None);
                }
            }
        } else {
            self.ready.send_replace(true);
        }
        self.presence_due = self.config.presence.is_some();
        self.republish_owned();
        self.announce_when_open();
        if let Some(relay) = &mut self.relay {
            relay.reload();
        }
    }

    fn on_disconnected(&mut self, e: &ConnectionError) {
        if self.connected {
            warn!(client = %self.config.client_id, error = %e, "Lost the broker; reconnecting.");
        } else {
            debug!(client = %self.config.client_id, error = %e, "Broker not reachable yet.");
        }
        self.connected = false;
        self.ready.send_replace(false);
        self.fifo.clear();
        self.inflight.clear();
        self.acks.clear();
    }

    fn on_puback(&mut self, pkid: u16) {
        if let Some(Some(key)) = self.inflight.remove(&pkid) {
            if let Some(relay) = &mut self.relay {
                relay.acked(key);
            }
        }
    }

    fn on_command(&mut self, cmd: LinkCommand) {
        match cmd {
            LinkCommand::Ack(d) if d.epoch == self.epoch && self.connected => {
                self.acks.push_back(d.publish)
            }
            // Acks for an older connection: the broker resends or has forgotten the message.
            LinkCommand::Ack(_) => {}
            LinkCommand::Durable(key) => {
                if let Some(relay) = &mut self.relay {
                    relay.durable(key, self.connected);
                }
            }
            LinkCommand::Publish { topic, payload } => {
                self.direct.push_back((topic, payload, false))
            }
            LinkCommand::PublishState { topic, payload } => {
                self.direct.push_back((topic, payload, true))
            }
        }
    }

    /// Sends what is waiting, as far as rumqttc's channel and the window allow.
    fn pump(&mut self) {
        if let Some(relay) = &mut self.relay {
            relay.tidy();
        }
        if !self.connected {
            return;
        }
        while let Some(p) = self.acks.front() {
            if self.client.try_ack(p).is_err() {
                break;
            }
            self.acks.pop_front();
        }
        let mut owned = Vec::new();
        while let Some((topic, payload, retain)) = self.direct.front() {
            let sent =
                self.client
                    .try_publish(topic.clone(), QoS::AtLeastOnce, *retain, payload.clone());
            if sent.is_err() {
                break;
            }
            self.fifo.push_back(None);
            if let Some((topic, payload, true)) = self.direct.pop_front() {
                owned.push((topic, payload));
            }
        }
        let Some(relay) = &mut self.relay else {
            for (topic, payload) in owned {
                self.own(&topic, &payload);
            }
            return;
        };
        while self.fifo.len() + self.inflight.len() < self.config.mqtt.window {
            let Some((key, entry)) = relay.queue.front() else {
                break;
            };
            let sent = self.client.try_publish(
                entry.topic.clone(),
                QoS::AtLeastOnce,
                entry.retain,
                entry.payload.clone(),
            );
            if sent.is_err() {
                break;
            }
            self.fifo.push_back(Some(*key));
            if let Some((_, entry)) = relay.queue.pop_front().filter(|(_, e)| e.retain) {
                owned.push((entry.topic, entry.payload));
            }
        }
        for (topic, payload) in owned {
            self.own(&topic, &payload);
        }
    }

    async fn wait_backoff(
        &mut self,
        backoff: Duration,
        commands: &mut mpsc::UnboundedReceiver<LinkCommand>,
        shutdown: &mut Shutdown,
    ) -> bool {
        let sleep = tokio::time::sleep(backoff);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return true,
                _ = shutdown.wait() => return false,
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => return false,
                },
            }
        }
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
