//! The queue through a real [`Pos`]: durable across a reopen, one process at a time, and an
//! order leaves it only on the store's answer (real embedded broker, no store).

use std::sync::Arc;
use std::time::Duration;

use milo_bus::link::{self, LinkCommand, LinkConfig};
use milo_bus::{MqttConfig, ShutdownTrigger, StoreConfig};
use milo_contracts::bar::OrderEta;
use milo_contracts::events::{OrderCreated, OrderLine, OrderReady, OrderRejected};
use milo_contracts::{topics, Envelope, Event, Menu, RawEnvelope};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::{Config, Pos, PosError, Request, Settings, Update};

const MENU: &str = r#"
    [ingredients]
    beans_g = "beans"
    [items.espresso]
    name = "Espresso"
    default_size = "single"
    [items.espresso.sizes.single]
    price_cents = 250
    recipe = { beans_g = 9 }
"#;

/// How long a test waits for something before it fails: a bound for a loaded machine, not a
/// speed claim; waits end when their condition holds.
const PATIENCE: Duration = Duration::from_secs(60);

/// A loopback port held (listening, never answering) while the listener lives: no other test
/// takes it, and a POS that connects hears nothing, as from a broker that is down.
fn held_port() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// The embedded broker on a free loopback port (another one if the port picked is taken
/// before the broker binds it).
fn broker() -> u16 {
    loop {
        let (picked, port) = held_port();
        drop(picked);
        let broker = milo_broker::BrokerConfig {
            listen: ([127, 0, 0, 1], port).into(),
            watchdog_secs: 0,
            ..Default::default()
        };
        match milo_broker::start(&broker, MqttConfig::default().max_payload) {
            Ok(_) => return port,
            Err(milo_broker::BrokerError::Listen { .. }) => continue,
            Err(e) => panic!("embedded broker: {e}"),
        }
    }
}

fn settings(dir: &std::path::Path, port: u16, lock_wait_secs: u64) -> Settings {
    Settings {
        pos: Config {
            resend_secs: 1,
            lock_wait_secs,
            ..Config::default()
        },
        mqtt: MqttConfig {
            address: format!("127.0.0.1:{port}"),
            ..MqttConfig::default()
        },
        store: StoreConfig::default(),
        queue_dir: dir.join("pos"),
        menu: Arc::new(Menu::from_toml(MENU).unwrap()),
    }
}

fn request(customer: &str) -> Request {
    Request {
        order_id: Uuid::now_v7(),
        items: vec![OrderLine {
            item: "espresso".into(),
            size: None,
            milk: None,
            qty: 1,
            modifiers: Vec::new(),
        }],
        customer: Some(customer.into()),
        payment: Default::default(),
    }
}

/// Waits up to [`PATIENCE`] for `cond`, checking every 20 ms.
async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !cond() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_orders_survive_a_reopen_and_one_process_owns_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let (_trigger, shutdown) = ShutdownTrigger::new();
    // Nothing answers on this port: the broker is down the whole time.
    let (_held, port) = held_port();
    let pos = Pos::open(settings(dir.path(), port, 0), shutdown.clone())
        .await
        .unwrap();
    let (a, b) = (request("Ada"), request("Bo"));
    pos.take_order(a.clone()).await.unwrap();
    pos.take_order(b.clone()).await.unwrap();
    assert_eq!(*pos.queue_len().borrow(), 2);
    assert!(!*pos.connected().borrow());

    let started = std::time::Instant::now();
    let second = Pos::open(settings(dir.path(), port, 0), shutdown.clone()).await;
    let Err(e @ PosError::QueueBusy { .. }) = second else {
        panic!("a second POS opened the same queue: {second:?}");
    };
    // At once, not after the 10 s a POS waits by default (a bound, with room for a slow
    // machine).
    assert!(started.elapsed() < Duration::from_secs(5), "it waited");
    let pid = format!("pid {}", std::process::id());
    let message = e.to_string();
    assert!(
        message.contains("in use by another milo pos") && message.contains(&pid),
        "{message}"
    );

    pos.close().await;
    // The closed queue's store is let go of a moment later (sled's flusher).
    let pos = Pos::open(settings(dir.path(), port, PATIENCE.as_secs()), shutdown)
        .await
        .unwrap();
    let queued: Vec<(Uuid, Vec<OrderLine>, Option<String>)> = pos
        .queued()
        .unwrap()
        .into_iter()
        .map(|q| (q.placed.order_id, q.placed.items, q.placed.customer))
        .collect();
    assert_eq!(
        queued,
        vec![
            (a.order_id, a.items, a.customer),
            (b.order_id, b.items, b.customer)
        ]
    );
    assert_eq!(*pos.queue_len().borrow(), 2);
    assert!(pos.is_queued(a.order_id).unwrap());
}

