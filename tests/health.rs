//! `/healthz` and `/readyz` of the whole store, with the broker as its own process killed and
//! started again: ready, then not ready naming what is wrong, then ready again by itself. And
//! the embedded broker's watchdog leaves nothing under `#`: it pings, it publishes no probe.

mod common;

use common::broker::Broker;
use milo_testkit::{free_port, Observer, PATIENCE};
use serde_json::Value;

/// `GET path` of `shop`: status and body.
async fn get(shop: &common::TestShop, path: &str) -> (u16, Value) {
    shop.get(path).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_follows_the_broker_away_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let (port, http) = (free_port(), free_port());
    let file = milo_testkit::config_file(dir.path(), port, http);
    let broker = Broker::start(&file, port);
    let shop = common::open_with(|c| {
        c.broker.embedded = false;
        c.mqtt.address = format!("127.0.0.1:{port}");
        c.broker.listen = ([127, 0, 0, 1], port).into();
    })
    .await;

    assert_eq!(
        get(&shop, "/healthz").await,
        (200, serde_json::json!({"alive": true}))
    );
    let (code, ready) = get(&shop, "/readyz").await;
    assert_eq!(code, 200, "{ready}");
    assert_eq!(ready["ready"], true);
    let names: Vec<&str> = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for part in [
        "order",
        "payment",
        "inventory",
        "barista",
        "notification",
        "analytics",
    ] {
        assert!(names.contains(&part), "{part} not checked: {ready}");
    }
    assert!(ready.get("error").is_none(), "{ready}");

    broker.kill();
    let lost = shop.wait_json("/readyz", |r| r["ready"] == false).await;
    let error = lost["error"].as_str().unwrap();
    assert!(
        error.starts_with("not ready: ") && error.contains("order: broker connection lost"),
        "{lost}"
    );
    let order = lost["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "order")
        .unwrap();
    assert_eq!(order["ready"], false);
    assert_eq!(get(&shop, "/readyz").await.0, 503);
    // /healthz says the process answers, whatever the broker does.
    assert_eq!(get(&shop, "/healthz").await.0, 200);

    let _broker = Broker::start(&file, port);
    let back = shop.wait_json("/readyz", |r| r["ready"] == true).await;
    assert!(back.get("error").is_none(), "{back}");
    assert_eq!(get(&shop, "/readyz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_broker_watchdog_shows_nothing_under_hash() {
    let shop = common::open_with(|c| c.broker.watchdog_secs = 1).await;
    let mut health = shop.shop.broker_health.clone().expect("an embedded broker");
    let watch = Observer::start(&milo_testkit::mqtt_as(&shop.config, "operator"), &["#"]).await;
    // Three answers to the watchdog's pings while `#` is watched.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut answers = 0;
    while answers < 3 {
        let changed = tokio::time::timeout_at(deadline, health.changed()).await;
        assert!(
            changed.is_ok_and(|r| r.is_ok()),
            "the watchdog's pings were not answered"
        );
        if *health.borrow() {
            answers += 1;
        }
    }
    let (code, ready) = get(&shop, "/readyz").await;
    assert_eq!(code, 200, "{ready}");
    assert!(
        ready["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "broker" && c["ready"] == true),
        "{ready}"
    );
    let seen = watch.seen();
    let housekeeping: Vec<&String> = seen
        .iter()
        .map(|(topic, _)| topic)
        .filter(|t| t.starts_with("probes/") || t.contains("watchdog"))
        .collect();
    assert!(housekeeping.is_empty(), "{housekeeping:?}");
    assert!(
        !seen.is_empty(),
        "the observer saw the retained presence at least"
    );
}
