//! The card processor goes down (issue 16): the payment service's circuit breaker opens after
//! the configured failures, card orders are refused at once over HTTP (503) and MQTT
//! (`orders/rejected`) with the reason, cash orders go on, and once the processor is back the
//! probes close the breaker by itself and card orders are made again. In both saga modes,
//! with the outage cut by `payment.outage_switch` (a file: what an operator touches on a
//! `milo up` to demo it). And nobody but payment may say whether cards work.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::cli;
use common::rig::Rig;
use milo::http::client;
use milo_contracts::events::{OrderPlaced, OrderRejected};
use milo_contracts::payments::{BreakerState, GatewayStatus, WhenOffline, CARDS_UNAVAILABLE};
use milo_contracts::{topics, Envelope, RawEnvelope, SagaMode};
use milo_payment::BreakerConfig;
use milo_testkit::{eventually, Observer, PATIENCE};
use serde_json::Value;
use uuid::Uuid;

const ESPRESSO: &str = r#"[{"item":"espresso"}]"#;

/// A store whose processor is cut while `switch` exists, with a quick breaker.
async fn store(mode: SagaMode, switch: &Path) -> Rig {
    let switch = switch.to_owned();
    Rig::full(mode, move |c| {
        c.payment.outage_switch = Some(switch);
        c.payment.breaker = BreakerConfig {
            failures: 2,
            window_ms: 60_000,
            cool_down_ms: 300,
            probes: 2,
            timeout_ms: 300,
        };
    })
    .await
}

