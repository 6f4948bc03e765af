//! The HTTP API's rules (issue 13): bearer tokens for every change, a time limit on every
//! request (and on slow clients), request logs that name the token and never show it.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Mutex, Once};
use std::time::Instant;

use axum::body::Bytes;
use axum::routing::{get, post};
use axum::Router;
use common::{open_with, TestShop};
use milo::http::client::{self, FullReply};
use milo::MiloConfig;
use milo_bus::{Commands, Secret, ShutdownTrigger, Store};
use milo_testkit::{eventually, PATIENCE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::Receiver;
use uuid::Uuid;

const POS: &str = "pos-1-token-0123456789abcdef";
const KIOSK: &str = "kiosk-1-token-fedcba9876543210";

/// Every log line of this test binary, as the fmt layer writes it.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Sink;

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends this binary's logs (INFO and up) to [`LOGS`].
fn capture_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info,rumqttd=off"))
            .with_ansi(false)
            .with_writer(|| Sink)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// Waits until a log line has every one of `parts`; that line.
async fn log_line(parts: &[&str]) -> String {
    let found = |text: String| {
        let line = text.lines().find(|l| parts.iter().all(|p| l.contains(p)));
        line.map(str::to_owned)
    };
    let there = eventually(PATIENCE, || std::future::ready(found(logs()).is_some())).await;
    assert!(there, "no log line with {parts:?}; logs:\n{}", logs());
    found(logs()).unwrap()
}

/// The store with two tokens, which makes them required on loopback too.
async fn guarded() -> TestShop {
    open_with(|c| {
        c.http.tokens.insert("pos-1".into(), Secret::new(POS));
        c.http.tokens.insert("kiosk-1".into(), Secret::new(KIOSK));
    })
    .await
}

async fn send(addr: SocketAddr, method: &str, path: &str, auth: &str, body: &str) -> FullReply {
    let headers: &[(&str, &str)] = if auth.is_empty() {
        &[]
    } else {
        &[("authorization", auth)]
    };
    client::send(addr, method, path, headers, Some(body.as_bytes()))
        .await
        .unwrap()
}

fn espresso(id: Uuid) -> String {
    format!(r#"{{"order_id":"{id}","items":[{{"item":"espresso","qty":1}}],"customer":"Ana"}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_need_a_known_token_and_reads_stay_open() {
    capture_logs();
    let t = guarded().await;
    let http = t.shop.http;
    let id = Uuid::now_v7();
    let wrong = format!("Bearer {POS}x");
    let basic = format!("Basic {POS}");
    for auth in ["", wrong.as_str(), POS, basic.as_str()] {
        let r = send(http, "POST", "/orders", auth, &espresso(id)).await;
        assert_eq!(r.status, 401, "{auth:?}: {:?}", r.body);
        assert!(r.body["error"].is_string(), "{auth:?}: {:?}", r.body);
        let challenge = r.header("www-authenticate").unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{auth:?}: {:?}", r.headers);
    }
    let cancel = format!("/orders/{id}/cancel");
    let r = send(http, "POST", &cancel, "", "").await;
    assert_eq!(r.status, 401, "{:?}", r.body);
    // Refused requests changed nothing, and reads need no token.
    assert_eq!(t.get(&format!("/orders/{id}")).await.0, 404);
    assert_eq!(t.get("/orders?limit=5").await.0, 200);
    assert_eq!(t.get("/analytics/summary").await.0, 200);

    let r = send(
        http,
        "POST",
        "/orders",
        &format!("Bearer {POS}"),
        &espresso(id),
    )
    .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(t.get(&format!("/orders/{id}")).await.0, 200);
    // The scheme is case-insensitive; each token is its own.
    let r = send(http, "POST", &cancel, &format!("bearer {KIOSK}"), "").await;
    assert!(
        matches!(r.status, 200 | 202 | 409),
        "{}: {:?}",
        r.status,
        r.body
    );

    let big = format!(
        r#"{{"items":[],"customer":"{}"}}"#,
        "a".repeat(milo::http::MAX_BODY)
    );
    let r = send(http, "POST", "/orders", &format!("Bearer {POS}"), &big).await;
    assert_eq!(r.status, 413, "{:?}", r.body);
    assert!(r.body["error"].is_string(), "{:?}", r.body);

    let cancel_path = format!("path={cancel}");
    let line = log_line(&[&cancel_path, "token=\"kiosk-1\"", "status=", "latency_ms="]).await;
    assert!(
        line.contains("INFO") && line.contains("peer=127.0.0.1:"),
        "{line}"
    );
    log_line(&["refused", "path=/orders", "peer=127.0.0.1:", "WARN"]).await;
    let all = logs();
    assert!(
        !all.contains(POS) && !all.contains(KIOSK),
        "a token was logged"
    );
    assert!(
        !format!("{:?}", t.config).contains(POS),
        "a token in Debug output"
    );
}

/// What [`unanswered`] keeps alive.
type Unanswered = (
    ShutdownTrigger,
    Receiver<milo_order::Command>,
    tempfile::TempDir,
);

/// `config` with a short time limit, and its order routes served by an order service that
/// never runs: nothing will ever answer a placement.
async fn unanswered() -> (SocketAddr, MiloConfig, Unanswered) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = milo_testkit::config(dir.path());
    config.http.request_timeout_ms = 600;
    let store = Store::open(&config.data_of("order"), &config.store).unwrap();
    // The queue is kept, never read: the service is "running" but stuck.
    let (commands, queue) = Commands::<milo_order::Command>::channel();
    let router = milo_order::http::router(store, commands, config.http.answer_within());
    let (trigger, sd) = ShutdownTrigger::new();
    let (addr, _) = milo::http::serve(config.http.listen, router, &config.http, sd)
        .await
        .unwrap();
    (addr, config, (trigger, queue, dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_order_gets_a_504_naming_it_within_the_limit() {
    let (http, config, _kept) = unanswered().await;
    let id = Uuid::now_v7();
    let started = Instant::now();
    let body = espresso(id);
    let placing = client::post(http, "/orders", &body);
    let (status, body) = tokio::time::timeout(PATIENCE, placing)
        .await
        .expect("POST /orders never answered")
        .unwrap();
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["order_id"], id.to_string(), "{body}");
    assert_eq!(body["status"], "unknown", "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("order_id"),
        "{body}"
    );
    assert!(
        started.elapsed() >= config.http.answer_within(),
        "answered before the wait"
    );

    let path = format!("/orders/{id}/cancel");
    let cancel = client::post(http, &path, "");
    let (status, body) = tokio::time::timeout(PATIENCE, cancel)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 504, "{body}");
}

/// A server of `config` for the limits: a route that never answers, one that reads a body.
async fn limited(config: &MiloConfig, sd: milo_bus::Shutdown) -> SocketAddr {
    let router = Router::new()
        .route("/stuck", get(std::future::pending::<()>))
        .route(
            "/echo",
            post(|body: Bytes| async move { body.len().to_string() }),
        );
    let any = ([127, 0, 0, 1], 0).into();
    milo::http::serve(any, router, &config.http, sd)
        .await
        .unwrap()
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_and_no_slow_client_holds_on_past_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = milo_testkit::config(dir.path());
    config.http.request_timeout_ms = 300;
    let (_trigger, sd) = ShutdownTrigger::new();
    let http = limited(&config, sd).await;

    let stuck = tokio::time::timeout(PATIENCE, client::get(http, "/stuck")).await;
    let (status, body) = stuck.expect("GET /stuck never answered").unwrap();
    assert_eq!(status, 504, "{body}");
    assert!(body["error"].is_string(), "{body}");

    // A body that stops coming: 408, and the connection is closed.
    let mut slow = TcpStream::connect(http).await.unwrap();
    let head = "POST /echo HTTP/1.1\r\nHost: milo\r\nContent-Length: 100\r\n\r\n0123456789";
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(PATIENCE, slow.read_to_end(&mut raw)).await;
    read.expect("a slow body held the connection").unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains(r#"{"error":"#), "{text}");

    // A request head that stops coming: the connection is closed.
    let mut slow = TcpStream::connect(http).await.unwrap();
    slow.write_all(b"GET /stuck HTTP/1.1\r\nHost: mi")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(PATIENCE, slow.read_to_end(&mut raw)).await;
    assert!(read.is_ok(), "a slow request head held the connection");

    // A connection kept open with nothing sent is closed too.
    let mut idle = TcpStream::connect(http).await.unwrap();
    let read = tokio::time::timeout(PATIENCE, idle.read_to_end(&mut Vec::new())).await;
    assert!(read.is_ok(), "an idle connection was kept");

    // And a client that is quick enough is served.
    let quick = client::post(http, "/echo", "0123456789").await.unwrap();
    assert_eq!(quick, (200, serde_json::json!(10)));
}

#[test]
fn validate_refuses_http_beyond_loopback_without_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("milo.toml");
    let open = "[http]\nlisten = \"0.0.0.0:8080\"\n";
    std::fs::write(&file, open).unwrap();
    let err = milo::load_config(Some(&file)).unwrap_err();
    assert_eq!(err.key, "http.listen", "{err}");
    assert!(err.message.contains("[http.tokens]"), "{err}");
    let token = format!("{open}[http.tokens]\npos-1 = \"{POS}\"\n");
    std::fs::write(&file, token).unwrap();
    let config = milo::load_config(Some(&file)).unwrap();
    assert!(config.http.tokens.contains_key("pos-1"));
}
