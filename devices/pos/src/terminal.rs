//! [`Pos`]: a running POS terminal: its durable queue, the queue service that writes it and
//! the sender that sends it, plus what the counter reads (updates, availability, whether
//! the store can be reached).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use milo_bus::link::LinkConfig;
use milo_bus::{BusError, Commands, MqttConfig, RunDeps, Shutdown, ShutdownTrigger, StoreConfig};
use milo_contracts::counter::MenuAvailability;
use milo_contracts::events::OrderPlaced;
use milo_contracts::payments::{BreakerState, GatewayStatus, PaymentMethod};
use milo_contracts::{topics, Envelope, Menu};
use time::OffsetDateTime;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::warn;
use uuid::Uuid;

use crate::queue::{self, QueueCommand, QueueDir, QueueService, Queued};
use crate::sender::{self, Book, Wiring};
use crate::update::OrderUpdate;
use crate::{Config, PosError, Request};

/// Everything a POS needs besides the shutdown.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `[pos]`.
    pub pos: Config,
    /// How to reach the broker.
    pub mqtt: MqttConfig,
    /// Tuning of the queue's store.
    pub store: StoreConfig,
    /// Where the queue lives (see [`Config::queue_path`]).
    pub queue_dir: PathBuf,
    /// The menu, to check orders against availability and to show.
    pub menu: Arc<Menu>,
}

/// A running POS terminal. Dropping it stops its tasks; [`Pos::close`] also waits for them.
#[derive(Debug)]
pub struct Pos {
    settings: Settings,
    queue_dir: QueueDir,
    queue: Commands<QueueCommand>,
    added: mpsc::UnboundedSender<Queued>,
    updates: broadcast::Sender<OrderUpdate>,
    availability: watch::Receiver<Option<MenuAvailability>>,
    cards: watch::Receiver<Option<GatewayStatus>>,
    connected: watch::Receiver<bool>,
    len: watch::Receiver<usize>,
    trigger: ShutdownTrigger,
    tasks: Vec<JoinHandle<()>>,
}

impl Pos {
    /// Opens the queue (waiting up to `lock_wait_secs` for another POS to let go of it),
    /// starts the queue service and the sender. Orders already queued are sent as soon as
    /// the broker is reachable.
    pub async fn open(settings: Settings, shutdown: Shutdown) -> Result<Pos, PosError> {
        let terminal = settings.pos.terminal.clone();
        if !valid_terminal(&terminal) {
            return Err(PosError::BadTerminal(terminal));
        }
        settings.mqtt.host_port()?;
        let wait = Duration::from_secs(settings.pos.lock_wait_secs);
        let queue_dir = queue::open(&settings.queue_dir, &settings.store, wait).await?;
        let queued = queue::list(&queue_dir.store)?;
        let (trigger, inner) = ShutdownTrigger::new();
        forward(shutdown, trigger.clone(), inner.clone());
        let (len_tx, len) = watch::channel(queued.len());
        let (runner, queue) = spawn_queue(&settings, &queue_dir, len_tx, inner.clone());
        let mut book = Book::default();
        queued.into_iter().for_each(|q| book.add(q));
        let (added, added_rx) = mpsc::unbounded_channel();
        let (updates, _) = broadcast::channel(1024);
        let (avail_tx, availability) = watch::channel(None);
        let (cards_tx, cards) = watch::channel(None);
        let wiring = Wiring {
            queue: queue.clone(),
            updates: updates.clone(),
            availability: Arc::new(avail_tx),
            cards: Arc::new(cards_tx),
            added: added_rx,
        };
        let link = LinkConfig {
            client_id: format!("milo-{terminal}-{}", Uuid::now_v7().simple()),
            mqtt: settings.mqtt.clone(),
            subscriptions: sender::subscriptions(),
            presence: None,
            clean_session: true,
        };
        let resend = Duration::from_secs(settings.pos.resend_secs.max(1));
        let (sender, connected) = sender::spawn(link, book, resend, terminal, wiring, inner)?;
        Ok(Pos {
            settings,
            queue_dir,
            queue,
            added,
            updates,
            availability,
            cards,
            connected,
            len,
            trigger,
            tasks: vec![runner, sender],
        })
    }

    /// Takes an order: refused with the shop's reason when availability is known and says
    /// it cannot be made; otherwise written to the queue (durable when this returns) and
    /// sent as soon as the broker is reachable. Subscribe to [`Pos::updates`] first to
    /// see every update.
    pub async fn take_order(&self, request: Request) -> Result<(), PosError> {
        if let Some(why) = self.refusal(&request) {
            return Err(PosError::Refused(why));
        }
        if let Some(why) = self.cards_refused(request.payment) {
            return Err(PosError::Refused(why.to_owned()));
        }
        let placed = OrderPlaced {
            order_id: request.order_id,
            items: request.items,
            customer: request.customer,
            payment: request.payment,
        };
        let envelope = Envelope::new(
            &self.settings.pos.terminal,
            placed.order_id,
            None,
            placed.clone(),
        )
        .to_json();
        let size = envelope.len();
        if size > self.settings.mqtt.max_payload {
            return Err(PosError::Bus(BusError::Oversized {
                topic: topics::ORDERS_PLACED.into(),
                size,
                limit: self.settings.mqtt.max_payload,
            }));
        }
        let entry = Queued {
            placed,
            queued_at: OffsetDateTime::now_utc(),
            envelope: String::from_utf8_lossy(&envelope).into_owned(),
        };
        let added = entry.clone();
        let (done, durable) = oneshot::channel();
        if !self.queue.send(QueueCommand::Add { entry, done }).await {
            return Err(PosError::Stopped);
        }
        durable.await.map_err(|_| PosError::Stopped)?;
        self.added.send(added).map_err(|_| PosError::Stopped)
    }

