//! `GET /metrics`: Prometheus text of this process, from the `metrics` facade every part
//! writes to (rendered by `metrics-exporter-prometheus`, installed once per process by
//! [`install`], before any part starts).
//!
//! What it holds (names are the contract; labels bounded by the configuration):
//! - per part: `milo_events_handled_total{part,type,outcome}` (applied, repeat,
//!   dead_lettered; a type no topic carries counts as `other`),
//!   `milo_events_published_total{part,topic}` (a dead letter's topic as `dlq/<part>`),
//!   `milo_dead_letters_total{part}`,
//!   `milo_group_size{part}` (messages per group commit) and `milo_commit_seconds{part}` (a
//!   group's writes and its fsync) histograms, `milo_backlog{part}` (deliveries waiting),
//!   `milo_mqtt_connects_total{client}` (a reconnect counts one more);
//! - the order flow: `milo_order_stage_seconds{stage}` (`created_ready`, `ready_prepared`,
//!   `created_prepared`, …), `milo_orders_total{state}` (prepared, canceled, rejected),
//!   `milo_stock_level{ingredient}`, `milo_station_queue{station}`,
//!   `milo_machine_faults_total{station}`, `milo_events_lost_total`;
//! - the broker: `milo_broker_publishes_total`, `milo_broker_failed_publishes_total`,
//!   `milo_broker_connections` (rumqttd's router meters), and with the gate
//!   `milo_broker_connects_total`, `milo_broker_refused_total{what}`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use milo_broker::gate::Gate;

/// Buckets of the `_seconds` histograms: 1 ms to 5 minutes.
const SECONDS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
/// Buckets of `milo_group_size`.
const SIZES: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 512.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs this process's recorder (once; later calls return the same handle). `None` if
/// another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full("milo_group_size".into()), &SIZES)
                });
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "No metrics: a recorder could not be installed.");
                    None
                }
            }
        })
        .as_ref()
}

/// `GET /metrics`; `gate` adds the broker gate's counts.
pub fn router(gate: Option<Arc<Gate>>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let gate = gate.clone();
            async move { render(gate.as_deref()) }
        }),
    )
}

fn render(gate: Option<&Gate>) -> Response {
    let Some(handle) = install() else {
        return crate::http::error(StatusCode::SERVICE_UNAVAILABLE, "no metrics recorder");
    };
    metrics::counter!("milo_events_lost_total").absolute(milo_bus::log::lost());
    if let Some(gate) = gate {
        let c = &gate.stats;
        metrics::counter!("milo_broker_connects_total")
            .absolute(c.connects.load(Ordering::Relaxed));
        for (what, n) in [
            ("connect", &c.refused_connects),
            ("handshake", &c.refused_handshakes),
            ("publish", &c.refused_publishes),
            ("subscribe", &c.refused_subscribes),
        ] {
            metrics::counter!("milo_broker_refused_total", "what" => what)
                .absolute(n.load(Ordering::Relaxed));
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}
