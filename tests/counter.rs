//! The counter, end to end on a real broker with every part in-process: 86'ing (what inventory
//! says the shop can sell, held to by the order service; low-stock alerts; restocking with the
//! real `milo inventory` binary; waste), the customer pickup board, and a repeated
//! `orders/placed` answered with the recorded event.

mod common;

use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{line, open_with, placed_payload, TestShop};
use milo_barista_device::{remote, Job, JobState};
use milo_contracts::bar::DeviceCommand;
use milo_contracts::bar::TicketReturned;
use milo_contracts::counter::{
    MenuAvailability, OrderCollected, RestockRequested, StockLevel, StockLow, StockRestocked,
};
use milo_contracts::dead_letters::OPERATOR;
use milo_contracts::events::{Ingredients, OrderRejected, PickupBoard};
use milo_contracts::{topics, Envelope, Event, RawEnvelope};
use milo_pos::Update;
use milo_testkit::{eventually, mqtt_as, Observer, PATIENCE};
use serde_json::Value;
use uuid::Uuid;

const MILO: &str = env!("CARGO_BIN_EXE_milo");
const LIMIT: Duration = PATIENCE;
const OAT_LATTE: &str = r#"{"items":[{"item":"latte","milk":"oat"}],"customer":"Ana"}"#;

/// Every event of type `E` seen on its topic, with its envelope, oldest first.
fn seen<E: Event>(watch: &Observer) -> Vec<(RawEnvelope, E)> {
    watch
        .on(E::TOPIC)
        .iter()
        .filter_map(|p| RawEnvelope::parse(p).ok())
        .filter_map(|env| env.decode::<E>().ok().map(|e| (env, e)))
        .collect()
}

/// The last event of type `E` seen (retained topics: the current state).
fn latest<E: Event>(watch: &Observer) -> Option<E> {
    seen::<E>(watch).pop().map(|(_, e)| e)
}

/// Waits ([`LIMIT`] at most) until `probe` finds something; returns it.
async fn wait_for<T>(what: &str, probe: impl Fn() -> Option<T>) -> T {
    let found = Mutex::new(None);
    let ok = eventually(LIMIT, || {
        let hit = probe();
        let done = hit.is_some();
        *found.lock().unwrap() = hit;
        std::future::ready(done)
    })
    .await;
    assert!(ok, "never saw {what}");
    found.into_inner().unwrap().unwrap()
}

/// POSTs `body` to /orders until it answers `code` (the order service hears availability a
/// moment after the observer does); returns the answer.
async fn post_until(t: &TestShop, body: &str, code: u16) -> Value {
    let last = Mutex::new((0, Value::Null));
    let ok = eventually(LIMIT, || async {
        let answer = t.post("/orders", body).await;
        let done = answer.0 == code;
        *last.lock().unwrap() = answer;
        done
    })
    .await;
    let (got, body) = last.into_inner().unwrap();
    assert!(ok, "POST /orders never answered {code}; last {got} {body}");
    body
}

/// Runs the real `milo` binary against this store's broker.
async fn milo(t: &TestShop, args: &[&str]) -> Output {
    let mqtt = t.config.mqtt.address.clone();
    let port: u16 = mqtt.rsplit(':').next().unwrap().parse().unwrap();
    let file = milo_testkit::config_file(&t._dir.path().join("cli"), port, 0);
    let mut cmd = Command::new(MILO);
    cmd.arg("--config")
        .arg(file)
        .args(args)
        .args(["--mqtt", &mqtt]);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The stock table's line of `ingredient` in `milo inventory show`'s output.
fn stock_line(out: &Output, ingredient: &str) -> String {
    let stdout = text(&out.stdout);
    let found = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(ingredient));
    found
        .unwrap_or_else(|| panic!("no {ingredient} in: {stdout}"))
        .to_owned()
}

