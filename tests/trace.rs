//! `milo trace` (the binary) on an order canceled after a payment decline: over MQTT while
//! the store runs, then from the stopped data directory, in both saga modes. The timeline
//! shows the order's creation, the decline, the compensation asked, its confirmations and the
//! cancellation, in that order, with what each consuming part did.

mod common;

use common::cli::{free, milo, Out};
use common::rig::Rig;
use milo::MiloConfig;
use milo_bus::Store;
use milo_contracts::SagaMode;
use serde_json::Value;
use uuid::Uuid;

const ESPRESSO: &str = r#"[{"item":"espresso"}]"#;

/// `milo trace ARGS` with `config` as its configuration file.
async fn trace(config: &MiloConfig, args: &[&str]) -> Out {
    let args: Vec<&str> = ["trace"].into_iter().chain(args.iter().copied()).collect();
    milo(config, "milo.toml", &args).await
}

/// The event types of a timeline, in the order printed.
fn types(doc: &Value) -> Vec<&str> {
    let events = doc["events"].as_array().expect("events");
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

/// The first event of type `kind`.
fn event<'a>(doc: &'a Value, kind: &str) -> &'a Value {
    let events = doc["events"].as_array().unwrap();
    let found = events.iter().find(|e| e["type"] == kind);
    found.unwrap_or_else(|| panic!("no {kind} in {doc:#}"))
}

/// What `part` did with the first event of type `kind`.
fn outcome<'a>(doc: &'a Value, kind: &str, part: &str) -> &'a str {
    let handled = event(doc, kind)["handled"].as_array().unwrap();
    let by = handled.iter().find(|h| h["part"] == part);
    let by = by.unwrap_or_else(|| panic!("{part} does not consume {kind}: {doc:#}"));
    by["outcome"].as_str().unwrap()
}

/// Asserts that the first events of each type in `kinds` come in this order.
fn in_order(doc: &Value, kinds: &[&str]) {
    let seen = types(doc);
    let at: Vec<usize> = kinds
        .iter()
        .map(|k| {
            seen.iter()
                .position(|t| t == k)
                .unwrap_or_else(|| panic!("no {k} in {seen:?}"))
        })
        .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "{kinds:?} not in order: {seen:?}"
    );
}

/// The decline and its compensation, as each mode has them: what must come in order, the
/// compensation asked and confirmed (each marked as compensation), who answers the decline.
fn expected(mode: SagaMode) -> (Vec<&'static str>, Vec<&'static str>, &'static str) {
    match mode {
        // The order service fails the order; payment and inventory undo their part.
        SagaMode::Choreography => (
            vec![
                "OrderCreated",
                "PaymentFailed",
                "OrderFailed",
                "PaymentRefunded",
                "OrderCanceled",
            ],
            vec![
                "OrderFailed",
                "PaymentRefunded",
                "InventoryReleased",
                "OrderCanceled",
            ],
            "order",
        ),
        // The coordinator reserved first, so it only has stock to release.
        SagaMode::Orchestration => (
            vec![
                "OrderCreated",
                "ReserveStock",
                "InventoryReserved",
                "ChargePayment",
                "PaymentFailed",
                "OrderFailed",
                "ReleaseStock",
                "InventoryReleased",
                "OrderCanceled",
            ],
            vec![
                "OrderFailed",
                "ReleaseStock",
                "InventoryReleased",
                "OrderCanceled",
            ],
            "saga",
        ),
    }
}

/// Checks the timeline of a declined order.
fn check_declined(doc: &Value, mode: SagaMode) {
    let (order, compensation, owner) = expected(mode);
    in_order(doc, &order);
    in_order(doc, &["OrderFailed", "InventoryReleased", "OrderCanceled"]);
    for kind in &compensation {
        assert_eq!(event(doc, kind)["compensation"], true, "{kind}: {doc:#}");
    }
    for kind in ["OrderCreated", "PaymentFailed"] {
        assert_eq!(event(doc, kind)["compensation"], false, "{kind}");
    }
    let declined = event(doc, "PaymentFailed");
    assert_eq!(declined["source"], "payment");
    assert!(declined["seq"].as_u64().is_some(), "{declined}");
    assert_eq!(outcome(doc, "PaymentFailed", owner), "applied");
    assert_eq!(outcome(doc, "InventoryReleased", owner), "applied");
    // Each event after the first names a cause that is in the timeline.
    let events = doc["events"].as_array().unwrap();
    let ids: Vec<&Value> = events.iter().map(|e| &e["id"]).collect();
    for (i, e) in events.iter().enumerate() {
        if let Some(cause) = e["causation_id"].as_str() {
            if let Some(at) = ids.iter().position(|id| *id == cause) {
                assert!(at < i, "{} comes before its cause: {doc:#}", e["type"]);
            }
        }
    }
}

