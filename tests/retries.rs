//! End-to-end retries: the order service asks again when a step has no answer in time, and
//! fails the order with a reason after the last attempt, never leaving it hanging.

use std::sync::Arc;

use milo::http::client as http;
use milo::shop::{self, Part};
use milo::MiloConfig;
use milo_barista_device::MemoryDisplay;
use milo_bus::ShutdownTrigger;
use milo_contracts::events::Ingredients;
use milo_testkit::{eventually, when_unlocked_async, PATIENCE};

/// Starts the broker and the named parts (`device` for the barista device) with a fast retry
/// policy; returns the parts and the order service's HTTP address.
async fn start(
    config: &MiloConfig,
    trigger: &ShutdownTrigger,
    names: &[&str],
) -> (Vec<Part>, std::net::SocketAddr) {
    let sd = trigger.subscribe();
    shop::start_broker(config, &sd, || {}).unwrap();
    let menu = Arc::new(config.menu().unwrap());
    let mut parts = Vec::new();
    for name in names {
        parts.push(match *name {
            "device" => shop::start_device(
                config,
                menu.clone(),
                Box::new(MemoryDisplay::default()),
                &sd,
            )
            .unwrap(),
            name => shop::start_service(name, config, menu.clone(), &sd).unwrap(),
        });
    }
    assert!(shop::wait_ready(&parts, PATIENCE).await);
    let router = parts
        .iter()
        .find(|p| p.name == "order")
        .and_then(|p| p.router.clone())
        .unwrap();
    let (addr, _) = milo::http::serve(
        config.http.listen,
        router,
        &config.http,
        trigger.subscribe(),
    )
    .await
    .unwrap();
    (parts, addr)
}

fn fast(dir: &std::path::Path, attempts: u32) -> MiloConfig {
    let mut c = milo_testkit::config(dir);
    c.order.retry.first_ms = 100;
    c.order.retry.max_ms = 400;
    c.order.retry.attempts = attempts;
    c.order.retry.tick_ms = 20;
    c
}

async fn status(addr: std::net::SocketAddr, id: &str) -> serde_json::Value {
    http::get(addr, &format!("/orders/{id}")).await.unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_that_comes_late_is_asked_again_and_the_order_completes() {
    let dir = tempfile::tempdir().unwrap();
    let config = fast(dir.path(), 50);
    let (trigger, _) = ShutdownTrigger::new();
    let (mut parts, addr) = start(
        &config,
        &trigger,
        &["order", "payment", "barista", "device"],
    )
    .await;
    let (code, body) = http::post(addr, "/orders", r#"{"items":[{"item":"espresso"}]}"#)
        .await
        .unwrap();
    assert_eq!(code, 202, "{body}");
    let id = body["order_id"].as_str().unwrap().to_owned();
    // Inventory has never been connected: the broker drops orders/created for it. Wait for the
    // order service to have asked again at least once, then bring inventory in.
    assert!(
        eventually(PATIENCE, || async {
            status(addr, &id).await["timer"]["attempt"]
                .as_u64()
                .unwrap_or(0)
                >= 2
        })
        .await
    );
    assert_eq!(status(addr, &id).await["status"], "created");
    let menu = Arc::new(config.menu().unwrap());
    parts.push(shop::start_service("inventory", &config, menu, &trigger.subscribe()).unwrap());
    assert!(
        eventually(PATIENCE, || async {
            status(addr, &id).await["status"] == "prepared"
        })
        .await,
        "{}",
        status(addr, &id).await
    );
    trigger.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_last_attempt_the_order_fails_with_a_reason_and_stock_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let config = fast(dir.path(), 3);
    let (trigger, _) = ShutdownTrigger::new();
    let (parts, addr) = start(
        &config,
        &trigger,
        &["order", "inventory", "barista", "device"],
    )
    .await;
    let (_, body) = http::post(addr, "/orders", r#"{"items":[{"item":"latte","qty":2}]}"#)
        .await
        .unwrap();
    let id = body["order_id"].as_str().unwrap().to_owned();
    assert!(
        eventually(PATIENCE, || async {
            status(addr, &id).await["status"] == "canceling"
        })
        .await
    );
    let order = status(addr, &id).await;
    assert_eq!(
        order["reason"], "no answer from payment after 3 attempts",
        "{order}"
    );
    // Inventory gave the reservation back and said so; payment never answers, so the order
    // service keeps asking it to confirm (it would refund what it charged).
    assert_eq!(order["timer"]["step"], "compensate", "{order}");
    assert!(
        eventually(PATIENCE, || async {
            status(addr, &id).await["compensation"]["release_confirmed"] == true
        })
        .await
    );
    let inventory = parts
        .iter()
        .find(|p| p.name == "inventory")
        .unwrap()
        .store
        .clone();
    let back = eventually(PATIENCE, || {
        let inventory = inventory.clone();
        let opening = config.inventory.stock.clone();
        async move {
            inventory
                .get::<Ingredients>("stock")
                .unwrap()
                .is_some_and(|s| s == opening)
        }
    })
    .await;
    assert!(back, "the reservation was not released");
    trigger.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_whose_broker_queue_overflowed_is_recovered_by_retries() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast(dir.path(), 50);
    // A tiny in-memory log per subscription filter: 2 × 8 KiB, wrapped by a few dozen events.
    config.mqtt.max_payload = 4096;
    config.broker.segment_bytes = 8192;
    config.broker.segment_count = 2;
    // Any subscriber that falls that far behind loses events, not only inventory: the barista
    // service can, on a loaded machine, and a ready order is asked for again only after
    // prepare_secs (15 min by default).
    config.order.retry.prepare_secs = 2;
    let (trigger, _) = ShutdownTrigger::new();
    let (_parts, addr) = start(
        &config,
        &trigger,
        &["order", "payment", "barista", "device"],
    )
    .await;
    // Inventory subscribes (persistent session), then goes away for a while.
    let menu = Arc::new(config.menu().unwrap());
    let (away, _) = ShutdownTrigger::new();
    let inventory =
        shop::start_service("inventory", &config, menu.clone(), &away.subscribe()).unwrap();
    assert!(shop::wait_ready(std::slice::from_ref(&inventory), PATIENCE).await);
    away.trigger();
    let shop::Part { task, store, .. } = inventory;
    task.await.unwrap().unwrap();
    drop(store); // sled locks its directory: let go of it before starting again
    let mut ids = Vec::new();
    for _ in 0..40 {
        let (code, body) = http::post(addr, "/orders", r#"{"items":[{"item":"americano"}]}"#)
            .await
            .unwrap();
        assert_eq!(code, 202, "{body}");
        ids.push(body["order_id"].as_str().unwrap().to_owned());
    }
    // Back: the broker kept only the newest of what it queued; the order service asks again
    // for the rest.
    // sled's flusher holds the dropped store's lock for a moment more.
    let sd = trigger.subscribe();
    let start = || std::future::ready(shop::start_service("inventory", &config, menu.clone(), &sd));
    let _inventory = when_unlocked_async(start).await.unwrap();
    for id in &ids {
        let done = eventually(PATIENCE, || async {
            status(addr, id).await["status"] == "prepared"
        })
        .await;
        assert!(done, "{}", status(addr, id).await);
    }
    trigger.trigger();
}
