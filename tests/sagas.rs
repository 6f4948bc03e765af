//! The saga scenario matrix, run under both saga modes: each scenario drives real parts on
//! a real broker and asserts the order's final state, the money (charges − refunds, from
//! payment's store) and the stock (from inventory's store).

mod common;

use common::rig::{all_parts, Rig};
use milo_barista_device::{remote, Job, JobState};
use milo_contracts::bar::DeviceCommand;
use milo_contracts::{topics, RawEnvelope, SagaMode};
use milo_pos::Update;
use milo_testkit::{eventually, Observer, PATIENCE};
use serde_json::Value;
use uuid::Uuid;

const ESPRESSO: &str = r#"[{"item":"espresso"}]"#;
const TWO_LATTES: &str = r#"[{"item":"latte","qty":2}]"#;

/// One test per mode for each scenario.
macro_rules! both_modes {
    ($($scenario:ident),* $(,)?) => {
        mod choreography {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(milo_contracts::SagaMode::Choreography).await;
                }
            )*
        }
        mod orchestration {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(milo_contracts::SagaMode::Orchestration).await;
                }
            )*
        }
    };
}

both_modes!(
    happy_path,
    payment_declined,
    out_of_stock,
    payment_gateway_hangs,
    inventory_down_for_a_while_then_back,
    barista_fault_mid_drink,
    cancel_before_payment,
    cancel_while_queued_at_the_bar,
    cancel_after_the_drink_started_is_refused,
    same_order_placed_twice,
    cancel_an_unknown_or_canceled_order_is_answered_at_once,
    orders_ready_is_published_once_per_order,
);

/// Asserts a canceled order: reason, nothing kept, stock whole.
async fn assert_canceled(r: &Rig, id: Uuid, reason: &str) -> Value {
    let order = r.wait_status(id, "canceled").await;
    let why = order["reason"].as_str().unwrap_or_default();
    assert!(
        why.contains(reason),
        "reason {why:?} lacks {reason:?}: {order}"
    );
    assert_eq!(r.settled_money(id).await, 0, "money kept: {order}");
    order
}

/// In orchestration, the coordinator's view agrees, once it has heard what the order service
/// heard (each hears `orders/prepared` on its own).
async fn assert_saga(r: &Rig, id: Uuid, state: &str) {
    if r.config.saga.mode != SagaMode::Orchestration {
        return;
    }
    let saga = r.wait_saga(id, state, |s| s["state"] == state).await;
    let steps = saga["steps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .all(|s| s["attempts"].as_u64() >= Some(1) && s["started_at"].is_string()),
        "{saga}"
    );
}

async fn happy_path(mode: SagaMode) {
    let r = Rig::full(mode, |_| {}).await;
    let id = r.place(TWO_LATTES, None).await;
    r.wait_status(id, "prepared").await;
    assert_eq!(r.settled_money(id).await, r.total(TWO_LATTES));
    r.assert_stock(&r.stock_less(TWO_LATTES, (1, 1)), &id).await;
    // Too late to cancel a drink that is made.
    let (code, body) = r.cancel(id).await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("already made"),
        "{body}"
    );
    assert_saga(&r, id, "completed").await;
}

async fn payment_declined(mode: SagaMode) {
    let r = Rig::full(mode, |c| c.payment.success_rate = 0.0).await;
    let id = r.place(ESPRESSO, None).await;
    let order = assert_canceled(&r, id, "payment declined").await;
    r.assert_stock(&r.config.inventory.stock, &order).await;
    assert_eq!(order["compensation"]["refunded_cents"], 0);
    assert_saga(&r, id, "canceled").await;
}

async fn out_of_stock(mode: SagaMode) {
    // The order service refuses what inventory's menu/availability says cannot be made:
    // inventory starts only once the order is taken, so that it is inventory that finds the
    // stock short (asked again once it is there), whenever it first says what is available.
    let parts: Vec<&str> = all_parts(mode)
        .into_iter()
        .filter(|p| *p != "inventory")
        .collect();
    let mut r = Rig::start(mode, &parts, |c| {
        c.inventory.stock.insert("whole_milk_ml".into(), 10);
        c.order.retry.attempts = 100;
        c.saga.retry.attempts = 100;
    })
    .await;
    let id = r.place(TWO_LATTES, None).await;
    r.up("inventory").await;
    let order = assert_canceled(&r, id, "out of stock").await;
    r.assert_stock(&r.config.inventory.stock, &order).await;
    assert_saga(&r, id, "canceled").await;
}

