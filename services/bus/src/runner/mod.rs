//! The [`Service`] trait and [`run`], the group-commit loop every part runs.
//!
//! Each turn takes every message and command in hand (up to [`MAX_GROUP`]), applies each one's
//! [`Tx`] atomically, makes the whole group durable with one `sync`, then acks the messages in
//! the order received, hands the new outbox entries to the relay, and runs the after-commit
//! actions. A crash before the `sync` acks nothing: the broker (or an end-to-end retry)
//! delivers again and the inbox turns repeats into no-ops.

use milo_contracts::{topics, DecodeError, RawEnvelope};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info};

use crate::link::{self, Extras, LinkCommand, LinkConfig};
use crate::shutdown::Shutdown;
use crate::store::{Store, StoreError};
use crate::tx::Tx;

mod group;
pub mod hooks;
pub mod marks;
mod meters;
mod requests;
pub mod rerun;
use crate::{BusError, MqttConfig};
use group::Group;
use marks::Marks;

/// Sleeps until `at`, or forever without one.
async fn sleep_until(at: Option<std::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Attempts of a handler that fails on the store before its message is dead-lettered.
pub const HANDLER_ATTEMPTS: u32 = 3;

/// Most messages and commands handled in one group commit.
pub const MAX_GROUP: usize = 512;

/// Why a service refuses a message: it goes to the dead-letter store with this reason.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// The payload does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Decodes, but makes no sense (e.g. a ticket for another station).
    #[error("{0}")]
    Invalid(String),
    /// The effect would publish something the broker refuses.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The local store failed: not the message's fault; the service stops and is restarted.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A part of the store: subscriptions and handlers, run by [`run`].
pub trait Service: Send + 'static {
    /// Local requests (HTTP, gateway results, device work done).
    type Command: Send + 'static;

    /// Service name: client id `milo-<name>`, presence, dead-letter topics.
    fn name(&self) -> String;

    /// Filters to subscribe to.
    fn subscriptions(&self) -> Vec<String>;

    /// Topics whose payloads are plain text, not envelopes (presence).
    fn is_raw(&self, _topic: &str) -> bool {
        false
    }

    /// Handles a plain-text message.
    fn on_raw(&mut self, _tx: &mut Tx, _topic: &str, _payload: &[u8]) -> Result<(), Rejection> {
        Ok(())
    }

    /// Handles one event (never a repeat: the inbox filters those).
    fn on_event(&mut self, tx: &mut Tx, topic: &str, event: &RawEnvelope) -> Result<(), Rejection>;

    /// Handles one local command.
    fn on_command(&mut self, _tx: &mut Tx, _cmd: Self::Command) -> Result<(), Rejection> {
        Ok(())
    }

    /// How long to wait for more messages once one arrives, to make bigger groups (fewer
    /// fsyncs). Zero for services on an order's critical path.
    fn linger(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// Called once before connecting: resume work recorded in the store.
    fn on_start(
        &mut self,
        _store: &Store,
        _commands: &Commands<Self::Command>,
    ) -> Result<(), Rejection> {
        Ok(())
    }
}

/// Sender of local commands to a running service.
#[derive(Debug)]
pub struct Commands<C>(mpsc::Sender<C>);

impl<C> Clone for Commands<C> {
    fn clone(&self) -> Self {
        Commands(self.0.clone())
    }
}

impl<C: Send + 'static> Commands<C> {
    /// A command channel: the sender for callers, the receiver for [`RunDeps`].
    pub fn channel() -> (Commands<C>, mpsc::Receiver<C>) {
        let (tx, rx) = mpsc::channel(1024);
        (Commands(tx), rx)
    }
    /// Sends a command; false if the service has stopped.
    pub async fn send(&self, cmd: C) -> bool {
        self.0.send(cmd).await.is_ok()
    }
    /// Resolves once the service has stopped (its receiver is gone): a helper task waiting
    /// on something else ends with it.
    pub async fn stopped(&self) {
        self.0.closed().await
    }
}

/// What [`run`] needs besides the service.
pub struct RunDeps<C> {
    /// Broker settings.
    pub mqtt: MqttConfig,
    /// The service's own store.
    pub store: Store,
    /// Sender side of the command channel (kept open, and handed to `on_start`).
    pub commands: Commands<C>,
    /// Receiver side of the command channel.
    pub command_rx: mpsc::Receiver<C>,
    /// Presence topic; `services/<name>/status` when `None`.
    pub presence: Option<String>,
    /// Set true once connected and subscribed.
    pub ready: Option<watch::Sender<bool>>,
}

impl<C: Send + 'static> RunDeps<C> {
    /// Deps with a fresh command channel; also returns a sender for callers (HTTP...).
    pub fn new(mqtt: MqttConfig, store: Store) -> (RunDeps<C>, Commands<C>) {
        let (commands, command_rx) = Commands::channel();
        let deps = RunDeps {
            mqtt,
            store,
            commands: commands.clone(),
            command_rx,
            presence: None,
            ready: None,
        };
        (deps, commands)
    }
}

