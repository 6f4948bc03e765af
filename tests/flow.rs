//! The order flow end to end, in-process: real broker, real stores, real MQTT and HTTP.

mod common;

use common::rig::{all_parts, Rig};
use common::{line, open, open_with, placed_payload};
use milo_contracts::events::Ingredients;
use milo_contracts::{topics, RawEnvelope, SagaMode};
use milo_pos::Update;
use milo_testkit::{eventually, mqtt_as, Observer, PATIENCE};
use serde_json::Value;
use uuid::Uuid;

/// Drinks counted by analytics, all items.
fn drinks(summary: &Value) -> u64 {
    let by_item = summary["drinks_by_item"].as_object();
    by_item.map_or(0, |o| o.values().filter_map(Value::as_u64).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_pos_orders_all_end_prepared_with_stock_and_analytics_adding_up() {
    let t = open().await;
    let menu = t.config.menu().unwrap();
    let items = ["latte", "espresso", "mocha", "cappuccino", "flat_white"];
    let mut tasks = Vec::new();
    for i in 0..20 {
        let request = milo_pos::Request {
            order_id: Uuid::now_v7(),
            items: vec![line(items[i % items.len()], None, 1)],
            customer: Some(format!("customer {i}")),
            payment: Default::default(),
        };
        let terminal = &t.config.pos.terminal;
        let (mqtt, pos, sd) = (
            mqtt_as(&t.config, terminal),
            t.config.pos.clone(),
            t.shutdown(),
        );
        tasks.push(tokio::spawn(async move {
            let lines = request.items.clone();
            (lines, milo_pos::place(mqtt, pos, request, |_| {}, sd).await)
        }));
    }
    let mut used = Ingredients::new();
    for task in tasks {
        let (lines, outcome) = task.await.unwrap();
        assert!(
            matches!(outcome, Ok(Update::Prepared { .. })),
            "{outcome:?}"
        );
        for (ing, units) in menu.price(&lines).unwrap().ingredients {
            *used.entry(ing).or_default() += units;
        }
    }
    let stock: Ingredients = t
        .shop
        .store("inventory")
        .unwrap()
        .get("stock")
        .unwrap()
        .unwrap();
    for (ing, opening) in &t.config.inventory.stock {
        let expected = opening - used.get(ing).copied().unwrap_or(0);
        assert_eq!(
            stock[ing],
            expected,
            "{ing}: opening {opening}, used {:?}",
            used.get(ing)
        );
    }
    // Analytics hears each topic on its own: an order can count as prepared before its
    // drinks (which need its orders/created) or its charge are in.
    let summary = t
        .wait_json("/analytics/summary", |s| {
            s["orders"]["by_status"]["prepared"] == 20
                && drinks(s) == 20
                && s["preparation_ms"]["count"] == 20
                && s["revenue_cents"].as_u64() > Some(0)
        })
        .await;
    assert_eq!(drinks(&summary), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_places_and_follows_an_order_and_refuses_bad_requests() {
    let t = open().await;
    let (status, body) = t
        .post(
            "/orders",
            r#"{"items":[{"item":"latte","size":"large","qty":1}],"customer":"Ana"}"#,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "created");
    let id = body["order_id"].as_str().unwrap().to_owned();
    let order = t
        .wait_json(&format!("/orders/{id}"), |o| o["status"] == "prepared")
        .await;
    let history: Vec<&str> = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["created", "ready", "prepared"]);
    assert_eq!(order["lines"][0]["size"], "large");

    let (status, body) = t.post("/orders", r#"{"items":[{"item":"latte""#).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = t.post("/orders", r#"{"items":"latte"}"#).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = t
        .post("/orders", r#"{"items":[{"item":"unicorn frappe"}]}"#)
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("unknown item"),
        "{body}"
    );
    let (status, body) = t
        .post("/orders", r#"{"items":[{"item":"latte","qty":-2}]}"#)
        .await;
    assert_eq!(status, 422, "{body}");

    assert_eq!(t.get("/orders/not-a-uuid").await.0, 400);
    assert_eq!(t.get(&format!("/orders/{}", Uuid::now_v7())).await.0, 404);
    assert_eq!(t.get("/orders?status=lost").await.0, 400);
    assert_eq!(t.get("/orders?limit=0").await.0, 400);
    let (status, body) = t.get("/no/such/route").await;
    assert_eq!((status, body["error"].is_string()), (404, true));
    let (_, list) = t.get("/orders?status=prepared&limit=10").await;
    assert!(list["orders"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["order_id"] == id.as_str()));
    let (_, rejected) = t.get("/orders?status=rejected").await;
    assert_eq!(
        rejected["orders"].as_array().unwrap().len(),
        2,
        "{rejected}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_order_over_mqtt_and_http_is_one_order_one_charge_one_drink() {
    // Payment or stock slow to answer (3 s by default, a loaded machine) would be asked again
    // with a new orders/created: not within this test.
    let t = open_with(|c| c.order.retry.first_ms = PATIENCE.as_millis() as u64).await;
    let watch = Observer::start(&t.config.mqtt, &["orders/#", "payments/#"]).await;
    // The placements over MQTT come from the POS terminal.
    let pos = Observer::start(&mqtt_as(&t.config, "pos"), &[]).await;
    let id = Uuid::now_v7();
    pos.publish(
        topics::ORDERS_PLACED,
        &placed_payload(id, vec![line("mocha", None, 2)]),
    );
    let body =
        format!(r#"{{"items":[{{"item":"mocha","qty":2}}],"customer":"Ana","order_id":"{id}"}}"#);
    let (status, reply) = t.post("/orders", &body).await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["order_id"], id.to_string());
    t.wait_json(&format!("/orders/{id}"), |o| o["status"] == "prepared")
        .await;
    // A third placement after the fact changes nothing either.
    pos.publish(
        topics::ORDERS_PLACED,
        &placed_payload(id, vec![line("mocha", None, 2)]),
    );
    // Analytics hears orders/created and payments/completed apart: wait for both.
    let summary = t
        .wait_json("/analytics/summary", |s| {
            s["drinks_by_item"]["mocha"] == 2 && s["charged_cents"] == 2 * 460
        })
        .await;
    // The order service takes orders/placed in order: once it has rejected a marker placed
    // behind the third placement, it has handled that one too.
    let marker = Uuid::now_v7();
    pos.publish(
        topics::ORDERS_PLACED,
        &placed_payload(marker, vec![line("unicorn frappe", None, 1)]),
    );
    let count = |topic: &str, id: Uuid| {
        watch
            .on(topic)
            .iter()
            .filter(|p| String::from_utf8_lossy(p).contains(&id.to_string()))
            .count()
    };
    assert!(
        eventually(PATIENCE, || async {
            count(topics::ORDERS_PLACED, id) == 2
                && count(topics::ORDERS_REJECTED, marker) == 1
                && count(topics::PAYMENTS_COMPLETED, id) >= 1
                && count(topics::ORDERS_PREPARED, id) >= 1
        })
        .await,
        "the marker behind the third placement was not rejected"
    );
    // One event each (a repeat is the same event again: the same id).
    let events = |topic: &str| {
        let envs = watch.on(topic);
        let ours = envs.iter().filter_map(|p| RawEnvelope::parse(p).ok());
        let ids = ours.filter(|e| e.correlation_id == id).map(|e| e.id);
        ids.collect::<std::collections::BTreeSet<Uuid>>().len()
    };
    assert_eq!(events(topics::ORDERS_CREATED), 1);
    assert_eq!(events(topics::PAYMENTS_COMPLETED), 1);
    assert_eq!(events(topics::ORDERS_PREPARED), 1);
    assert_eq!(summary["charged_cents"], 2 * 460);
    assert_eq!(summary["orders"]["total"], 1);
    let jobs: Vec<(String, serde_json::Value)> = t
        .shop
        .store("barista-device-bar-1")
        .unwrap()
        .scan("job/", None, 100)
        .unwrap();
    assert_eq!(jobs.len(), 1);
}

/// Places one order through a real POS client (in a task of its own); its final update.
fn pos_order(r: &Rig, item: &str, milk: Option<&str>) -> tokio::task::JoinHandle<Update> {
    let request = milo_pos::Request {
        order_id: Uuid::now_v7(),
        items: vec![line(item, milk, 1)],
        customer: Some("Bea".into()),
        payment: Default::default(),
    };
    let (mqtt, pos) = (
        mqtt_as(&r.config, &r.config.pos.terminal),
        r.config.pos.clone(),
    );
    tokio::spawn(async move {
        // Kept until the answer: a dropped trigger stops the POS.
        let (_trigger, shutdown) = milo_bus::ShutdownTrigger::new();
        milo_pos::place(mqtt, pos, request, |_| {}, shutdown)
            .await
            .unwrap()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_stock_fails_the_order_with_a_reason_and_refunds_it() {
    // The POS and the order service refuse what inventory's menu/availability says cannot be
    // made: inventory starts only once the order is taken, so that it is inventory that finds
    // the stock short (asked again once it is there), whenever it first says what is left.
    let mode = SagaMode::Choreography;
    let parts: Vec<&str> = all_parts(mode)
        .into_iter()
        .filter(|p| *p != "inventory")
        .collect();
    let mut r = Rig::start(mode, &parts, |c| {
        c.inventory.stock.insert("oat_milk_ml".into(), 100);
        c.order.retry.attempts = 100;
    })
    .await;
    let watch = Observer::start(&r.config.mqtt, &["payments/#", topics::ORDERS_CREATED]).await;
    let placing = pos_order(&r, "latte", Some("oat"));
    let taken = eventually(PATIENCE, || {
        std::future::ready(!watch.on(topics::ORDERS_CREATED).is_empty())
    })
    .await;
    assert!(taken, "the order was never created");
    r.up("inventory").await;
    let update = placing.await.unwrap();
    let Update::Canceled { reason, .. } = update else {
        panic!("expected a cancellation, got {update:?}")
    };
    assert!(
        reason.contains("out of stock") && reason.contains("oat_milk_ml"),
        "{reason}"
    );
    let created = RawEnvelope::parse(&watch.on(topics::ORDERS_CREATED)[0]).unwrap();
    let order = r.wait_status(created.correlation_id, "canceled").await;
    assert!(order["reason"].as_str().unwrap().contains("oat_milk_ml"));
    // Charged before stock came back short: refunded, so the shop keeps nothing.
    let analytics = r.http("analytics");
    let summary = std::sync::Mutex::new(Value::Null);
    let kept_nothing = eventually(PATIENCE, || async {
        let (_, s) = milo::http::client::get(analytics, "/analytics/summary")
            .await
            .unwrap();
        let done = s["refunded_cents"] == s["charged_cents"] && s["charged_cents"] != 0;
        *summary.lock().unwrap() = s;
        done
    })
    .await;
    let summary = summary.into_inner().unwrap();
    assert!(kept_nothing, "{summary}");
    assert_eq!(summary["revenue_cents"], 0);
    assert!(
        eventually(PATIENCE, || async {
            !watch.on(topics::PAYMENTS_REFUNDED).is_empty()
        })
        .await
    );
    r.assert_stock(&r.config.inventory.stock, &order).await;
    // The shop still serves what it has.
    let update = pos_order(&r, "latte", Some("whole")).await.unwrap();
    assert!(matches!(update, Update::Prepared { .. }), "{update:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_1_and_version_2_of_orders_created_are_both_served() {
    let t = open().await;
    let watch = Observer::start(&t.config.mqtt, &["orders/#", "payments/#", "inventory/#"]).await;
    // A v2 order, with modifiers, through the POS path.
    let body = r#"{"items":[{"item":"latte","size":"large","modifiers":["extra_shot","vanilla"]}],"customer":"Ed"}"#;
    let (status, reply) = t.post("/orders", body).await;
    assert_eq!(status, 202, "{reply}");
    let id2 = reply["order_id"].as_str().unwrap().to_owned();
    let order = t
        .wait_json(&format!("/orders/{id2}"), |o| o["status"] == "prepared")
        .await;
    assert_eq!(order["total_cents"], 480 + 70 + 50);
    // A v1 `orders/created`, as an order service from before modifiers still publishes it.
    let id1 = Uuid::now_v7();
    let v1 = format!(
        r#"{{"id":"{ev}","type":"OrderCreated","version":1,"occurred_at":"2026-11-21T08:00:00Z","correlation_id":"{id1}","causation_id":null,"source":"order","data":{{"order_id":"{id1}","lines":[{{"item":"espresso","size":"single","milk":null,"qty":1,"unit_price_cents":250}}],"total_cents":250,"ingredients":{{"beans_g":9,"water_ml":30,"cups":1}}}}}}"#,
        ev = Uuid::now_v7()
    );
    // Published as the order service (the only part that may say orders/created).
    let order = Observer::start(&mqtt_as(&t.config, "order"), &[]).await;
    order.publish(topics::ORDERS_CREATED, v1.as_bytes());
    let answered = |topic: &'static str| {
        let watch = &watch;
        let id = id1.to_string();
        async move {
            watch
                .on(topic)
                .iter()
                .any(|p| String::from_utf8_lossy(p).contains(&id))
        }
    };
    assert!(eventually(PATIENCE, || answered(topics::PAYMENTS_COMPLETED)).await);
    assert!(eventually(PATIENCE, || answered(topics::INVENTORY_RESERVED)).await);
    // The observer hears orders/created on its own, apart from the order's HTTP status.
    let v2_seen = || {
        watch.on(topics::ORDERS_CREATED).iter().any(|p| {
            let s = String::from_utf8_lossy(p);
            s.contains(&id2) && s.contains(r#""version":2"#) && s.contains("extra_shot")
        })
    };
    assert!(
        eventually(PATIENCE, || std::future::ready(v2_seen())).await,
        "the order service publishes version 2"
    );
    for part in ["payment", "inventory", "analytics", "notification"] {
        let letters = t.shop.store(part).unwrap().dead_letters(0, 100).unwrap();
        assert!(letters.is_empty(), "{part} refused: {letters:?}");
    }
}
