//! The offline authorization queue (issue 16, `payment.when_offline = "queue"`): while the
//! card processor is cut (`payment.outage_switch`), card orders are authorized offline and
//! made; once it is back every charge is captured exactly once (the simulated processor's
//! ledger counts the charges of each order), also when the payment service is SIGKILLed in
//! the middle of the captures and started again. Orders over the per-order limit, and the
//! first past the exposure limit, are refused with the reason; a charge the processor
//! declines after the fact is listed by `milo payments declined-offline` and told on
//! `payments/declined_offline`, which analytics takes out of the card money; an authorization
//! whose order fails is voided, never captured; cash goes on; and nobody but payment may say
//! that a payment was taken, or declined. Both saga modes capture and book the same way.

mod common;

use std::path::Path;
use std::time::Duration;

use common::cli;
use common::rig::{all_parts, Rig};
use milo::http::client;
use milo::MiloConfig;
use milo_contracts::events::{PaymentCompleted, PaymentDeclinedOffline};
use milo_contracts::payments::{
    BreakerState, GatewayStatus, WhenOffline, OFFLINE_OVER_EXPOSURE, OFFLINE_OVER_ORDER_LIMIT,
};
use milo_contracts::{topics, Envelope, RawEnvelope, SagaMode};
use milo_payment::{ledger, BreakerConfig, OfflineConfig, SimulatedGateway, Transaction, TxnState};
use milo_testkit::{eventually, Observer, PATIENCE};
use serde_json::Value;
use uuid::Uuid;

const ESPRESSO: &str = r#"[{"item":"espresso"}]"#;
const ORDERS: usize = 50;

/// Queue mode, the processor cut while `dir/processor-cut` exists, its ledger in
/// `dir/ledger.jsonl`, a quick breaker whose timeout outlasts the slowest answer.
fn queue_mode(c: &mut MiloConfig, dir: &Path, timeout_ms: u64) {
    c.payment.when_offline = WhenOffline::Queue;
    c.payment.outage_switch = Some(dir.join("processor-cut"));
    c.payment.ledger = Some(dir.join("ledger.jsonl"));
    c.payment.breaker = BreakerConfig {
        failures: 2,
        window_ms: 60_000,
        cool_down_ms: 300,
        probes: 2,
        timeout_ms,
    };
}

/// The last status heard on `payments/gateway`.
fn status(watch: &Observer) -> Option<GatewayStatus> {
    let last = watch.on(topics::PAYMENTS_GATEWAY).pop()?;
    RawEnvelope::parse(&last).ok()?.decode().ok()
}

/// Waits until the last status heard satisfies `pred`.
async fn wait_status(watch: &Observer, what: &str, pred: impl Fn(&GatewayStatus) -> bool) {
    let seen = eventually(PATIENCE, || {
        std::future::ready(status(watch).is_some_and(|s| pred(&s)))
    })
    .await;
    assert!(
        seen,
        "payments/gateway never {what}; last {:?}",
        status(watch)
    );
}

/// From the status that said the breaker closed with `n` queued to the first that said none
/// is left, by payment's own clock (the envelopes' `occurred_at`).
fn capture_window(watch: &Observer, n: u64) -> Option<Duration> {
    let heard = watch.on(topics::PAYMENTS_GATEWAY).into_iter();
    let statuses: Vec<(time::OffsetDateTime, GatewayStatus)> = heard
        .filter_map(|p| {
            let env = RawEnvelope::parse(&p).ok()?;
            Some((env.occurred_at, env.decode().ok()?))
        })
        .collect();
    let closed = statuses
        .iter()
        .position(|(_, s)| s.state == BreakerState::Closed && s.queued == n)?;
    let empty = statuses[closed..].iter().find(|(_, s)| s.queued == 0)?;
    (empty.0 - statuses[closed].0).try_into().ok()
}

/// The orders heard on `payments/completed`.
fn completed(watch: &Observer) -> Vec<PaymentCompleted> {
    let heard = watch.on(topics::PAYMENTS_COMPLETED).into_iter();
    heard
        .filter_map(|p| RawEnvelope::parse(&p).ok()?.decode().ok())
        .collect()
}