/// Runs a service until `shutdown`.
pub async fn run<S: Service>(
    mut service: S,
    deps: RunDeps<S::Command>,
    mut shutdown: Shutdown,
) -> Result<(), Rejection> {
    let name = service.name();
    let RunDeps {
        mqtt,
        store,
        commands,
        mut command_rx,
        presence,
        ready,
    } = deps;
    service.on_start(&store, &commands)?;
    let marks = Marks::load(&store)?;
    // What this part asks producers for after a session loss: everything after its marks
    // on the topics it reads.
    let filters = service.subscriptions();
    // Every part answers the operator's dead-letter requests (`milo dlq` while it runs), and
    // hears a producer say that events it asked for are gone.
    let mut subscriptions = service.subscriptions();
    subscriptions.push(topics::dead_letter_requests(&name));
    subscriptions.push(topics::REPLAY_UNAVAILABLE.to_owned());
    // Dead letters queued for replay (`milo dlq replay`) go first, before any link exists:
    // their outbox entries are then published at the first connect like any other.
    {
        let mut group = Group::new(&name, &store, mqtt.max_payload, marks.clone());
        if group.replays(&mut service)? > 0 {
            group.write_marks();
            if let Some(batch) = group.overlay.take_batch() {
                store.apply(batch)?;
            }
            store.sync()?;
            for f in group.after.drain(..) {
                f();
            }
        }
    }
    // Two connections: one only publishes (outbox, presence), one only subscribes. On a
    // shared one, the broker's PUBACK followed by a publish to us is held back by Nagle until
    // our delayed ACK (~40 ms per hop); neither rumqttd nor mosquitto sets TCP_NODELAY.
    let ask = {
        let (marks, name) = (marks.clone(), name.clone());
        move || marks.session_request(&name, &filters).to_json()
    };
    let mut link = link::spawn_part(
        LinkConfig {
            client_id: format!("milo-{name}"),
            mqtt: mqtt.clone(),
            subscriptions,
            presence: None,
            clean_session: false,
        },
        Extras {
            ask: Some(Box::new(ask)),
            ..Extras::default()
        },
        shutdown.clone(),
    )?;
    // Presence says `online` only while this part is subscribed: a part reacting to it (the
    // barista service handing a station the tickets waiting for it) must not publish to a
    // subscription that does not exist yet.
    let publisher = link::spawn_part(
        LinkConfig {
            client_id: format!("milo-{name}-out"),
            mqtt: mqtt.clone(),
            subscriptions: Vec::new(),
            presence: Some(presence.unwrap_or_else(|| topics::service_status(&name))),
            clean_session: true,
        },
        Extras {
            outbox: Some((store.clone(), name.clone())),
            gate: Some(link.ready.clone()),
            ask: None,
        },
        shutdown.clone(),
    )?;
    if let Some(ready) = ready {
        let (mut a, mut b) = (link.ready.clone(), publisher.ready.clone());
        tokio::spawn(async move {
            loop {
                ready.send_replace(*a.borrow_and_update() && *b.borrow_and_update());
                tokio::select! {
                    r = a.changed() => if r.is_err() { break },
                    r = b.changed() => if r.is_err() { break },
                }
            }
        });
    }
    let mut group = Group::new(&name, &store, mqtt.max_payload, marks.clone());
    let (mut deliveries, mut cmds) = (Vec::new(), Vec::new());
    loop {
        let gap_due = marks.next_due();
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            d = link.deliveries.recv() => match d {
                Some(d) => deliveries.push(d),
                None => break,
            },
            Some(c) = command_rx.recv() => cmds.push(c),
            _ = sleep_until(gap_due), if gap_due.is_some() => {
                // A gap in a producer's numbers that nothing filled: ask for the range.
                if let Some(ask) = marks.due_request(&name, std::time::Instant::now()) {
                    info!(service = %name, ranges = ask.ranges.len(), "Asking producers for missed events.");
                    let _ = publisher.commands.send(LinkCommand::Publish {
                        topic: topics::REPLAY_REQUESTS.to_owned(),
                        payload: ask.to_json(),
                    });
                }
                continue;
            }
        }
        let linger = tokio::time::sleep(service.linger());
        tokio::pin!(linger);
        while deliveries.len() < MAX_GROUP {
            match link.deliveries.try_recv() {
                Ok(d) => deliveries.push(d),
                Err(_) if linger.is_elapsed() => break,
                Err(_) => tokio::select! {
                    _ = &mut linger => {}
                    d = link.deliveries.recv() => match d {
                        Some(d) => deliveries.push(d),
                        None => break,
                    },
                },
            }
        }
        while cmds.len() < MAX_GROUP {
            match command_rx.try_recv() {
                Ok(c) => cmds.push(c),
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        for d in &deliveries {
            debug!(service = %name, topic = %d.publish.topic, "Delivery.");
            group.delivery(&mut service, d)?;
        }
        let m = cmds.len();
        for c in cmds.drain(..) {
            group.command(&mut service, c)?;
        }
        let n = deliveries.len();
        // The disk work blocks for a while: keep it off the runtime's worker threads. A group
        // that wrote nothing (repeats, idle timer ticks) has nothing to make durable.
        group.write_marks();
        let batch = group.overlay.take_batch();
        group.meters.group_size.record((n + m) as f64);
        group.meters.backlog.set(link.deliveries.len() as f64);
        if batch.is_some() || group.flushed {
            let synced = std::time::Instant::now();
            let s = store.clone();
            tokio::task::spawn_blocking(move || {
                if let Some(batch) = batch {
                    s.apply(batch)?;
                }
                s.sync()
            })
            .await
            .map_err(|e| StoreError::Io {
                path: store.path().to_owned(),
                error: std::io::Error::other(e.to_string()),
            })??;
            group
                .meters
                .commit_seconds
                .record(synced.elapsed().as_secs_f64());
        }
        group.finish(&publisher.commands, &link.commands, deliveries.drain(..));
        debug!(service = %name, deliveries = n, commands = m, took = ?started.elapsed(), "Group committed.");
    }
    drop(link.commands);
    drop(publisher.commands);
    let _ = link.task.await;
    let _ = publisher.task.await;
    Ok(())
}
