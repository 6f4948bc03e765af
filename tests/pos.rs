//! The POS terminal against a real store: orders taken while the broker is down wait in the
//! POS's disk queue and reach the store exactly once when it comes up, a restarted POS sends
//! what its queue holds, and `milo pos` (the real binary) orders, follows, syncs and hands
//! over at pickup.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use common::rig::{all_parts, Rig};
use milo::MiloConfig;
use milo_bus::{MqttConfig, ShutdownTrigger};
use milo_contracts::events::OrderLine;
use milo_contracts::{topics, RawEnvelope, SagaMode};
use milo_payment::{Transaction, TxnState};
use milo_pos::{Pos, Request, Settings};
use milo_testkit::{config_file, eventually, free_port, HeldPort, Observer, PATIENCE};
use uuid::Uuid;

const MILO: &str = env!("CARGO_BIN_EXE_milo");
const MODE: SagaMode = SagaMode::Choreography;

/// A POS on `queue_dir` for the broker at `port`, sending again every second.
fn pos_settings(queue_dir: &Path, port: u16) -> Settings {
    let config = milo_testkit::config(&queue_dir.join("config"));
    let mut pos = config.pos.clone();
    pos.resend_secs = 1;
    Settings {
        pos,
        mqtt: MqttConfig {
            address: format!("127.0.0.1:{port}"),
            ..milo_testkit::mqtt_as(&config, &config.pos.terminal)
        },
        store: config.store.clone(),
        queue_dir: queue_dir.join("pos"),
        menu: Arc::new(config.menu().unwrap()),
    }
}

/// Points the store at the broker port the POS was given.
fn on_port(port: u16) -> impl FnOnce(&mut MiloConfig) {
    move |c: &mut MiloConfig| {
        c.mqtt.address = format!("127.0.0.1:{port}");
        c.broker.listen = ([127, 0, 0, 1], port).into();
    }
}

fn order(item: &str, milk: Option<&str>, mods: &[&str], customer: &str) -> Request {
    Request {
        order_id: Uuid::now_v7(),
        items: vec![OrderLine {
            item: item.into(),
            size: None,
            milk: milk.map(Into::into),
            qty: 1,
            modifiers: mods.iter().map(|m| m.to_string()).collect(),
        }],
        customer: Some(customer.into()),
        payment: Default::default(),
    }
}

fn five_orders() -> Vec<Request> {
    vec![
        order("latte", Some("oat"), &["vanilla"], "Ada"),
        order("cappuccino", None, &[], "Bo"),
        order("espresso", None, &["extra_shot"], "Cy"),
        order("americano", None, &["iced"], "Di"),
        order("flat_white", Some("skim"), &[], "Ed"),
    ]
}

/// Distinct event ids seen on `topic` for `order_id`.
fn event_ids(watch: &Observer, topic: &str, order_id: Uuid) -> BTreeSet<Uuid> {
    watch
        .on(topic)
        .iter()
        .filter_map(|p| RawEnvelope::parse(p).ok())
        .filter(|e| e.correlation_id == order_id)
        .map(|e| e.id)
        .collect()
}

/// Distinct `orders/created` answering a placement for `order_id` (a repeat is answered with
/// the same event; the order service asking payment or stock again publishes a new one, with
/// no cause, whenever they are slow to answer).
fn creations(watch: &Observer, order_id: Uuid) -> BTreeSet<Uuid> {
    watch
        .on(topics::ORDERS_CREATED)
        .iter()
        .filter_map(|p| RawEnvelope::parse(p).ok())
        .filter(|e| e.correlation_id == order_id && e.causation_id.is_some())
        .map(|e| e.id)
        .collect()
}

