//! `milo replay` (the binary) on a stopped store's data directory: re-run by the same Milo
//! with the same configuration nothing differs; with a shop that had only three cups, the
//! third order would have emptied the stock and exactly the orders after it been refused; a running store, a scratch
//! directory in use and a `--to` before any order are said plainly.

mod common;

use common::cli::{milo, Out};
use common::rig::Rig;
use milo::MiloConfig;
use milo_contracts::SagaMode;
use serde_json::Value;
use uuid::Uuid;

const ESPRESSO: &str = r#"[{"item":"espresso"}]"#;
const ORDERS: usize = 6;

/// `milo replay ARGS` with `config` as its configuration file, written as `file`.
async fn replay(config: &MiloConfig, file: &str, args: &[&str]) -> Out {
    let args: Vec<&str> = ["replay"].into_iter().chain(args.iter().copied()).collect();
    milo(config, file, &args).await
}

/// The report of a JSON run.
fn report(out: &Out) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

/// The report's line for `part`.
fn part<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let parts = doc["parts"].as_array().unwrap();
    let found = parts.iter().find(|p| p["part"] == name);
    found.unwrap_or_else(|| panic!("{name} not re-run: {doc:#}"))
}

async fn replay_finds_exactly_what_a_change_would_change(mode: SagaMode) {
    let mut r = Rig::full(mode, |_| {}).await;
    let mut ids = Vec::new();
    for _ in 0..ORDERS {
        let id = r.place(ESPRESSO, None).await;
        r.wait_status(id, "prepared").await;
        ids.push(id);
    }
    let scratch = tempfile::tempdir().unwrap();
    let into = |name: &str| scratch.path().join(name).display().to_string();

    // Not while it runs: the stores are in use.
    let running = replay(&r.config, "same.toml", &["--into", &into("running")]).await;
    assert_eq!(running.code, 2, "{running:?}");
    assert!(
        running.stderr.contains(" runs (its store is in use)"),
        "{running:?}"
    );

    r.stop_all().await;

    // The same Milo and configuration: every answer and kept record is the same.
    let same = replay(&r.config, "same.toml", &["--into", &into("same"), "--json"]).await;
    assert_eq!(same.code, 0, "{same:?}");
    let doc = report(&same);
    assert_eq!(doc["orders"], serde_json::json!({}), "{doc:#}");
    assert_eq!(doc["shop"], serde_json::json!([]), "{doc:#}");
    let rerun = match mode {
        SagaMode::Choreography => vec!["inventory", "notification", "analytics"],
        SagaMode::Orchestration => vec!["inventory", "saga", "notification", "analytics"],
    };
    let names: Vec<&str> = doc["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["part"].as_str().unwrap())
        .collect();
    assert_eq!(names, rerun);
    for name in &rerun {
        let p = part(&doc, name);
        // Each order's events reached the part, and its whole history was compared.
        assert!(p["rerun"].as_u64().unwrap() >= ORDERS as u64, "{p}");
        assert_eq!(p["compared"], p["rerun"], "{p}");
        assert!(p["records"].as_u64().unwrap() > 0, "{p}");
    }
    // The answers compared are real ones: inventory reserved each order's stock.
    let inventory = part(&doc, "inventory");
    assert_eq!(inventory["answers_differ"], 0);
    let text = replay(&r.config, "same.toml", &["--into", &into("same-text")]).await;
    assert_eq!(text.code, 0, "{text:?}");
    assert!(text.stdout.contains("No difference"), "{}", text.stdout);
    assert!(
        text.stdout.contains("order         not re-run: "),
        "{}",
        text.stdout
    );

    // The scratch directory is the replay's own.
    let again = replay(&r.config, "same.toml", &["--into", &into("same")]).await;
    assert_eq!(again.code, 2, "{again:?}");
    assert!(again.stderr.contains("is not empty"), "{again:?}");

    // Had the shop opened with three cups, inventory would have refused the later orders.
    let mut three_cups = r.config.clone();
    three_cups.inventory.stock.insert("cups".into(), 3);
    let changed = replay(
        &three_cups,
        "three-cups.toml",
        &["--into", &into("cups"), "--json"],
    )
    .await;
    assert_eq!(changed.code, 1, "{changed:?}");
    let doc = report(&changed);
    let orders = doc["orders"].as_object().unwrap();
    let by_inventory: Vec<Uuid> = orders
        .iter()
        .filter(|(_, ds)| {
            ds.as_array().unwrap().iter().any(|d| {
                d["what"] == "answer"
                    && d["part"] == "inventory"
                    && d["was"].to_string().contains("InventoryReserved")
                    && d["now"].to_string().contains("InventoryFailed")
            })
        })
        .map(|(id, _)| id.parse().unwrap())
        .collect();
    let mut later = ids[3..].to_vec();
    later.sort();
    assert_eq!(by_inventory, later, "{doc:#}");
    // The third order would have taken the last cup: inventory says stock is out.
    let third = orders[&ids[2].to_string()].to_string();
    assert!(
        third.contains("StockLow") && third.contains(r#"\"level\":\"out\""#),
        "{third}"
    );
    assert_eq!(orders.len(), ORDERS - 2, "{doc:#}");
    // Only inventory answers otherwise: the other parts were handed the original events.
    for (_, ds) in orders {
        for d in ds.as_array().unwrap() {
            assert_eq!(d["part"], "inventory", "{d}");
        }
    }
    assert!(
        doc["shop"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["what"] == "record" && d["part"] == "inventory"),
        "the stock kept differs: {doc:#}"
    );
    let text = replay(
        &three_cups,
        "three-cups.toml",
        &["--into", &into("cups-text")],
    )
    .await;
    assert_eq!(text.code, 1, "{text:?}");
    assert!(
        text.stdout
            .contains(&format!("{} orders would have changed", ORDERS - 2)),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains(&format!("  order {}", ids[5])),
        "{}",
        text.stdout
    );

    // Until a time before the first order: nothing of it is re-run, records not compared.
    let early = replay(
        &r.config,
        "same.toml",
        &[
            "--into",
            &into("early"),
            "--to",
            "2000-01-01T00:00:00Z",
            "--json",
        ],
    )
    .await;
    assert_eq!(early.code, 0, "{early:?}");
    let doc = report(&early);
    assert_eq!(part(&doc, "inventory")["rerun"], 0, "{doc:#}");
    assert_eq!(part(&doc, "inventory")["records"], Value::Null, "{doc:#}");

    // What cannot be asked is refused with the reason.
    for (args, says) in [
        (vec!["--part", "payment"], "payment cannot be replayed: "),
        (vec!["--part", "nope"], "no such part"),
        (vec!["--from", "yesterday"], "is not an RFC 3339 time"),
    ] {
        let mut all = vec!["--into", "/nonexistent/never"];
        all.extend(args);
        let out = replay(&r.config, "same.toml", &all).await;
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains(says), "{says}: {out:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_finds_exactly_what_a_change_would_change_in_choreography() {
    replay_finds_exactly_what_a_change_would_change(SagaMode::Choreography).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_finds_exactly_what_a_change_would_change_in_orchestration() {
    replay_finds_exactly_what_a_change_would_change(SagaMode::Orchestration).await;
}

/// Orders placed at once, so events of many orders interleave in every log, some declined and
/// some short of cups: the same Milo still answers every event as it did (the replay hands
/// events in the order they were handled, and masks the ids the part made itself, even where
/// another part's event names one as its cause).
#[tokio::test(flavor = "multi_thread")]
async fn a_busy_period_replays_with_no_difference() {
    let mut r = Rig::full(SagaMode::Choreography, |c| {
        c.payment.success_rate = 0.8;
        c.inventory.stock.insert("cups".into(), 30);
    })
    .await;
    let placed = place_at_once(&r, 40).await;
    let mut short = 0;
    for id in &placed {
        let o = r
            .wait_order(*id, "done", |o| {
                o["status"] == "prepared" || o["status"] == "canceled"
            })
            .await;
        short += usize::from(
            o["reason"]
                .as_str()
                .is_some_and(|r| r.contains("out of stock")),
        );
    }
    assert!(short > 0, "no order was short of cups");
    r.stop_all().await;
    let scratch = tempfile::tempdir().unwrap();
    let into = scratch.path().join("busy").display().to_string();
    let out = replay(&r.config, "same.toml", &["--into", &into]).await;
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("No difference"), "{}", out.stdout);
}

/// Places `n` orders, all in flight at once.
async fn place_at_once(r: &Rig, n: usize) -> Vec<Uuid> {
    let mut set = tokio::task::JoinSet::new();
    let (addr, ids): (_, Vec<Uuid>) = (r.http("order"), (0..n).map(|_| Uuid::now_v7()).collect());
    for id in ids.clone() {
        set.spawn(async move {
            let body = format!(r#"{{"order_id":"{id}","items":{ESPRESSO},"customer":"Ana"}}"#);
            let (code, reply) = milo::http::client::post(addr, "/orders", &body)
                .await
                .unwrap();
            // Refused at the counter once the shop knows it is out of cups: nothing kept.
            assert!(code == 202 || code == 409, "{code} {reply}");
            (code == 202).then_some(id)
        });
    }
    let mut placed = Vec::new();
    while let Some(done) = set.join_next().await {
        placed.extend(done.unwrap());
    }
    placed
}