async fn payment_gateway_hangs(mode: SagaMode) {
    let r = Rig::full(mode, |c| c.payment.hang_rate = 1.0).await;
    let id = r.place(ESPRESSO, None).await;
    let order = assert_canceled(&r, id, "no answer from payment").await;
    r.assert_stock(&r.config.inventory.stock, &order).await;
    assert_saga(&r, id, "canceled").await;
}

async fn inventory_down_for_a_while_then_back(mode: SagaMode) {
    let parts: Vec<&str> = all_parts(mode)
        .into_iter()
        .filter(|p| *p != "inventory")
        .collect();
    let mut r = Rig::start(mode, &parts, |c| {
        c.order.retry.attempts = 100;
        c.saga.retry.attempts = 100;
    })
    .await;
    let id = r.place(ESPRESSO, None).await;
    // Asked at least twice while inventory was away.
    let asked_again = |o: &Value| o["timer"]["attempt"].as_u64() >= Some(1);
    match mode {
        SagaMode::Choreography => {
            r.wait_order(id, "asked again", asked_again).await;
        }
        SagaMode::Orchestration => {
            r.wait_saga(id, "asking inventory again", |s| {
                s["steps"][0]["attempts"].as_u64() >= Some(2)
            })
            .await;
        }
    }
    r.up("inventory").await;
    r.wait_status(id, "prepared").await;
    assert_eq!(r.settled_money(id).await, r.total(ESPRESSO));
    r.assert_stock(&r.stock_less(ESPRESSO, (1, 1)), &id).await;
    assert_saga(&r, id, "completed").await;
}

async fn barista_fault_mid_drink(mode: SagaMode) {
    let r = Rig::full(mode, |c| c.device.fault_rate = 1.0).await;
    let id = r.place(TWO_LATTES, None).await;
    let order = assert_canceled(&r, id, "the bar could not make it").await;
    // The first latte faulted at its tamp, after its grind: its beans were poured away, not
    // its milk or cup; the second never started. All but those beans is back in stock. The
    // waste comes from the bar (tickets/returned), apart from the order's release.
    let mut expected = r.config.inventory.stock.clone();
    let ground = r.stock_less(TWO_LATTES, (1, 2))["beans_g"];
    expected.insert("beans_g".into(), ground);
    r.assert_stock(&expected, &order).await;
    assert_eq!(order["compensation"]["refunded_cents"], r.total(TWO_LATTES));
    assert_saga(&r, id, "canceled").await;
}

async fn cancel_before_payment(mode: SagaMode) {
    // The gateway never answers and is asked again and again: the cancellation comes before
    // the payment however long it takes to arrive.
    let r = Rig::full(mode, |c| {
        c.payment.hang_rate = 1.0;
        c.order.retry.attempts = 100;
        c.saga.retry.attempts = 100;
    })
    .await;
    let id = r.place(ESPRESSO, None).await;
    let (code, body) = r.cancel(id).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "canceled", "{body}");
    let order = assert_canceled(&r, id, "canceled by the customer: changed my mind").await;
    r.assert_stock(&r.config.inventory.stock, &order).await;
    assert_saga(&r, id, "canceled").await;
}

async fn cancel_while_queued_at_the_bar(mode: SagaMode) {
    // No barista device: the ticket waits at the barista service.
    let parts: Vec<&str> = all_parts(mode)
        .into_iter()
        .filter(|p| *p != "device")
        .collect();
    let r = Rig::start(mode, &parts, |_| {}).await;
    let id = r.place(ESPRESSO, None).await;
    r.wait_status(id, "ready").await;
    // Through the POS, as the counter does it.
    let update = milo_pos::cancel(
        milo_testkit::mqtt_as(&r.config, &r.config.pos.terminal),
        r.config.pos.clone(),
        id,
        Some("in a hurry".into()),
        |_| {},
        milo_bus::ShutdownTrigger::new().0.subscribe(),
    )
    .await
    .unwrap();
    let milo_pos::Update::Canceled { refunded_cents, .. } = update else {
        panic!("expected canceled, got {update:?}")
    };
    assert_eq!(refunded_cents as i64, r.total(ESPRESSO));
    let order = assert_canceled(&r, id, "in a hurry").await;
    r.assert_stock(&r.config.inventory.stock, &order).await;
    assert_saga(&r, id, "canceled").await;
}

