//! The sender: one broker connection that sends every queued order while the broker is
//! reachable (at once, after each reconnect, and again every `resend_secs` until the store
//! answers), hears the answers and every other update of the flow, and keeps the retained
//! `menu/availability`.
//!
//! Every send of an order is the same `orders/placed` event, byte for byte (made once when
//! the order was taken and kept in the queue): the order id is the idempotency key, so the
//! order service makes the order once and answers an exact repeat with the answer it
//! recorded. Only that answer takes an order out of the queue.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use milo_bus::link::{self, Delivery, LinkCommand, LinkConfig};
use milo_bus::{BusError, Commands, Shutdown};
use milo_contracts::counter::MenuAvailability;
use milo_contracts::payments::GatewayStatus;
use milo_contracts::{topics, Envelope, RawEnvelope};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::debug;
use uuid::Uuid;

use crate::queue::{QueueCommand, Queued};
use crate::update::{update_of, OrderUpdate};

/// How often the sender looks for orders due to be sent again.
const TICK: Duration = Duration::from_millis(200);

/// The orders waiting for an answer, and when each was last sent.
#[derive(Debug, Default)]
pub(crate) struct Book {
    pending: BTreeMap<Uuid, (Queued, Option<Instant>)>,
}

impl Book {
    /// Adds an order to send (a repeat keeps its send time).
    pub(crate) fn add(&mut self, queued: Queued) {
        self.pending
            .entry(queued.placed.order_id)
            .or_insert((queued, None));
    }

    /// The store answered `order_id`: true if it was waiting.
    pub(crate) fn answered(&mut self, order_id: Uuid) -> bool {
        self.pending.remove(&order_id).is_some()
    }

    /// A new connection: everything is due at once.
    pub(crate) fn reconnected(&mut self) {
        for (_, sent) in self.pending.values_mut() {
            *sent = None;
        }
    }

    /// Orders never sent, or last sent `every` ago or more; marked sent at `now`.
    pub(crate) fn due(&mut self, now: Instant, every: Duration) -> Vec<Queued> {
        let mut out = Vec::new();
        for (placed, sent) in self.pending.values_mut() {
            if sent.is_none_or(|at| now.duration_since(at) >= every) {
                *sent = Some(now);
                out.push(placed.clone());
            }
        }
        out
    }
}

/// What one incoming message means to the POS.
#[derive(Debug, PartialEq)]
pub(crate) enum Incoming {
    /// What the shop can sell now.
    Availability(MenuAvailability),
    /// Whether card payments work now.
    Cards(GatewayStatus),
    /// A status change of an order.
    Update(OrderUpdate),
    /// Nothing the POS shows.
    Nothing,
}

/// Reads one message. Availability is an envelope; plain JSON is read too.
pub(crate) fn read(topic: &str, payload: &[u8]) -> Incoming {
    let env = RawEnvelope::parse(payload);
    if topic == topics::MENU_AVAILABILITY {
        let avail = match &env {
            Ok(env) => env.decode::<MenuAvailability>().ok(),
            Err(_) => serde_json::from_slice(payload).ok(),
        };
        return avail.map_or(Incoming::Nothing, Incoming::Availability);
    }
    let Ok(env) = env else {
        return Incoming::Nothing;
    };
    if topic == topics::PAYMENTS_GATEWAY {
        return env
            .decode::<GatewayStatus>()
            .map_or(Incoming::Nothing, Incoming::Cards);
    }
    match update_of(&env) {
        Some(update) => Incoming::Update(OrderUpdate {
            order_id: env.correlation_id,
            update,
        }),
        None => Incoming::Nothing,
    }
}