async fn declined_order_is_traced_running_and_stopped(mode: SagaMode) {
    let mut r = Rig::full(mode, |c| c.payment.success_rate = 0.0).await;
    let id = r.place(ESPRESSO, None).await;
    r.wait_status(id, "canceled").await;
    let order = id.to_string();

    let live = trace(&r.config, &[&order, "--json"]).await;
    assert_eq!((live.code, live.stderr.as_str()), (0, ""), "{live:?}");
    let doc: Value = serde_json::from_str(&live.stdout).unwrap();
    check_declined(&doc, mode);
    assert!(
        doc["parts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["read"] == "asked"),
        "{doc:#}"
    );

    let text = trace(&r.config, &[&order]).await;
    assert_eq!(text.code, 0, "{text:?}");
    assert!(text.stdout.contains("asked over MQTT: "), "{}", text.stdout);
    let declined = text
        .stdout
        .lines()
        .find(|l| l.contains("PaymentFailed"))
        .unwrap();
    assert!(
        declined.contains(" payment#") && declined.contains(" payments/failed "),
        "{declined}"
    );
    assert!(declined.contains(" caused by "), "{declined}");
    let released = text
        .stdout
        .lines()
        .find(|l| l.contains("InventoryReleased"))
        .unwrap();
    assert!(released.ends_with("  compensation"), "{released}");

    r.stop_all().await;
    let stopped = trace(&r.config, &[&order, "--json"]).await;
    assert_eq!(
        (stopped.code, stopped.stderr.as_str()),
        (0, ""),
        "{stopped:?}"
    );
    let doc: Value = serde_json::from_str(&stopped.stdout).unwrap();
    check_declined(&doc, mode);
    assert!(
        doc["parts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["read"] == "store"),
        "{doc:#}"
    );
    // Every consumer has had its turn by now.
    assert_eq!(outcome(&doc, "OrderCanceled", "analytics"), "applied");
    assert_eq!(outcome(&doc, "OrderCanceled", "notification"), "applied");
    let undo = match mode {
        SagaMode::Choreography => [("OrderFailed", "inventory"), ("OrderFailed", "payment")],
        SagaMode::Orchestration => [("ReleaseStock", "inventory"), ("OrderFailed", "order")],
    };
    for (kind, part) in undo {
        assert_eq!(outcome(&doc, kind, part), "applied", "{part} on {kind}");
    }
    let ids = |d: &Value| -> Vec<String> {
        d["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].to_string())
            .collect()
    };
    let live: Value = serde_json::from_str(&live.stdout).unwrap();
    assert_eq!(ids(&doc), ids(&live), "the same timeline, stopped");

    let text = trace(&r.config, &[&order]).await;
    assert!(
        text.stdout.contains("read from their stores: "),
        "{}",
        text.stdout
    );
    if mode == SagaMode::Choreography {
        held_store_unanswered(&r.config, &order, &text.stdout).await;
    }
    let unknown = Uuid::now_v7().to_string();
    let none = trace(&r.config, &[&unknown]).await;
    assert_eq!((none.code, none.stdout.as_str()), (1, ""), "{none:?}");
    assert!(
        none.stderr
            .contains(&format!("no part knows order {unknown}")),
        "{none:?}"
    );
    let bad = trace(&r.config, &["nope"]).await;
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("invalid value 'nope'"), "{bad:?}");
}

/// A part that holds its store and does not answer (payment's store held here): the others'
/// word is printed, that part's is unknown, and the exit code says so.
async fn held_store_unanswered(config: &MiloConfig, order: &str, whole: &str) {
    let held = Store::open(&config.data_of("payment"), &config.store).unwrap();
    let out = trace(config, &[order]).await;
    drop(held);
    free(&config.data_of("payment")).await;
    assert_eq!(out.code, 3, "{out:?}");
    let said = "milo trace: payment was not read: it holds its store, and payment did not answer";
    assert!(out.stderr.starts_with(said), "{out:?}");
    assert!(
        out.stdout.contains("not read: payment: it holds its store"),
        "{out:?}"
    );
    // Time, producer, type, topic and id of each event line.
    let events = |text: &str| -> Vec<String> {
        let lines = text
            .lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()));
        let head = |l: &str| l.split_whitespace().take(5).collect::<Vec<_>>().join(" ");
        lines.map(head).collect()
    };
    // Payment's own events are missing; every other one is there, and payment's handling of
    // them is unknown.
    let all: Vec<String> = events(whole)
        .into_iter()
        .filter(|l| !l.contains(" payments/"))
        .collect();
    assert_eq!(events(&out.stdout), all, "{}", out.stdout);
    let created = out
        .stdout
        .lines()
        .skip_while(|l| !l.contains("OrderCreated"))
        .nth(1);
    assert_eq!(
        created.map(str::split_whitespace).map(Vec::from_iter),
        Some(vec!["payment", "unknown:", "not", "read"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn choreography_a_declined_order_is_traced_running_and_stopped() {
    declined_order_is_traced_running_and_stopped(SagaMode::Choreography).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestration_a_declined_order_is_traced_running_and_stopped() {
    declined_order_is_traced_running_and_stopped(SagaMode::Orchestration).await;
}
