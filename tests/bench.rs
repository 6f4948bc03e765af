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
}
