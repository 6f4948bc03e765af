//! `milo bench` at CI's size: 200 orders from 8 POS clients on 2 stations, in-process, each
//! client waiting for its order to be prepared. It asserts that every order completed and that
//! every figure was measured, never how fast: the machine running CI is not a benchmark. The
//! figures go to stderr for the log (`cargo test` shows them when the test fails, and with
//! `--nocapture`).

use std::time::Duration;

use milo::bench::{self, BenchOptions, Until};
use serde_json::Value;

/// The JSON paths of every `null` (a figure not measured) under `v`.
fn nulls(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Null => out.push(path.to_owned()),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| nulls(v, &format!("{path}.{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| nulls(v, &format!("{path}[{i}]"), out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_bench_completes_every_order_and_reports_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    let base = milo_testkit::config(dir.path());
    let options = BenchOptions {
        orders: 200,
        concurrency: 8,
        stations: 2,
        until: Until::Prepared,
        fsync: true,
        security: true,
        timeout: Duration::from_secs(120),
        progress: false,
        keep: None,
    };
    let report = bench::run(&base, options).await.unwrap();
    let text = report.to_string();
    let json = serde_json::to_value(&report).unwrap();
    eprintln!("{text}\n{json}");

    let o = report.orders;
    assert_eq!(o.completed, 200, "{text}");
    assert_eq!(
        (o.placed, o.failed, o.timed_out, o.not_placed),
        (200, 0, 0, 0)
    );
    let made: usize = report.prepared_by_station.values().sum();
    assert_eq!(made, 200, "{text}");
    assert!(report
        .prepared_by_station
        .keys()
        .all(|s| s == "bar-1" || s == "bar-2"));

    let mut missing = Vec::new();
    nulls(&json, "", &mut missing);
    assert!(missing.is_empty(), "figures not measured: {missing:?}");
    assert!(!text.contains("n/a"), "{text}");
    for label in [
        "completed",
        "to ready",
        "to prepared",
        "per order",
        "stores",
        "syncs/order",
        "stations",
        "open",
        "rss",
    ] {
        assert!(text.contains(label), "no {label:?} in\n{text}");
    }
    let per = report.per_order.unwrap();
    assert!(per.store_syncs > 0.0 && per.store_fdatasyncs > 0.0 && per.store_bytes > 0.0);
    assert!(
        report.stores.len() >= 8,
        "a store per part: {:?}",
        report.stores
    );
    assert!(report.rss_idle_kib > 0 && report.rss_peak_kib >= report.rss_idle_kib);
    assert_eq!(report.past_orders, 0, "a fresh store");
    assert!(report.open_ms > 0.0 && report.disk_bytes > 0, "{text}");
}

/// `--keep`: a second run opens the store the first one left, and counts its orders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_store_opens_with_its_past_orders() {
    let dir = tempfile::tempdir().unwrap();
    let base = milo_testkit::config(dir.path());
    let kept = dir.path().join("kept");
    let run = |orders| BenchOptions {
        orders,
        concurrency: 4,
        stations: 1,
        until: Until::Prepared,
        fsync: true,
        security: true,
        timeout: Duration::from_secs(120),
        progress: false,
        keep: Some(kept.clone()),
    };
    let first = bench::run(&base, run(30)).await.unwrap();
    assert_eq!(first.orders.completed, 30, "{first}");
    assert_eq!(first.past_orders, 0);
    let second = bench::run(&base, run(20)).await.unwrap();
    eprintln!("{second}");
    assert_eq!(second.orders.completed, 20, "{second}");
    assert_eq!(second.past_orders, 30, "{second}");
    assert!(second.disk_bytes >= first.disk_bytes / 2, "{second}");
    let per = second.disk_per_stored_order().unwrap();
    assert!(per > 0.0, "{second}");
}