/// Posts an order paid by `payment`: status code and body.
async fn post(r: &Rig, payment: &str) -> (u16, Value) {
    let body = format!(r#"{{"items":{ESPRESSO},"payment":"{payment}","customer":"Ana"}}"#);
    client::post(r.http("order"), "/orders", &body)
        .await
        .unwrap()
}

/// The breaker's states published on `payments/gateway`, in order, repeats folded.
fn states(watch: &Observer) -> Vec<BreakerState> {
    let mut seen: Vec<BreakerState> = Vec::new();
    for p in watch.on(topics::PAYMENTS_GATEWAY) {
        let Ok(env) = RawEnvelope::parse(&p) else {
            continue;
        };
        let Ok(s) = env.decode::<GatewayStatus>() else {
            continue;
        };
        if seen.last() != Some(&s.state) {
            seen.push(s.state);
        }
    }
    seen
}

async fn wait_state(watch: &Observer, state: BreakerState) {
    let seen = eventually(PATIENCE, || {
        std::future::ready(states(watch).last() == Some(&state))
    })
    .await;
    assert!(seen, "never {state:?}; seen {:?}", states(watch));
}

/// A card order placed on `orders/placed` by a POS, and how long until its rejection.
async fn refused_over_mqtt(r: &Rig, watch: &Observer, pos: &Observer) -> Duration {
    let id = Uuid::now_v7();
    let placed = OrderPlaced {
        order_id: id,
        items: serde_json::from_str(ESPRESSO).unwrap(),
        customer: Some("Bo".into()),
        payment: Default::default(),
    };
    let start = Instant::now();
    pos.publish(
        topics::ORDERS_PLACED,
        &Envelope::new("pos", id, None, placed).to_json(),
    );
    let mut reason = None;
    let heard = eventually(PATIENCE, || {
        reason = watch.on(topics::ORDERS_REJECTED).iter().find_map(|p| {
            let e = RawEnvelope::parse(p).ok()?.decode::<OrderRejected>().ok()?;
            (e.order_id == id).then_some(e.reason)
        });
        std::future::ready(reason.is_some())
    })
    .await;
    let took = start.elapsed();
    assert!(heard, "no orders/rejected for {id}");
    assert_eq!(reason.as_deref(), Some(CARDS_UNAVAILABLE));
    assert_eq!(r.order(id).await["status"], "rejected");
    took
}

async fn fail_fast_then_back(mode: SagaMode) {
    let dir = tempfile::tempdir().unwrap();
    let switch = dir.path().join("processor-cut");
    let r = store(mode, &switch).await;
    let filters = [topics::PAYMENTS_GATEWAY, topics::ORDERS_REJECTED];
    let watch = Observer::start(&r.config.mqtt, &filters).await;
    let pos = Observer::start(&milo_testkit::mqtt_as(&r.config, "pos"), &[]).await;
    wait_state(&watch, BreakerState::Closed).await;
    let before = r.place(ESPRESSO, None).await;
    r.wait_status(before, "prepared").await;

    // The line goes dead: the first card orders are taken, time out at the processor and
    // fail with the reason; after two failures the breaker opens.
    std::fs::write(&switch, b"").unwrap();
    let cut = [r.place(ESPRESSO, None).await, r.place(ESPRESSO, None).await];
    for id in cut {
        let order = r.wait_status(id, "canceled").await;
        let why = order["reason"].as_str().unwrap_or_default();
        assert!(why.contains(CARDS_UNAVAILABLE), "{order}");
        assert_eq!(r.settled_money(id).await, 0, "{order}");
    }
    wait_state(&watch, BreakerState::Open).await;

    // Open: a card order is refused at once, over HTTP and over MQTT; cash goes on.
    let refused = eventually(PATIENCE, || async { post(&r, "card").await.0 == 503 }).await;
    assert!(refused, "card orders still taken while open");
    let start = Instant::now();
    let (code, body) = post(&r, "card").await;
    let http = start.elapsed();
    assert_eq!(
        (code, body["error"].as_str()),
        (503, Some(CARDS_UNAVAILABLE)),
        "{body}"
    );
    let mqtt = refused_over_mqtt(&r, &watch, &pos).await;
    println!("{mode:?}: refused while open in {http:?} over HTTP, {mqtt:?} over MQTT");
    // Loose bounds: this machine is shared; the issue's 100 ms is measured, not asserted.
    assert!(http < Duration::from_secs(1) && mqtt < Duration::from_secs(2));
    let (code, body) = post(&r, "cash").await;
    assert_eq!(code, 202, "{body}");
    let cash: Uuid = serde_json::from_value(body["order_id"].clone()).unwrap();
    r.wait_status(cash, "prepared").await;
    assert_eq!(r.settled_money(cash).await, r.total(ESPRESSO));
    // At the counter: said before the customer pays; a card order refused, cash taken.
    let out = cli::milo(&r.config, "pos.toml", &["pos", "order", "espresso"]).await;
    assert!(out.stdout.contains("card payments offline"), "{out:?}");
    assert!(out.stdout.contains(CARDS_UNAVAILABLE), "{out:?}");
    assert_eq!(out.code, 1, "{out:?}");
    let cash = ["pos", "order", "espresso", "--cash", "--customer", "Cy"];
    let out = cli::milo(&r.config, "pos.toml", &cash).await;
    assert_eq!(out.code, 0, "{out:?}");
    // Analytics books the two cash orders apart from the cards, inside the revenue.
    let two = 2 * r.total(ESPRESSO);
    let booked = eventually(PATIENCE, || async {
        let (_, s) = client::get(r.http("analytics"), "/analytics/summary")
            .await
            .unwrap();
        s["cash_cents"].as_i64() == Some(two)
    })
    .await;
    assert!(booked, "cash not booked apart");

    // The processor is back: the probes close the breaker, card orders are made again.
    std::fs::remove_file(&switch).unwrap();
    wait_state(&watch, BreakerState::Closed).await;
    let taken = eventually(PATIENCE, || async {
        let (code, body) = post(&r, "card").await;
        code == 202 && {
            let id: Uuid = serde_json::from_value(body["order_id"].clone()).unwrap();
            r.wait_status(id, "prepared").await;
            r.settled_money(id).await == r.total(ESPRESSO)
        }
    })
    .await;
    assert!(taken, "card orders not made again after the outage");
    let seen = states(&watch);
    println!("{mode:?}: breaker transitions {seen:?}");
    let open = seen.iter().position(|s| *s == BreakerState::Open).unwrap();
    let half = seen
        .iter()
        .skip(open)
        .position(|s| *s == BreakerState::HalfOpen);
    assert!(half.is_some(), "no probe after opening: {seen:?}");
    assert_eq!(seen.last(), Some(&BreakerState::Closed), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_while_the_processor_is_down_choreography() {
    fail_fast_then_back(SagaMode::Choreography).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_while_the_processor_is_down_orchestration() {
    fail_fast_then_back(SagaMode::Orchestration).await;
}

/// A POS (or anyone but payment) saying card payments are offline is refused by the gate and
/// kept with the reason; the order service goes on taking card orders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_payment_may_say_whether_cards_work() {
    let r = Rig::full(SagaMode::Choreography, |_| {}).await;
    let forged = GatewayStatus {
        state: BreakerState::Open,
        when_offline: WhenOffline::Refuse,
        reason: Some("forged".into()),
        ..Default::default()
    };
    let pos = Observer::start(&milo_testkit::mqtt_as(&r.config, "pos"), &[]).await;
    let as_payment = Envelope::new("payment", Uuid::nil(), None, forged.clone()).to_json();
    pos.publish(topics::PAYMENTS_GATEWAY, &as_payment);
    let letter = r
        .wait_refused("pos (pos) may not publish on payments/gateway")
        .await;
    assert_eq!(letter.topic, topics::PAYMENTS_GATEWAY);
    let order = r.place(ESPRESSO, None).await;
    r.wait_status(order, "prepared").await;
}