/// Watches the card status and the payments, cuts the processor (`processor-cut` in `dir`)
/// once the breaker is closed, and places [`ORDERS`] orders made offline.
async fn cut_then_fifty(r: &Rig, dir: &Path) -> (Observer, Vec<Uuid>, Duration) {
    let watch = Observer::start(
        &r.config.mqtt,
        &[topics::PAYMENTS_GATEWAY, topics::PAYMENTS_COMPLETED],
    )
    .await;
    wait_status(&watch, "closed", |s| s.state == BreakerState::Closed).await;
    std::fs::write(dir.join("processor-cut"), b"").unwrap();
    let (ids, offline) = fifty_made_offline(r, &watch, ORDERS).await;
    (watch, ids, offline)
}

/// Places `n` card orders during an outage and waits until each is made; how long the one
/// placed with the breaker open took to be authorized offline.
async fn fifty_made_offline(r: &Rig, watch: &Observer, n: usize) -> (Vec<Uuid>, Duration) {
    // The first two time out at the processor and open the breaker: authorized offline too.
    let mut ids = vec![r.place(ESPRESSO, None).await, r.place(ESPRESSO, None).await];
    wait_status(watch, "open", |s| s.state == BreakerState::Open).await;
    let start = time::OffsetDateTime::now_utc();
    let timed = r.place(ESPRESSO, None).await;
    let mut at = None;
    let heard = eventually(PATIENCE, || {
        at = watch.on(topics::PAYMENTS_COMPLETED).iter().find_map(|p| {
            let env = RawEnvelope::parse(p).ok()?;
            let c: PaymentCompleted = env.decode().ok()?;
            (c.order_id == timed).then_some(env.occurred_at)
        });
        std::future::ready(at.is_some())
    })
    .await;
    assert!(heard, "{timed} never authorized offline");
    // Payment's clock is this machine's: from the POST to payment's answer.
    let offline = (at.unwrap() - start).try_into().unwrap_or_default();
    ids.push(timed);
    while ids.len() < n {
        ids.push(r.place(ESPRESSO, None).await);
    }
    for id in &ids {
        r.wait_status(*id, "prepared").await;
    }
    let offline_ids = completed(watch)
        .iter()
        .filter(|c| c.transaction_id.starts_with("offline-"))
        .count();
    assert_eq!(
        offline_ids, n,
        "each announced with an offline transaction id"
    );
    wait_status(watch, "queued {n}", |s| s.queued == n as u64).await;
    (ids, offline)
}