/// A test client on the broker: what is published on `orders/placed`, and a way to answer.
struct Store {
    placed: mpsc::UnboundedReceiver<RawEnvelope>,
    commands: mpsc::UnboundedSender<LinkCommand>,
}

impl Store {
    async fn start(mqtt: &MqttConfig, shutdown: milo_bus::Shutdown) -> Store {
        let config = LinkConfig {
            client_id: format!("test-store-{}", Uuid::now_v7().simple()),
            mqtt: mqtt.clone(),
            subscriptions: vec![topics::ORDERS_PLACED.into()],
            presence: None,
            clean_session: true,
        };
        let mut link = link::spawn(config, shutdown).unwrap();
        let mut ready = link.ready.clone();
        let up = tokio::time::timeout(PATIENCE, ready.wait_for(|r| *r)).await;
        assert!(matches!(up, Ok(Ok(_))), "test client could not subscribe");
        let (tx, placed) = mpsc::unbounded_channel();
        let commands = link.commands.clone();
        tokio::spawn(async move {
            while let Some(d) = link.deliveries.recv().await {
                if let Ok(env) = RawEnvelope::parse(&d.publish.payload) {
                    let _ = tx.send(env);
                }
                let _ = link.commands.send(LinkCommand::Ack(d));
            }
        });
        Store { placed, commands }
    }

    fn publish<E: Event>(&self, order_id: Uuid, data: E) {
        let payload = Envelope::new("order", order_id, None, data).to_json();
        let topic = E::TOPIC.to_owned();
        let _ = self.commands.send(LinkCommand::Publish { topic, payload });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_leaves_the_queue_only_on_the_stores_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (_trigger, shutdown) = ShutdownTrigger::new();
    let port = broker();
    let settings = settings(dir.path(), port, 0);
    let mut store = Store::start(&settings.mqtt, shutdown.clone()).await;
    let pos = Pos::open(settings, shutdown).await.unwrap();
    let mut updates = pos.updates();
    let (a, b) = (request("Ada"), request("Bo"));
    pos.take_order(a.clone()).await.unwrap();
    pos.take_order(b.clone()).await.unwrap();

    // Sent again, the very same event, while there is no answer.
    let mut sends_of_a = Vec::new();
    while sends_of_a.len() < 2 {
        let env = tokio::time::timeout(PATIENCE, store.placed.recv())
            .await
            .expect("the order sent again")
            .unwrap();
        if env.correlation_id == a.order_id {
            sends_of_a.push(env.id);
        }
    }
    assert_eq!(sends_of_a[0], sends_of_a[1], "a resend is the same event");

    // Other news about A is not an answer; B's rejection is, and comes after them.
    let eta = OrderEta {
        order_id: a.order_id,
        station: Some("bar-1".into()),
        position: 0,
        wait_secs: 40,
        ready_at: OffsetDateTime::now_utc(),
    };
    let ready = OrderReady {
        order_id: a.order_id,
        lines: Vec::new(),
        customer: None,
    };
    store.publish(a.order_id, eta);
    store.publish(a.order_id, ready);
    let reason = "unknown item".to_string();
    let rejected = OrderRejected {
        order_id: b.order_id,
        reason: reason.clone(),
    };
    store.publish(b.order_id, rejected);
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let u = tokio::time::timeout(PATIENCE, updates.recv()).await;
        seen.push(u.expect("every update heard").unwrap().update);
    }
    assert!(
        seen.iter()
            .any(|u| matches!(u, Update::Eta(e) if e.wait_secs == 40)),
        "{seen:?}"
    );
    assert!(seen.contains(&Update::Ready), "{seen:?}");
    assert!(seen.contains(&Update::Rejected { reason }), "{seen:?}");
    // Every change the sender asked of the queue is before this one, and durable with it.
    let c = request("Cy");
    pos.take_order(c.clone()).await.unwrap();
    let left: Vec<Uuid> = pos
        .queued()
        .unwrap()
        .iter()
        .map(|q| q.placed.order_id)
        .collect();
    assert_eq!(left, vec![a.order_id, c.order_id]);
    assert_eq!(*pos.queue_len().borrow(), 2);

    let created = OrderCreated {
        order_id: a.order_id,
        lines: Vec::new(),
        total_cents: 250,
        ingredients: Default::default(),
        customer: a.customer.clone(),
        payment: Default::default(),
    };
    store.publish(a.order_id, created);
    let mut len = pos.queue_len();
    assert!(
        eventually(|| *len.borrow_and_update() == 1).await,
        "A never left the queue"
    );
    assert!(!pos.is_queued(a.order_id).unwrap());
    assert!(pos.is_queued(c.order_id).unwrap());
}
