//! Every retained topic has an owner that puts it back: erased with `mosquitto_pub -r -n`
//! (what a test client's clean-up step does) or overwritten with junk (a retained `offline`
//! on a station's presence), a fresh `mosquitto_sub` gets the owner's value again within
//! seconds, and the owner then leaves it alone.
//!
//! With security on nobody but the owner may publish on these topics at all: the broker's gate
//! refuses the erasure before the broker sees it (tests/security.rs). What is checked here is
//! what holds behind a broker with no gate (an external one, or a restarted one that forgot):
//! the store runs with the gate off.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use milo_contracts::bar::Telemetry;
use milo_contracts::counter::MenuAvailability;
use milo_contracts::events::PickupBoard;
use milo_contracts::payments::GatewayStatus;
use milo_contracts::{topics, Envelope};
use milo_pos::Update;
use milo_testkit::{eventually, Observer, PATIENCE};

/// What an owner must have back within this long.
const WITHIN: Duration = Duration::from_secs(5);

/// A retained topic and how to tell its owner's value from anything else.
struct Owned {
    topic: String,
    real: fn(&[u8]) -> bool,
    /// Its owner publishes news on it unasked (telemetry every few seconds).
    news: bool,
}

impl Owned {
    fn new(topic: impl Into<String>, real: fn(&[u8]) -> bool) -> Owned {
        let topic = topic.into();
        Owned {
            topic,
            real,
            news: false,
        }
    }
}

/// Every retained topic of the store in `shop`: the pickup board, the availability, whether
/// card payments work, each service's presence, the station's presence and telemetry.
fn owned(shop: &common::TestShop) -> Vec<Owned> {
    let station = &shop.config.device.station;
    let mut all = vec![
        Owned::new(topics::BOARDS_PICKUP, |p| {
            serde_json::from_slice::<Envelope<PickupBoard>>(p).is_ok()
        }),
        Owned::new(topics::MENU_AVAILABILITY, |p| {
            serde_json::from_slice::<Envelope<MenuAvailability>>(p).is_ok()
        }),
        Owned::new(topics::PAYMENTS_GATEWAY, |p| {
            serde_json::from_slice::<Envelope<GatewayStatus>>(p).is_ok()
        }),
        Owned::new(topics::device_status(station), online),
        Owned {
            news: true,
            ..Owned::new(topics::device_telemetry(station), |p| {
                serde_json::from_slice::<Telemetry>(p).is_ok()
            })
        },
    ];
    let services = milo::shop::services_in(shop.config.saga.mode);
    all.extend(services.map(|name| Owned::new(topics::service_status(name), online)));
    all
}

fn online(payload: &[u8]) -> bool {
    payload == b"online"
}

fn port(shop: &common::TestShop) -> u16 {
    shop.config.broker.listen.port()
}

/// The attacker: a retained publish on `topic` by someone who is not its owner (an empty
/// `payload` erases it), anonymous, on a store with no gate.
fn attacker_publishes(port: u16, topic: &str, payload: &str) {
    let mut cmd = Command::new("mosquitto_pub");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-r"]);
    cmd.args(["-t", topic]);
    match payload {
        "" => cmd.arg("-n"),
        text => cmd.args(["-m", text]),
    };
    let status = cmd
        .status()
        .expect("mosquitto_pub (.ci/install-deps installs mosquitto-clients)");
    assert!(status.success(), "mosquitto_pub failed on {topic}");
}

/// What a fresh subscriber gets retained on `topic` (waits 1 s at most for it).
async fn retained(port: u16, topic: &str) -> Option<Vec<u8>> {
    let mut cmd = Command::new("mosquitto_sub");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", topic]);
    cmd.args(["-C", "1", "-W", "1", "--retained-only", "-N"]);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .ok()?
        .expect("mosquitto_sub (.ci/install-deps installs mosquitto-clients)");
    (out.status.success() && !out.stdout.is_empty()).then_some(out.stdout)
}

/// Waits until a fresh subscriber gets the owner's value on `owned.topic` within `limit`;
/// how long that took.
async fn comes_back(port: u16, owned: &Owned, limit: Duration) -> Duration {
    let start = Instant::now();
    let back = eventually(limit, || async {
        retained(port, &owned.topic)
            .await
            .is_some_and(|p| (owned.real)(&p))
    })
    .await;
    let took = start.elapsed();
    assert!(back, "{} did not come back within {limit:?}", owned.topic);
    took
}

/// Attacks every owned topic with `payload`, one at a time, and checks each comes back
/// within [`WITHIN`].
async fn attack_each(payload: &str, what: &str) {
    let shop = common::open_with(|c| c.security.enabled = false).await;
    let port = port(&shop);
    for owned in owned(&shop) {
        comes_back(port, &owned, PATIENCE).await;
        let start = Instant::now();
        attacker_publishes(port, &owned.topic, payload);
        comes_back(port, &owned, PATIENCE).await;
        let took = start.elapsed();
        println!("{what} {}: back after {took:?}", owned.topic);
        assert!(took < WITHIN, "{} {what}: back after {took:?}", owned.topic);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_retained_topic_erased_comes_back_within_seconds() {
    attack_each("", "erased").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_retained_topic_overwritten_with_junk_comes_back_within_seconds() {
    attack_each("offline", "overwritten").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restored_value_stays_and_the_bar_still_takes_orders() {
    let shop = common::open_with(|c| c.security.enabled = false).await;
    let port = port(&shop);
    let owned = owned(&shop);
    for o in &owned {
        comes_back(port, o, PATIENCE).await;
        attacker_publishes(port, &o.topic, "junk");
    }
    for o in &owned {
        comes_back(port, o, PATIENCE).await;
    }
    // From now on each topic holds its owner's value: the retained message on subscribing,
    // then only the owners' own publishes (telemetry every few seconds, the outbox replays
    // the parts asked for at start), never anything else and never a stream of restores.
    let filters: Vec<&str> = owned.iter().map(|o| o.topic.as_str()).collect();
    let watch = Observer::start(&shop.config.mqtt, &filters).await;
    let flapped = || {
        owned.iter().any(|o| {
            let seen = watch.on(&o.topic);
            seen.iter().any(|p| !(o.real)(p)) || (seen.len() > 3 && !o.news)
        })
    };
    let quiet = Duration::from_secs(3);
    assert!(
        !eventually(quiet, || std::future::ready(flapped())).await,
        "an owner flapped: {:?}",
        watch.seen()
    );
    for o in &owned {
        assert!(!watch.on(&o.topic).is_empty(), "{} not seen", o.topic);
        comes_back(port, o, Duration::from_secs(1)).await;
    }
    let (_, update) = shop.pos_order("latte", Some("oat"), "Ana").await;
    assert!(matches!(update, Update::Prepared { .. }), "{update:?}");
}