/// Where the sender reports, and how it is fed.
pub(crate) struct Wiring {
    /// The queue service, told about answers.
    pub queue: Commands<QueueCommand>,
    /// Every update heard.
    pub updates: broadcast::Sender<OrderUpdate>,
    /// The latest availability.
    pub availability: Arc<watch::Sender<Option<MenuAvailability>>>,
    /// The latest card processor status.
    pub cards: Arc<watch::Sender<Option<GatewayStatus>>>,
    /// Orders newly queued (durable).
    pub added: mpsc::UnboundedReceiver<Queued>,
}

/// Starts the sender; returns its task and whether it is connected.
pub(crate) fn spawn(
    link: LinkConfig,
    book: Book,
    resend: Duration,
    source: String,
    wiring: Wiring,
    shutdown: Shutdown,
) -> Result<(JoinHandle<()>, watch::Receiver<bool>), BusError> {
    let link = link::spawn(link, shutdown.clone())?;
    let connected = link.ready.clone();
    let followed = book.pending.keys().copied().collect();
    let task = Sender {
        link,
        book,
        followed,
        resend,
        source,
        wiring,
    };
    Ok((tokio::spawn(task.run(shutdown)), connected))
}

struct Sender {
    link: link::Link,
    book: Book,
    /// Orders this POS took and has not seen done: the only ones whose updates it reports.
    followed: HashSet<Uuid>,
    resend: Duration,
    source: String,
    wiring: Wiring,
}

impl Sender {
    async fn run(mut self, mut shutdown: Shutdown) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut ready = self.link.ready.clone();
        loop {
            tokio::select! {
                _ = shutdown.wait() => break,
                d = self.link.deliveries.recv() => match d {
                    Some(d) => self.on_delivery(d).await,
                    None => break,
                },
                Some(queued) = self.wiring.added.recv() => {
                    self.followed.insert(queued.placed.order_id);
                    self.book.add(queued);
                }
                changed = ready.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    if *ready.borrow_and_update() {
                        self.book.reconnected();
                    }
                }
                _ = tick.tick() => {}
            }
            self.send_due();
        }
        drop(self.link.commands);
        let _ = self.link.task.await;
    }

    fn send_due(&mut self) {
        if !*self.link.ready.borrow() {
            return;
        }
        for queued in self.book.due(Instant::now(), self.resend) {
            let order_id = queued.placed.order_id;
            // The same bytes every time (older queue records have none: made once here).
            let payload = if queued.envelope.is_empty() {
                Envelope::new(&self.source, order_id, None, queued.placed).to_json()
            } else {
                queued.envelope.into_bytes()
            };
            debug!(%order_id, "Sending a queued order.");
            let _ = self.link.commands.send(LinkCommand::Publish {
                topic: topics::ORDERS_PLACED.into(),
                payload,
            });
        }
    }

    async fn on_delivery(&mut self, d: Delivery) {
        let incoming = read(&d.publish.topic, &d.publish.payload);
        let _ = self.link.commands.send(LinkCommand::Ack(d));
        match incoming {
            Incoming::Availability(a) => {
                self.wiring.availability.send_replace(Some(a));
            }
            Incoming::Cards(c) => {
                self.wiring.cards.send_replace(Some(c));
            }
            Incoming::Update(u) if self.followed.contains(&u.order_id) => {
                if u.update.is_final() {
                    self.followed.remove(&u.order_id);
                }
                if u.update.is_answer() && self.book.answered(u.order_id) {
                    let order_id = u.order_id;
                    self.wiring
                        .queue
                        .send(QueueCommand::Answered { order_id })
                        .await;
                }
                let _ = self.wiring.updates.send(u);
            }
            Incoming::Update(_) | Incoming::Nothing => {}
        }
    }
}

/// Filters of the sender: the order flow (but the requests POSes send), availability and
/// whether card payments work.
pub(crate) fn subscriptions() -> Vec<String> {
    let mut subs = crate::direct::flow_subscriptions();
    subs.push(topics::MENU_AVAILABILITY.to_owned());
    subs.push(topics::PAYMENTS_GATEWAY.to_owned());
    subs
}

#[cfg(test)]
mod tests;