/// The ledger's charges of each order are exactly one; payment's transactions all charged by
/// the processor; analytics' card money is the sum.
async fn captured_once(r: &Rig, store: &milo_bus::Store, ids: &[Uuid], ledger: &Path) {
    let charges = ledger::charges(ledger).unwrap();
    for id in ids {
        assert_eq!(charges.get(id), Some(&1), "charges of {id}: {charges:?}");
        let t: Transaction = store.get(&format!("txn/{id}")).unwrap().unwrap();
        assert_eq!(t.state, TxnState::Charged, "{t:?}");
        let txid = t.transaction_id.unwrap_or_default();
        assert!(txid.starts_with("sim-"), "{id}: {txid}");
    }
    assert_eq!(charges.len(), ids.len(), "{charges:?}");
    assert_eq!(milo_payment::offline::exposure(store).unwrap().count, 0);
    let sum = r.total(ESPRESSO) * ids.len() as i64;
    let booked = eventually(PATIENCE, || async {
        let (_, s) = client::get(r.http("analytics"), "/analytics/summary")
            .await
            .unwrap();
        s["card_cents"].as_i64() == Some(sum)
    })
    .await;
    assert!(booked, "analytics' card money is not {sum}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_orders_in_an_outage_are_made_and_captured_once() {
    fifty_in_an_outage(SagaMode::Choreography).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_orders_in_an_outage_are_made_and_captured_once_orchestration() {
    fifty_in_an_outage(SagaMode::Orchestration).await;
}

async fn fifty_in_an_outage(mode: SagaMode) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let r = Rig::full(mode, |c| queue_mode(c, &d, 300)).await;
    let (watch, ids, offline) = cut_then_fifty(&r, dir.path()).await;

    std::fs::remove_file(dir.path().join("processor-cut")).unwrap();
    wait_status(&watch, "closed", |s| s.state == BreakerState::Closed).await;
    wait_status(&watch, "emptied", |s| s.queued == 0).await;
    let took = capture_window(&watch, ORDERS as u64).expect("the statuses of the captures");
    let rate = ORDERS as f64 / took.as_secs_f64();
    eprintln!(
        "{mode:?}: authorized offline in {offline:?} (POST /orders to payments/completed made); {ORDERS} \
         captured in {took:?} after the breaker closed: {rate:.0} captures/s"
    );
    captured_once(
        &r,
        r.store("payment"),
        &ids,
        &dir.path().join("ledger.jsonl"),
    )
    .await;
}

/// `milo service payment` as its own process, killed on drop.
struct Payment(std::process::Child);

impl Payment {
    fn start(file: &Path, http: u16, log: &Path) -> Payment {
        let child = std::process::Command::new(cli::MILO)
            .env("RUST_LOG", "info,rumqttd=off,sled=warn")
            .arg("--config")
            .arg(file)
            .args(["service", "payment", "--http", &format!("127.0.0.1:{http}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("milo");
        Payment(child)
    }

    /// SIGKILL, and wait until it is gone.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Payment {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until the payment process answers its queue: (declined, queued).
async fn queue_of(http: u16) -> Option<(Value, u64)> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], http));
    let (code, body) = client::get(addr, "/payments/declined-offline").await.ok()?;
    (code == 200).then(|| {
        (
            body["declined"].clone(),
            body["queued"].as_u64().unwrap_or(0),
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_once_across_a_sigkill_of_payment_mid_capture() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let parts: Vec<&str> = all_parts(SagaMode::Choreography)
        .into_iter()
        .filter(|p| *p != "payment")
        .collect();
    // Answers spread over 0.1 to 2 s: the captures end one by one, not all at once.
    let r = Rig::start(SagaMode::Choreography, &parts, |c| {
        queue_mode(c, &d, 3_000);
        (c.payment.min_latency_ms, c.payment.max_latency_ms) = (100, 2_000);
        // The order service waits for payment longer than a charge may take to time out.
        (c.order.retry.max_ms, c.order.retry.attempts) = (2_000, 8);
    })
    .await;
    let file = dir.path().join("payment.toml");
    std::fs::write(&file, r.config.to_toml()).unwrap();
    let (http, log) = (milo_testkit::free_port(), dir.path().join("payment.log"));
    let mut payment = Payment::start(&file, http, &log);
    let (_watch, ids, _) = cut_then_fifty(&r, dir.path()).await;

    // Back: the captures begin; SIGKILL payment once some, not all, are taken.
    std::fs::remove_file(dir.path().join("processor-cut")).unwrap();
    let ledger = dir.path().join("ledger.jsonl");
    let taken = || ledger::charges(&ledger).unwrap().len();
    let some = eventually(PATIENCE, || std::future::ready(taken() >= 5)).await;
    payment.kill();
    let at_kill = taken();
    assert!(some && at_kill < ORDERS, "{at_kill} captured when killed");
    // What the processor took but payment had not recorded yet: captured again after the
    // restart, with the same key.
    cli::free(&r.config.data_of("payment")).await;
    let in_doubt = {
        let store = milo_bus::Store::open(&r.config.data_of("payment"), &r.config.store).unwrap();
        let charged = ledger::charges(&ledger).unwrap();
        let txns = store.scan::<Transaction>("txn/", None, usize::MAX).unwrap();
        let queued = |t: &Transaction| matches!(t.state, TxnState::Offline | TxnState::Capturing);
        // And one for sure: a capture the processor took whose answer was lost with the
        // process (as the processor would have written it).
        let lost = txns
            .iter()
            .find(|(_, t)| queued(t) && !charged.contains_key(&t.order_id))
            .map(|(_, t)| t.clone())
            .expect("captures left");
        let sim = format!("sim-{}", lost.order_id.simple());
        let processor = ledger::Ledger::open(&ledger).unwrap();
        processor
            .charge(lost.order_id, sim, lost.amount_cents)
            .unwrap();
        (txns.iter())
            .filter(|(_, t)| queued(t) && charged.contains_key(&t.order_id))
            .count()
            + 1
    };
    cli::free(&r.config.data_of("payment")).await;
    let mut payment = Payment::start(&file, http, &log);
    let emptied = eventually(PATIENCE, || async {
        queue_of(http).await.is_some_and(|(_, queued)| queued == 0)
    })
    .await;
    assert!(emptied, "the queue never emptied after the restart");
    eprintln!(
        "payment SIGKILLed with {at_kill} of {ORDERS} charged by the processor ({in_doubt} of \
         them not yet recorded by payment); the rest captured after its restart"
    );
    payment.kill();
    cli::free(&r.config.data_of("payment")).await;
    let store = milo_bus::Store::open(&r.config.data_of("payment"), &r.config.store).unwrap();
    captured_once(&r, &store, &ids, &ledger).await;
}

/// The orders' reason, once canceled.
async fn refused_with(r: &Rig, id: Uuid, reason: &str) {
    let order = r.wait_status(id, "canceled").await;
    let why = order["reason"].as_str().unwrap_or_default();
    assert!(why.contains(reason), "{order}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_cash_a_decline_after_the_fact_and_no_forged_payment() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let mut r = Rig::full(SagaMode::Choreography, |c| {
        queue_mode(c, &d, 300);
        c.payment.success_rate = 0.5;
        c.payment.offline = OfflineConfig {
            per_order_limit_cents: 500,
            exposure_limit_cents: 1_000,
        };
    })
    .await;
    let espresso = r.total(ESPRESSO) as u64;
    assert_eq!(1_000 / espresso, 4, "four espressos fill the exposure");
    // Orders the seeded processor will approve, and one it will decline.
    let sim = SimulatedGateway::new(r.config.payment.clone());
    let pick = |approve: bool| loop {
        let id = Uuid::now_v7();
        if sim.would_approve(id) == approve {
            return id;
        }
    };
    let watch = Observer::start(&r.config.mqtt, &[topics::PAYMENTS_GATEWAY]).await;
    let declines = Observer::start(&r.config.mqtt, &[topics::PAYMENTS_DECLINED_OFFLINE]).await;
    wait_status(&watch, "closed", |s| s.state == BreakerState::Closed).await;
    std::fs::write(dir.path().join("processor-cut"), b"").unwrap();
    let declined = pick(false);
    let approved = [pick(true), pick(true), pick(true)];
    for id in [approved[0], approved[1]] {
        r.place(ESPRESSO, Some(id)).await;
        r.wait_status(id, "prepared").await;
    }
    wait_status(&watch, "open", |s| s.state == BreakerState::Open).await;
    let three = r#"[{"item":"espresso","qty":3}]"#;
    let over = r.place(three, None).await;
    refused_with(&r, over, OFFLINE_OVER_ORDER_LIMIT).await;
    for id in [approved[2], declined] {
        r.place(ESPRESSO, Some(id)).await;
        r.wait_status(id, "prepared").await;
    }
    let past = r.place(ESPRESSO, None).await;
    refused_with(&r, past, OFFLINE_OVER_EXPOSURE).await;
    wait_status(&watch, "full", |s| s.queued_cents == 4 * espresso).await;
    // The counter says how cards are taken.
    let out = cli::milo(
        &r.config,
        "pos.toml",
        &["pos", "order", "espresso", "--cash"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("cards are taken offline"), "{out:?}");
    assert!(out.stdout.contains("4 queued (10.00)"), "{out:?}");

    // Nobody but payment may say an order was paid.
    let forged = PaymentCompleted {
        order_id: past,
        amount_cents: espresso,
        transaction_id: format!("offline-{}", past.simple()),
        payment: Default::default(),
    };
    let pos = Observer::start(&milo_testkit::mqtt_as(&r.config, "pos"), &[]).await;
    let as_payment = Envelope::new("payment", past, None, forged).to_json();
    pos.publish(topics::PAYMENTS_COMPLETED, &as_payment);
    r.wait_refused("pos (pos) may not publish on payments/completed")
        .await;
    // Nor that a charge was declined after the fact (it would take money out of the books).
    let forged = PaymentDeclinedOffline {
        order_id: approved[0],
        amount_cents: espresso,
        customer: None,
        reason: "forged".into(),
        at: String::new(),
    };
    let as_payment = Envelope::new("payment", approved[0], None, forged).to_json();
    pos.publish(topics::PAYMENTS_DECLINED_OFFLINE, &as_payment);
    r.wait_refused("pos (pos) may not publish on payments/declined_offline")
        .await;

    // Back: three captured, one declined after the fact, listed for the manager.
    std::fs::remove_file(dir.path().join("processor-cut")).unwrap();
    wait_status(&watch, "emptied", |s| {
        s.state == BreakerState::Closed && s.queued == 0
    })
    .await;
    let payment = r.http("payment").to_string();
    let args = ["payments", "declined-offline", "--http", payment.as_str()];
    let out = cli::milo(&r.config, "ops.toml", &args).await;
    assert_eq!(out.code, 0, "{out:?}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(&declined.to_string()));
    let line = line.unwrap_or_else(|| panic!("{declined} not listed: {out:?}"));
    assert!(line.contains("2.50") && line.contains("Ana"), "{line}");
    assert!(
        line.contains("declined by the (simulated) issuer"),
        "{line}"
    );
    assert!(out.stdout.contains("1 declined offline"), "{out:?}");
    assert_eq!(
        r.order(declined).await["status"],
        "prepared",
        "the drink stands"
    );
    for id in approved {
        let t: Transaction = r
            .store("payment")
            .get(&format!("txn/{id}"))
            .unwrap()
            .unwrap();
        assert_eq!(t.state, TxnState::Charged, "{t:?}");
    }
    let ledger = ledger::charges(&dir.path().join("ledger.jsonl")).unwrap();
    assert_eq!(ledger.len(), 3, "{ledger:?}");
    assert!(approved.iter().all(|id| ledger.get(id) == Some(&1)));
    let t: Transaction = r
        .store("payment")
        .get(&format!("txn/{declined}"))
        .unwrap()
        .unwrap();
    assert_eq!(t.state, TxnState::DeclinedOffline, "{t:?}");
    // The decline is a fact: told once, and analytics' card money is what was captured.
    let told = eventually(PATIENCE, || {
        std::future::ready(!declines.on(topics::PAYMENTS_DECLINED_OFFLINE).is_empty())
    })
    .await;
    assert!(told, "no payments/declined_offline");
    let heard = declines.on(topics::PAYMENTS_DECLINED_OFFLINE);
    assert_eq!(heard.len(), 1, "only the real one reached the broker");
    let env = RawEnvelope::parse(&heard[0]).unwrap();
    assert_eq!(env.source, "payment");
    let fact: PaymentDeclinedOffline = env.decode().unwrap();
    assert_eq!((fact.order_id, fact.amount_cents), (declined, espresso));
    assert_eq!(fact.customer.as_deref(), Some("Ana"));
    assert!(fact.reason.contains("declined"), "{fact:?}");
    let captured = 3 * espresso as i64;
    let last = std::sync::Mutex::new(Value::Null);
    let booked = eventually(PATIENCE, || async {
        let (_, s) = client::get(r.http("analytics"), "/analytics/summary")
            .await
            .unwrap();
        let done = s["declined_offline_cents"].as_i64() == Some(espresso as i64);
        *last.lock().unwrap() = s;
        done
    })
    .await;
    let summary = last.into_inner().unwrap();
    assert!(booked, "the decline never booked: {summary}");
    assert_eq!(summary["declined_offline"], 1, "{summary}");
    assert_eq!(summary["card_cents"], captured, "{summary}");
    assert_eq!(
        summary["charged_cents"].as_i64().unwrap() - summary["refunded_cents"].as_i64().unwrap(),
        captured + espresso as i64 + summary["cash_cents"].as_i64().unwrap(),
        "{summary}"
    );
    // Cash with the processor down, in queue mode too (the POS order above).
    let cash = r
        .store("payment")
        .scan::<Transaction>("txn/", None, 100)
        .unwrap();
    assert!(cash
        .iter()
        .any(|(_, t)| t.method.as_str() == "cash" && t.state == TxnState::Charged));
    // Payment stopped: the list is read from its store.
    r.down("payment", false).await;
    cli::free(&r.config.data_of("payment")).await;
    let args = ["payments", "declined-offline", "--json"];
    let out = cli::milo(&r.config, "ops.toml", &args).await;
    assert_eq!(out.code, 0, "{out:?}");
    let list: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        list["declined"][0]["order_id"],
        declined.to_string(),
        "{list}"
    );
    assert_eq!(list["declined"][0]["customer"], "Ana", "{list}");
    assert_eq!(list["queued"], 0, "{list}");
}

/// An order authorized offline that fails before its drink is made (canceled at the counter
/// while its ticket waits at the bar): nothing was taken, 0 refunded, off the exposure at
/// once, and once the processor is back its key is voided, never captured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_authorization_compensated_is_never_captured() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    // No barista device: the ticket waits at the barista service.
    let parts: Vec<&str> = all_parts(SagaMode::Choreography)
        .into_iter()
        .filter(|p| *p != "device")
        .collect();
    let r = Rig::start(SagaMode::Choreography, &parts, |c| queue_mode(c, &d, 300)).await;
    let watch = Observer::start(&r.config.mqtt, &[topics::PAYMENTS_GATEWAY]).await;
    wait_status(&watch, "closed", |s| s.state == BreakerState::Closed).await;
    std::fs::write(dir.path().join("processor-cut"), b"").unwrap();
    let (kept, canceled) = (r.place(ESPRESSO, None).await, r.place(ESPRESSO, None).await);
    for id in [kept, canceled] {
        r.wait_status(id, "ready").await;
    }
    wait_status(&watch, "queued 2", |s| s.queued == 2).await;
    let (code, body) = r.cancel(canceled).await;
    assert!(code == 200 || code == 202, "{code} {body}");
    let order = r.wait_status(canceled, "canceled").await;
    assert_eq!(order["compensation"]["refunded_cents"], 0, "{order}");
    wait_status(&watch, "queued 1", |s| s.queued == 1).await;
    let t: Transaction = r
        .store("payment")
        .get(&format!("txn/{canceled}"))
        .unwrap()
        .unwrap();
    assert_eq!(t.state, TxnState::Voided, "{t:?}");

    std::fs::remove_file(dir.path().join("processor-cut")).unwrap();
    wait_status(&watch, "emptied", |s| {
        s.state == BreakerState::Closed && s.queued == 0
    })
    .await;
    let voided = eventually(PATIENCE, || {
        let t: Option<Transaction> = r.store("payment").get(&format!("txn/{canceled}")).unwrap();
        std::future::ready(t.is_some_and(|t| !t.reversing))
    })
    .await;
    assert!(voided, "the void of {canceled} never confirmed");
    let ledger = ledger::read(&dir.path().join("ledger.jsonl")).unwrap();
    let charged = ledger::charges(&dir.path().join("ledger.jsonl")).unwrap();
    assert_eq!(charged.get(&canceled), None, "{ledger:?}");
    assert_eq!(charged.get(&kept), Some(&1), "{ledger:?}");
    assert!(
        ledger.contains(&ledger::Entry::Void { order_id: canceled }),
        "{ledger:?}"
    );
    assert_eq!(r.money(canceled), 0);
}

/// Orchestration too: the coordinator asks for the charge, and a decline after the fact is
/// told and booked the same way (the coordinator's `ChargePayment` carries no customer name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decline_after_the_fact_is_booked_orchestration() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let r = Rig::full(SagaMode::Orchestration, |c| {
        queue_mode(c, &d, 300);
        c.payment.success_rate = 0.5;
    })
    .await;
    let espresso = r.total(ESPRESSO);
    let sim = SimulatedGateway::new(r.config.payment.clone());
    let pick = |approve: bool| loop {
        let id = Uuid::now_v7();
        if sim.would_approve(id) == approve {
            return id;
        }
    };
    let watch = Observer::start(
        &r.config.mqtt,
        &[topics::PAYMENTS_GATEWAY, topics::PAYMENTS_DECLINED_OFFLINE],
    )
    .await;
    wait_status(&watch, "closed", |s| s.state == BreakerState::Closed).await;
    std::fs::write(dir.path().join("processor-cut"), b"").unwrap();
    let (declined, approved) = (pick(false), pick(true));
    for id in [declined, approved] {
        r.place(ESPRESSO, Some(id)).await;
    }
    for id in [declined, approved] {
        r.wait_status(id, "prepared").await;
    }
    wait_status(&watch, "queued 2", |s| s.queued == 2).await;
    std::fs::remove_file(dir.path().join("processor-cut")).unwrap();
    wait_status(&watch, "emptied", |s| {
        s.state == BreakerState::Closed && s.queued == 0
    })
    .await;
    let told = eventually(PATIENCE, || {
        std::future::ready(!watch.on(topics::PAYMENTS_DECLINED_OFFLINE).is_empty())
    })
    .await;
    assert!(told, "no payments/declined_offline");
    let heard = watch.on(topics::PAYMENTS_DECLINED_OFFLINE);
    let fact: PaymentDeclinedOffline = RawEnvelope::parse(&heard[0]).unwrap().decode().unwrap();
    assert_eq!(
        (fact.order_id, fact.amount_cents),
        (declined, espresso as u64)
    );
    let last = std::sync::Mutex::new(Value::Null);
    let booked = eventually(PATIENCE, || async {
        let (_, s) = client::get(r.http("analytics"), "/analytics/summary")
            .await
            .unwrap();
        let done = s["declined_offline"] == 1 && s["card_cents"].as_i64() == Some(espresso);
        *last.lock().unwrap() = s;
        done
    })
    .await;
    let summary = last.into_inner().unwrap();
    assert!(booked, "card money is not the approved espresso: {summary}");
    assert_eq!(summary["declined_offline_cents"], espresso, "{summary}");
    assert_eq!(summary["revenue_cents"], espresso, "{summary}");
    assert_eq!(
        r.order(declined).await["status"],
        "prepared",
        "the drink stands"
    );
}