/// Waits until every order is prepared and the POS's queue is empty; then checks each order
/// exists once: one `orders/created`, one charge, one `payments/completed`, `GET` 200.
async fn assert_each_made_once(rig: &Rig, pos: &Pos, watch: &Observer, ids: &[Uuid]) {
    for id in ids {
        rig.wait_status(*id, "prepared").await;
    }
    let mut len = pos.queue_len();
    let emptied = eventually(PATIENCE, || {
        std::future::ready(*len.borrow_and_update() == 0)
    })
    .await;
    assert!(emptied, "queue never emptied: {:?}", pos.queued().unwrap());
    assert!(pos.queued().unwrap().is_empty());
    // The observer hears the events on its own, apart from the order's HTTP status.
    let heard = eventually(PATIENCE, || {
        std::future::ready(ids.iter().all(|id| {
            !creations(watch, *id).is_empty()
                && !event_ids(watch, topics::PAYMENTS_COMPLETED, *id).is_empty()
        }))
    })
    .await;
    assert!(heard, "orders/created or payments/completed never heard");
    let payment = rig.store("payment");
    let charges: Vec<(String, Transaction)> = payment.scan("txn/", None, 100).unwrap();
    assert_eq!(charges.len(), ids.len(), "one transaction per order");
    for id in ids {
        assert_eq!(creations(watch, *id).len(), 1, "order {id}");
        assert_eq!(
            event_ids(watch, topics::PAYMENTS_COMPLETED, *id).len(),
            1,
            "order {id}"
        );
        let txn: Transaction = payment.get(&format!("txn/{id}")).unwrap().unwrap();
        assert_eq!(txn.state, TxnState::Charged, "order {id}");
        let path = format!("/orders/{id}");
        let (code, body) = milo::http::client::get(rig.http("order"), &path)
            .await
            .unwrap();
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["status"], "prepared", "{body}");
    }
}