fn oat(a: &MenuAvailability) -> (bool, u64) {
    (a.items["latte"].milks["oat"], a.stock["oat_milk_ml"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oat_milk_runs_out_is_86ed_everywhere_and_comes_back_with_a_restock() {
    let t = open_with(|c| {
        // Exactly three medium oat lattes (280 ml each).
        c.inventory.stock.insert("oat_milk_ml".into(), 840);
        c.inventory.low_stock.insert("oat_milk_ml".into(), 600);
        c.inventory.availability_ms = 100;
    })
    .await;
    let watch = Observer::start(
        &t.config.mqtt,
        &[
            topics::MENU_AVAILABILITY,
            topics::INVENTORY_LOW,
            topics::INVENTORY_RESTOCKED,
            topics::ORDERS_REJECTED,
        ],
    )
    .await;
    for n in 0..3 {
        let (_, update) = t.pos_order("latte", Some("oat"), &format!("Oat {n}")).await;
        assert!(matches!(update, Update::Prepared { .. }), "{update:?}");
    }

    // Inventory says so: no latte with oat milk, still with whole milk.
    let a = wait_for("oat milk 86'd", || {
        latest::<MenuAvailability>(&watch).filter(|a| oat(a) == (false, 0))
    })
    .await;
    let latte = &a.items["latte"];
    assert!(latte.available && latte.milks["whole"], "{latte:?}");
    assert_eq!(a.out, ["oat_milk_ml"]);
    // The alerts are on a topic of their own: heard apart from the availability.
    let alerts = wait_for("the out-of-stock alert", || {
        let alerts: Vec<(StockLevel, u64)> = seen::<StockLow>(&watch)
            .into_iter()
            .filter(|(_, s)| s.ingredient == "oat_milk_ml")
            .map(|(_, s)| (s.level, s.remaining))
            .collect();
        alerts.contains(&(StockLevel::Out, 0)).then_some(alerts)
    })
    .await;
    assert_eq!(alerts, [(StockLevel::Low, 560), (StockLevel::Out, 0)]);

    // The order service holds orders to it: 409 over HTTP, orders/rejected over MQTT.
    let refused = post_until(&t, OAT_LATTE, 409).await;
    let why = refused["error"].as_str().unwrap().to_owned();
    assert!(
        why.contains("Latte (medium, oat milk)") && why.contains("oat_milk_ml"),
        "{why}"
    );
    let id = Uuid::now_v7();
    // As the POS terminal (only a POS or the order service's intake may place an order).
    let pos = Observer::start(&mqtt_as(&t.config, "pos"), &[]).await;
    pos.publish(
        topics::ORDERS_PLACED,
        &placed_payload(id, vec![line("latte", Some("oat"), 1)]),
    );
    let rejected = wait_for("orders/rejected", || {
        seen::<OrderRejected>(&watch)
            .into_iter()
            .find(|(_, r)| r.order_id == id)
    })
    .await;
    assert_eq!(rejected.1.reason, why);
    let (_, latte_whole) = t.pos_order("latte", Some("whole"), "Whole").await;
    assert!(
        matches!(latte_whole, Update::Prepared { .. }),
        "{latte_whole:?}"
    );

    // What `milo inventory show` prints while it is out.
    let out = milo(&t, &["inventory", "show"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let oat_line = stock_line(&out, "oat_milk_ml");
    assert!(
        oat_line.contains(" 0 ") && oat_line.ends_with("OUT"),
        "{oat_line}"
    );
    assert!(
        text(&out.stdout).contains("  Latte with oat milk: out of oat_milk_ml\n"),
        "{}",
        text(&out.stdout)
    );

    // Restocked with the real binary: back on the menu.
    let out = milo(&t, &["inventory", "restock", "oat_milk_ml", "5000"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("restocked oat_milk_ml: +5000, now 5000 left"),
        "{}",
        text(&out.stdout)
    );
    wait_for("oat milk back", || {
        latest::<MenuAvailability>(&watch).filter(|a| oat(a) == (true, 5000))
    })
    .await;
    wait_for("stock ok again", || {
        latest::<StockLow>(&watch).filter(|s| s.level == StockLevel::Ok && s.remaining == 5000)
    })
    .await;
    post_until(&t, OAT_LATTE, 202).await;
    // A stock-only change, published on the next tick.
    wait_for("the reservation in the availability", || {
        latest::<MenuAvailability>(&watch).filter(|a| oat(a) == (true, 4720))
    })
    .await;
    let out = milo(&t, &["inventory", "show"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let oat_line = stock_line(&out, "oat_milk_ml");
    assert!(
        oat_line.contains(" 4720 ") && !oat_line.ends_with("OUT"),
        "{oat_line}"
    );

    refusals_change_nothing(&t, &watch).await;
    waste_is_taken_off_and_stock_adds_up(&t).await;
}

/// A restock the CLI or inventory refuses: a clear message, a non-zero exit, no change.
async fn refusals_change_nothing(t: &TestShop, watch: &Observer) {
    let out = milo(t, &["inventory", "restock", "gin_ml", "5"]).await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("unknown ingredient \"gin_ml\""), "{err}");
    let out = milo(t, &["inventory", "restock", "oat_milk_ml", "0"]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("amount must be at least 1"));
    // Past the CLI, inventory refuses it too and says so to whoever asked.
    let asked = Uuid::now_v7();
    let request = RestockRequested {
        ingredient: "gin_ml".into(),
        amount: 5,
    };
    let payload = Envelope::new(OPERATOR, asked, None, request).to_json();
    // As the operator: restocking is the operator's alone.
    let operator = Observer::start(&mqtt_as(&t.config, OPERATOR), &[]).await;
    operator.publish(topics::COMMANDS_INVENTORY_RESTOCK, &payload);
    let (_, answer) = wait_for("the refusal", || {
        seen::<StockRestocked>(watch)
            .into_iter()
            .find(|(env, _)| env.correlation_id == asked)
    })
    .await;
    assert!(answer.refused.unwrap().contains("gin_ml"));
    assert_eq!(answer.amount, 0);
    let inventory = t.shop.store("inventory").unwrap();
    let restocked: Ingredients = inventory.get("restocked").unwrap().unwrap();
    assert_eq!(restocked, Ingredients::from([("oat_milk_ml".into(), 5000)]));
}

/// What the bar threw away leaves stock, once per event, and opening + restocked − used −
/// waste = stock.
async fn waste_is_taken_off_and_stock_adds_up(t: &TestShop) {
    // As a station of the store (the gate takes tickets back only from a station or the bar).
    let pusher = Observer::start(&mqtt_as(&t.config, "bar-1"), &[]).await;
    let returned = |wasted: Ingredients| {
        let order_id = Uuid::now_v7();
        let data = TicketReturned {
            order_id,
            station: "bar-9".into(),
            attempt: 0,
            reason: "group head fault during extract".into(),
            wasted,
            station_down: true,
            begun: 1,
        };
        Envelope::new("barista-device-bar-1", order_id, None, data).to_json()
    };
    let oat = returned(Ingredients::from([("oat_milk_ml".into(), 100)]));
    pusher.publish(topics::TICKETS_RETURNED, &oat);
    pusher.publish(topics::TICKETS_RETURNED, &oat);
    // Taken in order: once this one is in, both copies above were handled.
    let cup = returned(Ingredients::from([("cups".into(), 1)]));
    pusher.publish(topics::TICKETS_RETURNED, &cup);
    let inventory = t.shop.store("inventory").unwrap().clone();
    let units = |key: &str, ing: &str| -> u64 {
        let all: Ingredients = inventory.get(key).unwrap().unwrap_or_default();
        all.get(ing).copied().unwrap_or(0)
    };
    let both = eventually(LIMIT, || std::future::ready(units("waste", "cups") == 1)).await;
    assert!(both, "the waste never reached the store");
    assert_eq!(units("waste", "oat_milk_ml"), 100);
    // Four oat lattes reserved: three made, one accepted after the restock.
    let used = 4 * 280;
    let expected = 840 + units("restocked", "oat_milk_ml") - used - units("waste", "oat_milk_ml");
    assert_eq!(units("stock", "oat_milk_ml"), expected);
    assert_eq!(expected, 4620);
}

/// The order's state on each board published, without repeats; `gone` when not on it.
fn board_states(watch: &Observer, id: Uuid) -> Vec<String> {
    let mut states: Vec<String> = Vec::new();
    for (_, board) in seen::<PickupBoard>(watch) {
        let state = board
            .entries
            .iter()
            .find(|e| e.order_id == id)
            .map_or("gone".to_owned(), |e| e.state.clone());
        if states.last() != Some(&state) {
            states.push(state);
        }
    }
    let first = states
        .iter()
        .position(|s| s != "gone")
        .unwrap_or(states.len());
    states.split_off(first)
}

/// Waits until the board shows an order preparing and its drink is on the rail; bumps it.
async fn bump_once_preparing(t: &TestShop, watch: &Observer) {
    let preparing = wait_for("an order preparing on the board", || {
        let board = latest::<PickupBoard>(watch)?;
        let entry = board.entries.into_iter().find(|e| e.state == "preparing");
        entry.map(|e| e.order_id)
    })
    .await;
    let device = t.shop.store("barista-device-bar-1").unwrap();
    wait_for("the drink on the rail", || {
        let job: Option<Job> = device.get(&format!("job/{preparing}")).unwrap();
        job.filter(|j| j.state == JobState::Rail)
    })
    .await;
    let station = &t.config.device.station;
    remote::send(
        &mqtt_as(&t.config, OPERATOR),
        station,
        DeviceCommand::Bump,
        LIMIT,
    )
    .await
    .unwrap();
}

fn collected(id: Uuid) -> Vec<u8> {
    Envelope::new("pos", id, None, OrderCollected { order_id: id }).to_json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_shows_an_order_preparing_then_ready_until_it_is_collected() {
    // The drink waits on the bar's rail until bumped: the board shows it preparing until the
    // test has seen that (boards go out at most every 200 ms, a quick drink could skip it).
    let t = open_with(|c| c.device.auto_bump = false).await;
    // The POS terminal watches the board and says when the order is collected.
    let watch = Observer::start(&mqtt_as(&t.config, "pos"), &[topics::BOARDS_PICKUP]).await;
    let order = t.pos_order("espresso", None, "Bo");
    let (order, ()) = tokio::join!(order, bump_once_preparing(&t, &watch));
    let (id, update) = order;
    assert!(matches!(update, Update::Prepared { .. }), "{update:?}");
    wait_for("ready on the board", || {
        (board_states(&watch, id).last().map(String::as_str) == Some("ready")).then_some(())
    })
    .await;
    let board = latest::<PickupBoard>(&watch).unwrap();
    let entry = board.entries.iter().find(|e| e.order_id == id).unwrap();
    assert_eq!(entry.customer.as_deref(), Some("Bo"));
    watch.publish(topics::ORDERS_COLLECTED, &collected(id));
    wait_for("collected off the board", || {
        (board_states(&watch, id).last().map(String::as_str) == Some("gone")).then_some(())
    })
    .await;
    assert_eq!(board_states(&watch, id), ["preparing", "ready", "gone"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_order_not_collected_in_time_leaves_the_board_by_itself() {
    let t = open_with(|c| c.notification.pickup_timeout_secs = 1).await;
    let watch = Observer::start(&t.config.mqtt, &[topics::BOARDS_PICKUP]).await;
    // Before the order: the timer starts later, when the notification service hears it is
    // ready (when the test hears so can be any time after).
    let asked = Instant::now();
    let (id, _) = t.pos_order("espresso", None, "Cy").await;
    let is = |state: &str| board_states(&watch, id).last().map(String::as_str) == Some(state);
    wait_for("ready on the board", || is("ready").then_some(())).await;
    wait_for("expired off the board", || is("gone").then_some(())).await;
    // Not before its time (1 s; the timer's clock counts whole milliseconds).
    let took = asked.elapsed();
    assert!(took >= Duration::from_millis(990), "gone after {took:?}");
    let states = board_states(&watch, id);
    assert_eq!(states[states.len() - 2..], ["ready", "gone"], "{states:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_orders_placed_again_hears_the_recorded_orders_created() {
    let t = open_with(|_| {}).await;
    // The POS terminal, which placed the order and hears its answers.
    let watch = Observer::start(&mqtt_as(&t.config, "pos"), &[topics::ORDERS_CREATED]).await;
    let id = Uuid::now_v7();
    let placed = placed_payload(id, vec![line("espresso", None, 1)]);
    // The answers to the placement: the order service asking payment or stock again (when
    // they are slow to answer) publishes a new orders/created, with no cause.
    let created = |watch: &Observer| -> Vec<Vec<u8>> {
        let on = watch.on(topics::ORDERS_CREATED);
        let answer = |p: &Vec<u8>| {
            RawEnvelope::parse(p).is_ok_and(|e| e.correlation_id == id && e.causation_id.is_some())
        };
        on.into_iter().filter(answer).collect()
    };
    watch.publish(topics::ORDERS_PLACED, &placed);
    wait_for("orders/created", || {
        (created(&watch).len() == 1).then_some(())
    })
    .await;
    // The POS lost the answer and sends the very same envelope again.
    watch.publish(topics::ORDERS_PLACED, &placed);
    wait_for("orders/created again", || {
        (created(&watch).len() == 2).then_some(())
    })
    .await;
    let again = created(&watch);
    assert_eq!(again[0], again[1], "not the same event, byte for byte");
    let first = RawEnvelope::parse(&again[0]).unwrap();
    assert_eq!(first.correlation_id, id);
    // Still one order.
    let (_, orders) = t.get("/orders").await;
    let ours = orders["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["order_id"] == id.to_string());
    assert_eq!(ours.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restock_above_the_maximum_is_refused_by_the_cli_and_by_inventory() {
    let t = open_with(|_| {}).await;
    // The operator, who restocks.
    let watch = Observer::start(
        &mqtt_as(&t.config, OPERATOR),
        &[topics::INVENTORY_RESTOCKED],
    )
    .await;
    let huge = u64::MAX.to_string();
    let out = milo(&t, &["inventory", "restock", "beans_g", &huge]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("cannot restock"), "{err}");
    assert!(err.contains("max_restock"), "{err}");

    // Past the CLI, inventory (the authority) refuses it too, with the reason.
    let asked = Uuid::now_v7();
    let request = RestockRequested {
        ingredient: "beans_g".into(),
        amount: u64::MAX,
    };
    let payload = Envelope::new(OPERATOR, asked, None, request).to_json();
    watch.publish(topics::COMMANDS_INVENTORY_RESTOCK, &payload);
    let (_, answer) = wait_for("the refusal", || {
        seen::<StockRestocked>(&watch)
            .into_iter()
            .find(|(env, _)| env.correlation_id == asked)
    })
    .await;
    let why = answer.refused.unwrap_or_default();
    assert!(why.contains("max_restock"), "{why}");
    assert_eq!(answer.amount, 0);
    let opening = t.config.inventory.stock["beans_g"];
    assert_eq!(answer.stock, opening);
    let inventory = t.shop.store("inventory").unwrap();
    let stock: Option<Ingredients> = inventory.get("stock").unwrap();
    assert_eq!(stock.map_or(opening, |s| s["beans_g"]), opening);
}