async fn cancel_after_the_drink_started_is_refused(mode: SagaMode) {
    // An espresso takes about 3 s at this speed, then waits on the rail for its bump: the
    // order is started and not prepared until the test bumps it, however slow the test is.
    let r = Rig::full(mode, |c| {
        (c.device.speed, c.device.auto_bump) = (0.1, false)
    })
    .await;
    let id = r.place(ESPRESSO, None).await;
    r.wait_order(id, "started", |o| o["started"] == true).await;
    let (code, body) = r.cancel(id).await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("already being made"),
        "{body}"
    );
    bump_when_made(&r, id).await;
    r.wait_status(id, "prepared").await;
    assert_eq!(r.settled_money(id).await, r.total(ESPRESSO));
    r.assert_stock(&r.stock_less(ESPRESSO, (1, 1)), &id).await;
    assert_saga(&r, id, "completed").await;
}

/// Waits until the order's drink is made and on the bar's rail, then bumps it (a bump before
/// the drink is there does nothing).
async fn bump_when_made(r: &Rig, id: Uuid) {
    let on_rail = eventually(PATIENCE, || {
        let job: Option<Job> = r.store("device").get(&format!("job/{id}")).unwrap();
        std::future::ready(job.is_some_and(|j| j.state == JobState::Rail))
    })
    .await;
    assert!(on_rail, "the drink of {id} never reached the rail");
    let station = &r.config.device.station;
    remote::send(
        &milo_testkit::mqtt_as(&r.config, milo_contracts::dead_letters::OPERATOR),
        station,
        DeviceCommand::Bump,
        PATIENCE,
    )
    .await
    .unwrap();
}

async fn same_order_placed_twice(mode: SagaMode) {
    let r = Rig::full(mode, |_| {}).await;
    let id = Uuid::now_v7();
    r.place(ESPRESSO, Some(id)).await;
    r.place(ESPRESSO, Some(id)).await;
    r.wait_status(id, "prepared").await;
    r.place(ESPRESSO, Some(id)).await;
    assert_eq!(r.settled_money(id).await, r.total(ESPRESSO));
    r.assert_stock(&r.stock_less(ESPRESSO, (1, 1)), &id).await;
    let jobs: Vec<(String, Value)> = r.store("device").scan("job/", None, 10).unwrap();
    assert_eq!(jobs.len(), 1, "brewed more than once");
    assert_saga(&r, id, "completed").await;
}

/// Asks to cancel through the POS, as `milo pos cancel` does; its answer.
async fn pos_cancel(r: &Rig, id: Uuid) -> Update {
    // Kept until the answer: a dropped trigger stops the POS at once.
    let (_trigger, shutdown) = milo_bus::ShutdownTrigger::new();
    let terminal = &r.config.pos.terminal;
    let (mqtt, pos) = (
        milo_testkit::mqtt_as(&r.config, terminal),
        r.config.pos.clone(),
    );
    let reason = Some("changed my mind".into());
    milo_pos::cancel(mqtt, pos, id, reason, |_| {}, shutdown)
        .await
        .unwrap_or_else(|e| panic!("no answer to the cancellation of {id}: {e}"))
}

async fn cancel_an_unknown_or_canceled_order_is_answered_at_once(mode: SagaMode) {
    let r = Rig::full(mode, |c| {
        // The gateway never answers and is asked again and again: the cancellation comes
        // before the payment however long the POS takes to send it (1.5 s at the gateway was
        // a window the POS had to hit: after it, the drink is made and the cancel refused).
        c.payment.hang_rate = 1.0;
        c.order.retry.attempts = 100;
        c.saga.retry.attempts = 100;
        // Below the default 120 s: a POS left without an answer gives up and the test fails.
        c.pos.timeout_secs = PATIENCE.as_secs();
    })
    .await;
    let unknown = Uuid::now_v7();
    match pos_cancel(&r, unknown).await {
        Update::CancelRefused { reason } => {
            assert!(reason.contains("unknown order"), "{reason}")
        }
        other => panic!("an unknown order got {other:?}"),
    }
    assert_eq!(r.cancel(unknown).await.0, 404);

    let id = r.place(ESPRESSO, None).await;
    let first = pos_cancel(&r, id).await;
    assert!(matches!(first, Update::Canceled { .. }), "{first:?}");
    assert_canceled(&r, id, "changed my mind").await;
    // Asked again: the outcome it gave, at once.
    assert_eq!(pos_cancel(&r, id).await, first);
    assert_saga(&r, id, "canceled").await;
}

