//! `GET /metrics` of the whole store, scraped and parsed as Prometheus text (the
//! `prometheus-parse` crate): after N orders, the counters say N orders prepared, each consumer
//! handled N `OrderCreated`, the stage histograms hold N observations, the broker counted
//! publishes, and the commit histograms saw fsyncs. One test in this binary: the metrics are
//! the process's.

mod common;

use std::collections::BTreeMap;

use prometheus_parse::{Sample, Scrape, Value};

const ORDERS: usize = 5;

/// GET /metrics as text, parsed.
async fn scrape(shop: &common::TestShop) -> Scrape {
    let addr = shop.shop.http;
    let reply = milo::http::client::send(addr, "GET", "/metrics", &[], None)
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let kind = reply.header("content-type").unwrap_or_default();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let body = reply.body.as_str().expect("text").to_owned();
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    Scrape::parse(lines).expect("Prometheus text")
}

/// The value of `name` with exactly these labels (among others), if present.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let of =
        |s: &&Sample| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v));
    let found: Vec<&Sample> = scrape.samples.iter().filter(of).collect();
    let total = found.iter().map(|s| match &s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
        Value::Summary(_) => 0.0,
    });
    (!found.is_empty()).then(|| total.sum())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_what_the_orders_did() {
    let shop = common::open().await;
    let mut ids = Vec::new();
    for _ in 0..ORDERS {
        let id = uuid::Uuid::now_v7();
        let body =
            format!(r#"{{"order_id":"{id}","items":[{{"item":"espresso"}}],"customer":"Ana"}}"#);
        let (code, reply) = shop.post("/orders", &body).await;
        assert_eq!(code, 202, "{reply}");
        ids.push(id);
    }
    for id in &ids {
        shop.wait_json(&format!("/orders/{id}"), |o| o["status"] == "prepared")
            .await;
    }
    // Every consumer has handled every order's events by the time analytics counts them all.
    shop.wait_json("/analytics/summary", |s| {
        s["orders"]["by_status"]["prepared"] == ORDERS
    })
    .await;
    let n = ORDERS as f64;
    // The broker's meters come every few seconds: scrape until they are in.
    let last = std::sync::Mutex::new(None);
    let settled = milo_testkit::eventually(milo_testkit::PATIENCE, || {
        let (shop, last) = (&shop, &last);
        async move {
            let s = scrape(shop).await;
            let ok = value(&s, "milo_orders_total", &[("state", "prepared")]) == Some(n)
                && value(&s, "milo_broker_publishes_total", &[]).is_some_and(|v| v > 0.0);
            *last.lock().unwrap() = Some(s);
            ok
        }
    })
    .await;
    let s = last.into_inner().unwrap().expect("one scrape at least");
    let dump: BTreeMap<String, f64> = s
        .samples
        .iter()
        .filter_map(|x| match x.value {
            Value::Counter(v) | Value::Gauge(v) => {
                Some((format!("{} {:?}", x.metric, x.labels), v))
            }
            _ => None,
        })
        .collect();
    assert!(settled, "{dump:#?}");

    for part in ["payment", "inventory", "notification", "analytics"] {
        let handled = value(
            &s,
            "milo_events_handled_total",
            &[
                ("part", part),
                ("type", "OrderCreated"),
                ("outcome", "applied"),
            ],
        );
        assert_eq!(handled, Some(n), "{part}: {dump:#?}");
    }
    let published = value(
        &s,
        "milo_events_published_total",
        &[("part", "order"), ("topic", "orders/created")],
    );
    assert_eq!(published, Some(n), "{dump:#?}");
    for stage in ["created_ready", "ready_prepared", "created_prepared"] {
        let count = value(&s, "milo_order_stage_seconds_count", &[("stage", stage)]);
        assert_eq!(count, Some(n), "{stage}: {dump:#?}");
    }
    let commits = value(&s, "milo_commit_seconds_count", &[("part", "order")]);
    assert!(commits.is_some_and(|c| c >= 1.0), "{dump:#?}");
    assert!(value(&s, "milo_group_size_count", &[("part", "analytics")]).is_some());
    assert!(value(&s, "milo_stock_level", &[("ingredient", "beans_g")]).is_some_and(|v| v > 0.0));
    assert!(value(&s, "milo_station_queue", &[("station", "bar-1")]).is_some());
    assert!(value(&s, "milo_broker_connections", &[]).is_some_and(|v| v > 0.0));
    assert!(value(&s, "milo_mqtt_connects_total", &[("client", "milo-order")]).is_some());
    // Every part shows its dead letters from the start, at zero here.
    for part in milo::shop::services(&shop.config) {
        let letters = value(&s, "milo_dead_letters_total", &[("part", part)]);
        assert_eq!(letters, Some(0.0), "{part}: {dump:#?}");
    }
}