    /// Why the shop cannot sell `request` now, if availability is known and says so.
    pub fn refusal(&self, request: &Request) -> Option<String> {
        let avail = self.availability.borrow();
        avail.as_ref()?.refusal(&self.settings.menu, &request.items)
    }

    /// Every update heard from now on about the orders this POS took (in this run, or queued
    /// by an earlier one), until each is done; filter by `order_id`.
    pub fn updates(&self) -> broadcast::Receiver<OrderUpdate> {
        self.updates.subscribe()
    }

    /// The orders still waiting for the store's answer, oldest first.
    pub fn queued(&self) -> Result<Vec<Queued>, PosError> {
        Ok(queue::list(&self.queue_dir.store)?)
    }

    /// True while `order_id` waits in the queue.
    pub fn is_queued(&self, order_id: Uuid) -> Result<bool, PosError> {
        Ok(queue::contains(&self.queue_dir.store, order_id)?)
    }

    /// The number of queued orders, as it changes.
    pub fn queue_len(&self) -> watch::Receiver<usize> {
        self.len.clone()
    }

    /// Whether the broker is reachable (connected and subscribed), as it changes.
    pub fn connected(&self) -> watch::Receiver<bool> {
        self.connected.clone()
    }

    /// What the shop can sell, as last published; `None` until heard.
    pub fn availability(&self) -> Option<MenuAvailability> {
        self.availability.borrow().clone()
    }

    /// True if the payment service says card payments are offline now (its breaker is open
    /// or probing): the counter says so before the customer pays.
    pub fn cards_offline(&self) -> bool {
        let cards = self.cards.borrow();
        cards
            .as_ref()
            .is_some_and(|c| c.state != BreakerState::Closed)
    }

    /// What the counter says before the customer pays while card payments are offline (how,
    /// in queue mode: taken offline up to the limits), or `None` while they work.
    pub fn cards_note(&self) -> Option<String> {
        self.cards.borrow().as_ref()?.offline_note()
    }

    /// Waits up to `limit` to hear whether card payments work; true if offline.
    pub async fn wait_cards(&self, limit: Duration) -> bool {
        let mut c = self.cards.clone();
        let _ = tokio::time::timeout(limit, c.wait_for(Option::is_some)).await;
        self.cards_offline()
    }

    /// Why an order paid by `method` would be refused now (card while the store refuses card
    /// orders offline); `None` if it can be taken.
    pub fn cards_refused(&self, method: PaymentMethod) -> Option<&'static str> {
        let cards = self.cards.borrow();
        let status = cards.as_ref()?;
        (method == PaymentMethod::Card)
            .then(|| status.refuses_cards())
            .flatten()
    }

    /// Waits up to `limit` for the broker; true if reachable.
    pub async fn wait_connected(&self, limit: Duration) -> bool {
        let mut c = self.connected.clone();
        let up = tokio::time::timeout(limit, c.wait_for(|c| *c)).await;
        matches!(up, Ok(Ok(_)))
    }

    /// Waits up to `limit` for the shop's availability.
    pub async fn wait_availability(&self, limit: Duration) -> Option<MenuAvailability> {
        let mut a = self.availability.clone();
        let _ = tokio::time::timeout(limit, a.wait_for(Option::is_some)).await;
        self.availability()
    }

    /// The menu this POS sells from.
    pub fn menu(&self) -> &Menu {
        &self.settings.menu
    }

    /// Where the queue lives.
    pub fn queue_dir(&self) -> &Path {
        self.queue_dir.store.path()
    }

    /// Stops the POS and waits for its tasks; the queue stays on disk.
    pub async fn close(mut self) {
        self.trigger.trigger();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for Pos {
    fn drop(&mut self) {
        self.trigger.trigger();
    }
}

/// Runs the queue service over the queue's store (presence `services/<terminal>/status`).
fn spawn_queue(
    settings: &Settings,
    queue_dir: &QueueDir,
    len: watch::Sender<usize>,
    shutdown: Shutdown,
) -> (JoinHandle<()>, Commands<QueueCommand>) {
    let terminal = &settings.pos.terminal;
    let (mut deps, queue) = RunDeps::new(settings.mqtt.clone(), queue_dir.store.clone());
    deps.presence = Some(topics::service_status(terminal));
    let service = QueueService::new(terminal, Arc::new(len));
    let runner = tokio::spawn(async move {
        if let Err(e) = milo_bus::run(service, deps, shutdown).await {
            warn!(error = %e, "The POS queue stopped.");
        }
    });
    (runner, queue)
}

/// Fires `trigger` when `outer` fires; ends quietly when the POS stops first.
fn forward(mut outer: Shutdown, trigger: ShutdownTrigger, mut inner: Shutdown) {
    tokio::spawn(async move {
        tokio::select! {
            _ = outer.wait() => trigger.trigger(),
            _ = inner.wait() => {}
        }
    });
}

/// A terminal name fits in client ids and topics: letters, digits, `-` and `_`.
pub fn valid_terminal(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
