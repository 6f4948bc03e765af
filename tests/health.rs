//! `/healthz` and `/readyz` of the whole store, with the broker as its own process killed and
//! started again: ready, then not ready naming what is wrong, then ready again by itself. And
//! the embedded broker's watchdog leaves nothing under `#`: it pings, it publishes no probe.

mod common;

use common::broker::Broker;
use milo_testkit::{free_port, Observer, PATIENCE};
use serde_json::Value;

/// The name of every check in a `/readyz` answer.
fn check_names(ready: &Value) -> Vec<&str> {
    let checks = ready["checks"].as_array().expect("checks");
    checks.iter().map(|c| c["name"].as_str().unwrap()).collect()
}

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
    let names = check_names(&ready);
    for part in milo::shop::services(&shop.config) {
        assert!(names.contains(&part), "{part} not checked: {ready}");
    }
    assert!(ready.get("error").is_none(), "{ready}");

    broker.kill();
    // Each part notices on its own link, one after another: wait until the order part has.
    let order_down = |r: &Value| {
        r["checks"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["name"] == "order" && c["ready"] == false)
        })
    };
    let lost = shop.wait_json("/readyz", order_down).await;
    assert_eq!(lost["ready"], false, "{lost}");
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

/// `milo ARGS` as its own process on `file`, killed on drop.
struct Alone(std::process::Child);

impl Alone {
    fn start(file: &std::path::Path, args: &[&str]) -> Alone {
        let child = std::process::Command::new(common::cli::MILO)
            .env_remove("RUST_LOG")
            .arg("--config")
            .arg(file)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("milo");
        Alone(child)
    }
}

impl Drop for Alone {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `GET /readyz` on `addr` answers `code`; its body.
async fn ready_at(addr: std::net::SocketAddr, code: u16) -> Value {
    let last = std::sync::Mutex::new(Value::Null);
    let seen = milo_testkit::eventually(PATIENCE, || {
        let last = &last;
        async move {
            match milo::http::client::get(addr, "/readyz").await {
                Ok((status, body)) => {
                    *last.lock().unwrap() = body;
                    status == code
                }
                Err(_) => false,
            }
        }
    })
    .await;
    let last = last.into_inner().unwrap();
    assert!(
        seen,
        "/readyz of {addr} never answered {code}; last: {last}"
    );
    last
}

/// `GET /metrics` on `addr`: the value of every sample named `name`, summed.
async fn metric(addr: std::net::SocketAddr, name: &str) -> f64 {
    let reply = milo::http::client::send(addr, "GET", "/metrics", &[], None)
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let text = reply.body.as_str().expect("text").to_owned();
    text.lines()
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_part_run_alone_serves_its_own_readyz_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (port, http) = (free_port(), free_port());
    let file = milo_testkit::config_file(dir.path(), port, http);
    let at = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let (b, p, s) = (at(free_port()), at(free_port()), at(free_port()));
    let broker = Alone::start(&file, &["broker", "--http", &b.to_string()]);
    let _payment = Alone::start(&file, &["service", "payment", "--http", &p.to_string()]);
    let args = ["barista", "--station", "bar-1", "--http", &s.to_string()];
    let _station = Alone::start(&file, &args);

    for (addr, name) in [(b, "broker"), (p, "payment"), (s, "barista-device-bar-1")] {
        let ready = ready_at(addr, 200).await;
        assert_eq!(ready["ready"], true, "{ready}");
        assert_eq!(check_names(&ready), [name], "{ready}");
        let healthz = milo::http::client::get(addr, "/healthz").await.unwrap();
        assert_eq!(healthz.0, 200);
    }
    // Each process counts its own: payment's and the station's two links each, and the
    // broker's gate every client it let in (those two parts' four links at least).
    assert!(metric(p, "milo_mqtt_connects_total").await >= 2.0);
    assert!(metric(s, "milo_mqtt_connects_total").await >= 2.0);
    assert!(metric(b, "milo_broker_connects_total").await >= 4.0);
    assert_eq!(metric(b, "milo_mqtt_connects_total").await, 0.0);

    drop(broker);
    for addr in [p, s] {
        let lost = ready_at(addr, 503).await;
        let error = lost["error"].as_str().unwrap_or_default();
        assert!(error.contains("broker connection lost"), "{lost}");
    }
}