/// Starts the store on `port`, with an observer subscribed before any service runs, so it
/// sees every event the services publish.
async fn store_with_observer(port: u16) -> (Rig, Observer) {
    let mut rig = Rig::start(MODE, &[], on_port(port)).await;
    let watch = Observer::start(&rig.config.mqtt, &["orders/#", "payments/#"]).await;
    for part in all_parts(MODE) {
        rig.up(part).await;
    }
    (rig, watch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_taken_with_the_broker_down_reach_the_store_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing answers on this port until the store starts (held: no other test takes it).
    let held = HeldPort::new();
    let port = held.port();
    let (_trigger, shutdown) = ShutdownTrigger::new();
    let pos = Pos::open(pos_settings(dir.path(), port), shutdown)
        .await
        .unwrap();
    let orders = five_orders();
    let ids: Vec<Uuid> = orders.iter().map(|o| o.order_id).collect();
    for o in orders {
        pos.take_order(o).await.unwrap();
    }
    let queued: Vec<Uuid> = pos
        .queued()
        .unwrap()
        .iter()
        .map(|q| q.placed.order_id)
        .collect();
    assert_eq!(queued, ids, "every order waits in the disk queue");
    assert!(!*pos.connected().borrow());

    held.release();
    let (rig, watch) = store_with_observer(port).await;
    assert_each_made_once(&rig, &pos, &watch, &ids).await;
    // Sent at least once each, maybe more: still one order each.
    for id in &ids {
        assert!(!event_ids(&watch, topics::ORDERS_PLACED, *id).is_empty());
    }
    pos.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_pos_sends_the_orders_its_queue_holds() {
    let dir = tempfile::tempdir().unwrap();
    let held = HeldPort::new();
    let port = held.port();
    let (_trigger, shutdown) = ShutdownTrigger::new();
    let first = Pos::open(pos_settings(dir.path(), port), shutdown.clone())
        .await
        .unwrap();
    let orders = five_orders();
    let ids: Vec<Uuid> = orders.iter().take(2).map(|o| o.order_id).collect();
    for o in orders.into_iter().take(2) {
        first.take_order(o).await.unwrap();
    }
    let queued: Vec<Uuid> = first
        .queued()
        .unwrap()
        .iter()
        .map(|q| q.placed.order_id)
        .collect();
    assert_eq!(queued, ids);
    // Gone without closing: its tasks stop on their own while the store starts.
    drop(first);

    held.release();
    let (rig, watch) = store_with_observer(port).await;
    let pos = Pos::open(pos_settings(dir.path(), port), shutdown)
        .await
        .unwrap();
    assert_each_made_once(&rig, &pos, &watch, &ids).await;
    pos.close().await;
}

/// Runs `milo --config FILE pos ARGS…` off the runtime's threads.
async fn milo_pos(config: &Path, args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(MILO);
    cmd.arg("--config").arg(config).arg("pos").args(args);
    let out: Output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn port_of(mqtt: &MqttConfig) -> u16 {
    mqtt.host_port().unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn milo_pos_orders_shows_the_eta_and_hands_over_at_pickup() {
    let rig = Rig::full(MODE, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), port_of(&rig.config.mqtt), free_port());
    let watch = Observer::start(&rig.config.mqtt, &[topics::ORDERS_COLLECTED]).await;

    let (code, out) = milo_pos(&config, &["order", "latte", "--customer", "Ada"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("estimated ready "), "no ETA line: {out}");
    assert!(out.contains("prepared at bar-1"), "{out}");
    let id: Uuid = out
        .lines()
        .find_map(|l| l.strip_prefix("order "))
        .and_then(|id| id.trim().parse().ok())
        .unwrap_or_else(|| panic!("no order id in {out}"));
    rig.wait_status(id, "prepared").await;

    let (code, out) = milo_pos(&config, &["pickup", &id.to_string()]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("order {id} collected")), "{out}");
    let collected = eventually(PATIENCE, || {
        std::future::ready(!event_ids(&watch, topics::ORDERS_COLLECTED, id).is_empty())
    })
    .await;
    assert!(collected, "no orders/collected for {id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn milo_pos_keeps_an_order_while_the_store_is_down_and_syncs_it_later() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing answers on this port until the store starts (held: no other test takes it).
    let held = HeldPort::new();
    let port = held.port();
    let config = config_file(dir.path(), port, free_port());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[pos]\ntimeout_secs = 3\nresend_secs = 1\n");
    std::fs::write(&config, text).unwrap();

    let (code, out) = milo_pos(&config, &["order", "mocha", "--customer", "Flo"]).await;
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("store unreachable: 1 order queued"), "{out}");
    let kept = "is kept in the queue (";
    assert!(out.contains(kept), "{out}");
    assert!(
        out.contains("will be sent by the next `milo pos` run"),
        "{out}"
    );
    let (code, out) = milo_pos(&config, &["queue"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("1 queued"), "{out}");
    assert!(out.contains("Flo  1 × Mocha"), "{out}");
    let id: Uuid = out
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();

    held.release();
    let rig = Rig::full(MODE, on_port(port)).await;
    // Syncing waits for the store's answer: as long as by default, not the 3 s above.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("timeout_secs = 3\n", "")).unwrap();
    let (code, out) = milo_pos(&config, &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("order {id}: created")), "{out}");
    assert!(out.contains("queue empty"), "{out}");
    rig.wait_status(id, "prepared").await;
    let (code, out) = milo_pos(&config, &["queue"]).await;
    assert_eq!((code, out.starts_with("0 queued")), (0, true), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_the_shop_cannot_make_is_refused_before_it_is_queued() {
    let rig = Rig::full(MODE, |c| {
        c.inventory.stock.insert("cocoa_g".into(), 10);
        // No periodic republish during the test: a fresh store publishes its availability as
        // soon as inventory starts, with no stock change needed.
        c.inventory.republish_secs = 3600;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let port = port_of(&rig.config.mqtt);
    let (_trigger, shutdown) = ShutdownTrigger::new();
    let pos = Pos::open(pos_settings(dir.path(), port), shutdown)
        .await
        .unwrap();
    let avail = pos
        // At start, not republish_secs later (a bound far below an hour, not a speed claim).
        .wait_availability(PATIENCE)
        .await
        .expect("a fresh store's retained menu/availability, long before a republish");
    assert!(!avail.items["mocha"].available, "{avail:?}");
    let mocha = order("mocha", None, &[], "Gus");
    let expected = avail.refusal(pos.menu(), &mocha.items).expect("no cocoa");
    match pos.take_order(mocha.clone()).await {
        Err(milo_pos::PosError::Refused(why)) => assert_eq!(why, expected),
        other => panic!("a mocha without cocoa was taken: {other:?}"),
    }
    assert!(pos.queued().unwrap().is_empty());
    pos.close().await;

    let config = config_file(dir.path(), port, free_port());
    let (code, out) = milo_pos(&config, &["order", "mocha", "--customer", "Gus"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("refused: {expected}")), "{out}");
    let (code, out) = milo_pos(&config, &["queue"]).await;
    assert_eq!((code, out.starts_with("0 queued")), (0, true), "{out}");
}

/// A `milo` config file for the store's broker, the POS giving up after [`PATIENCE`] (below
/// the default 120 s: a POS left without an answer fails the test).
fn impatient_config(dir: &Path, rig: &Rig) -> std::path::PathBuf {
    let config = config_file(dir, port_of(&rig.config.mqtt), free_port());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("[pos]\ntimeout_secs = {}\n", PATIENCE.as_secs()));
    std::fs::write(&config, text).unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn milo_pos_cancel_answers_at_once_with_a_clear_exit_code() {
    // No barista device: the order waits at the bar until it is withdrawn.
    let parts: Vec<&str> = all_parts(MODE)
        .into_iter()
        .filter(|p| *p != "device")
        .collect();
    let rig = Rig::start(MODE, &parts, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let config = impatient_config(dir.path(), &rig);

    let unknown = Uuid::now_v7().to_string();
    let (code, out) = milo_pos(&config, &["cancel", &unknown]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("cancellation refused: unknown order"), "{out}");

    let id = rig.place(r#"[{"item":"espresso"}]"#, None).await;
    rig.wait_status(id, "ready").await;
    let (code, first) = milo_pos(&config, &["cancel", &id.to_string()]).await;
    assert_eq!(code, 0, "{first}");
    assert!(
        first.contains("canceled: canceled by the customer"),
        "{first}"
    );
    rig.wait_status(id, "canceled").await;
    // Asked again: the same outcome, at once.
    let (code, again) = milo_pos(&config, &["cancel", &id.to_string()]).await;
    assert_eq!(code, 0, "{again}");
    assert_eq!(again.lines().last(), first.lines().last(), "{again}");
}

/// `milo pos order --order-id ID` for an order already made: prepared, exit 0, one drink.
async fn a_prepared_order_placed_again_is_reported_prepared(mode: SagaMode) {
    let rig = Rig::full(mode, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let config = impatient_config(dir.path(), &rig);
    let id = Uuid::now_v7();
    let args = ["order", "espresso", "--order-id", &id.to_string()];
    let (code, out) = milo_pos(&config, &args).await;
    assert_eq!(code, 0, "{out}");
    rig.wait_status(id, "prepared").await;

    let (code, out) = milo_pos(&config, &args).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("prepared at bar-1"), "{out}");
    let jobs: Vec<(String, serde_json::Value)> =
        rig.store("device").scan("job/", None, 10).unwrap();
    assert_eq!(jobs.len(), 1, "brewed more than once");
    assert_eq!(rig.order(id).await["status"], "prepared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_prepared_order_placed_again_is_reported_prepared_in_choreography() {
    a_prepared_order_placed_again_is_reported_prepared(SagaMode::Choreography).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_prepared_order_placed_again_is_reported_prepared_in_orchestration() {
    a_prepared_order_placed_again_is_reported_prepared(SagaMode::Orchestration).await;
}