async fn orders_ready_is_published_once_per_order(mode: SagaMode) {
    // An espresso takes about 1.5 s at this speed: far longer than the first retry (150 ms).
    let r = Rig::full(mode, |c| c.device.speed = 0.05).await;
    let watch = Observer::start(&r.config.mqtt, &[topics::ORDERS_READY]).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(r.place(ESPRESSO, None).await);
    }
    for id in &ids {
        r.wait_status(*id, "prepared").await;
    }
    // The observer hears orders/ready on its own, apart from the orders' status.
    let heard = |id: &Uuid| {
        let deliveries = watch.on(topics::ORDERS_READY);
        let mut envs = deliveries.iter().filter_map(|p| RawEnvelope::parse(p).ok());
        envs.any(|e| e.correlation_id == *id)
    };
    let all = eventually(PATIENCE, || std::future::ready(ids.iter().all(heard))).await;
    assert!(all, "orders/ready never heard for every order");
    let deliveries = watch.on(topics::ORDERS_READY);
    for id in &ids {
        // One fact: one event id. The same event may be delivered again (a consumer that saw
        // a gap asks for the range, and everyone subscribed hears the repeat); a second
        // event id would be a second drink to make.
        let events: std::collections::BTreeSet<Uuid> = deliveries
            .iter()
            .filter_map(|p| RawEnvelope::parse(p).ok())
            .filter(|e| e.correlation_id == *id)
            .map(|e| e.id)
            .collect();
        assert_eq!(
            events.len(),
            1,
            "orders/ready of {id}: {} events, ids {events:?}",
            events.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestration_coordinator_killed_mid_saga_resumes() {
    let mode = SagaMode::Orchestration;
    let mut r = Rig::full(mode, |c| {
        // 5 s at the gateway: time to see the saga charging and kill the coordinator then,
        // even on a loaded machine. Asked again meanwhile, but never given up on.
        (c.payment.min_latency_ms, c.payment.max_latency_ms) = (5_000, 5_000);
        c.saga.retry.attempts = 100;
    })
    .await;
    let id = r.place(ESPRESSO, None).await;
    r.wait_saga(id, "charging", |s| s["state"] == "charging")
        .await;
    r.down("saga", true).await;
    r.up("saga").await;
    r.wait_status(id, "prepared").await;
    assert_eq!(r.settled_money(id).await, r.total(ESPRESSO));
    r.assert_stock(&r.stock_less(ESPRESSO, (1, 1)), &id).await;
    assert_saga(&r, id, "completed").await;
}

/// A charge the processor never answered is asked again, with the same key, when the payment
/// service starts again: its unfinished transactions are read in the background after it is
/// up, and the order completes once the processor answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn choreography_payment_restarted_mid_charge_asks_again() {
    let mut r = Rig::full(SagaMode::Choreography, |c| {
        // Every charge hangs, and the breaker waits long enough never to give up on it here.
        c.payment.hang_rate = 1.0;
        c.payment.breaker.timeout_ms = 600_000;
        c.order.retry.attempts = 100;
    })
    .await;
    let id = r.place(ESPRESSO, None).await;
    let charging = eventually(PATIENCE, || {
        let t = r
            .store("payment")
            .get::<Value>(&format!("txn/{id}"))
            .ok()
            .flatten();
        std::future::ready(t.is_some_and(|t| t["state"] == "charging"))
    })
    .await;
    assert!(charging, "the charge never reached the processor");
    r.down("payment", true).await;
    r.config.payment.hang_rate = 0.0;
    r.up("payment").await;
    r.wait_status(id, "prepared").await;
    assert_eq!(r.settled_money(id).await, r.total(ESPRESSO));
    let t: Value = r
        .store("payment")
        .get(&format!("txn/{id}"))
        .unwrap()
        .unwrap();
    assert_eq!(t["state"], "charged", "{t}");
}
