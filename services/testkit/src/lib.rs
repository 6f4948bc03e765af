//! Helpers for Milo's tests. Tests start the real thing (embedded broker, sled stores, real
//! MQTT clients) on free loopback ports with temporary directories, and wait for conditions
//! with deadlines, never with bare sleeps.
//!
//! # Layout
//! - [`PATIENCE`], [`eventually`]: deadline waits.
//! - [`free_port`], [`HeldPort`]: loopback ports.
//! - [`when_unlocked`]: reopening a store another handle just let go of.
//! - [`config`]: a store configuration for tests.
//! - [`Observer`]: an MQTT client that records what it sees.
//! - [`espresso_created`]: an `orders/created` to feed a participant.
#![forbid(unsafe_code)]

mod observer;
mod port;
mod unlocked;

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use milo_config::MiloConfig;
use milo_contracts::events::{Ingredients, OrderCreated, PricedLine};
use milo_contracts::Envelope;
use uuid::Uuid;

pub use observer::Observer;
pub use port::{free_port, HeldPort};
pub use unlocked::{lock_held, when_unlocked, when_unlocked_async};

/// How long a test waits for a condition before it fails. A failure bound for a loaded
/// machine (two cores, a build running beside the tests), not a speed claim: every wait ends
/// as soon as its condition holds.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `cond` every 20 ms until it holds or `limit` passes; returns whether it held.
pub async fn eventually<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `cond` every 20 ms until it holds or `limit` passes; for tests that drive child
/// processes from a plain thread.
pub fn eventually_blocking(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The default configuration pointed at `data_dir` and free loopback ports, with every
/// simulated delay at zero and the display off, and [`credentials`] as its credentials file.
pub fn config(data_dir: &Path) -> MiloConfig {
    let defaults = milo_config::load(Some(&empty_file(data_dir))).expect("default config");
    let mut config = defaults.isolated(data_dir).expect("a free loopback port");
    config.security.credentials = credentials().to_owned();
    config
}

/// This test process's credentials file, made once (as a package's postinst makes
/// `/etc/milo/credentials.toml`): every service, the operator, stations `bar-1` to `bar-9` and
/// `bar-a` to `bar-c`, and POS terminals `pos`, `pos-1` to `pos-4`. Every configuration
/// [`config`] and [`config_file`]
/// make uses it, so that a POS or a CLI opened before its store, or a child `milo`, speaks
/// with the same credentials as the store's broker expects. Kept in the system's temporary
/// directory, one per test process.
pub fn credentials() -> &'static Path {
    static FILE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let path =
            std::env::temp_dir().join(format!("milo-test-credentials-{}.toml", std::process::id()));
        let mut stations: Vec<String> = (1..=9).map(|n| format!("bar-{n}")).collect();
        stations.extend(["bar-a", "bar-b", "bar-c"].map(String::from));
        let mut terminals: Vec<String> = (1..=4).map(|n| format!("pos-{n}")).collect();
        terminals.push("pos".into());
        let made = milo_bus::Credentials::generate(&path, &stations, &terminals)
            .expect("test credentials");
        made.write().expect("test credentials written");
        path
    })
}

/// `config.mqtt` with the credential of the part `name` (made by the store's broker when it
/// started), for a test that speaks as that part: the broker's gate accepts each topic and
/// event type only from the part that may say it. With security off, `config.mqtt`.
pub fn mqtt_as(config: &MiloConfig, name: &str) -> milo_bus::MqttConfig {
    let Some(credentials) = config.credentials(false).expect("the store's credentials") else {
        // No gate: anyone may say anything, as the store was configured.
        return config.mqtt.clone();
    };
    let who = credentials
        .identity(name)
        .unwrap_or_else(|| panic!("no credential named {name}"));
    config.mqtt_as(name, who.role).expect("a credential")
}

/// The same settings as [`config`], as a TOML file for a `milo` child process.
pub fn config_file(data_dir: &Path, mqtt_port: u16, http_port: u16) -> std::path::PathBuf {
    let path = data_dir.join("milo-test.toml");
    let text = format!(
        "data_dir = {dir:?}\n\
         [mqtt]\naddress = \"127.0.0.1:{mqtt_port}\"\n\
         [broker]\nlisten = \"127.0.0.1:{mqtt_port}\"\n\
         [http]\nlisten = \"127.0.0.1:{http_port}\"\n\
         analytics = \"127.0.0.1:0\"\nsaga = \"127.0.0.1:0\"\npayment = \"127.0.0.1:0\"\n\
         inventory = \"127.0.0.1:0\"\nbarista = \"127.0.0.1:0\"\n\
         notification = \"127.0.0.1:0\"\nbroker = \"127.0.0.1:0\"\n\
         [payment]\nmin_latency_ms = 0\nmax_latency_ms = 0\n\
         [device]\nspeed = 0.0\ndisplay = false\n\
         [security]\ncredentials = {credentials:?}\n",
        dir = data_dir.join("data").display().to_string(),
        credentials = credentials().display().to_string(),
    );
    std::fs::create_dir_all(data_dir).expect("test dir");
    std::fs::write(&path, text).expect("test config");
    path
}

fn empty_file(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).expect("test dir");
    let path = dir.join("empty.toml");
    std::fs::write(&path, "").expect("empty config");
    path
}

/// An `orders/created` for one espresso (250 cents, 9 g of beans), as the order service
/// publishes it: the new order's id and the envelope's bytes.
pub fn espresso_created() -> (Uuid, Vec<u8>) {
    let id = Uuid::now_v7();
    let created = OrderCreated {
        order_id: id,
        lines: vec![PricedLine {
            item: "espresso".into(),
            size: "single".into(),
            milk: None,
            qty: 1,
            unit_price_cents: 250,
            modifiers: vec![],
        }],
        total_cents: 250,
        ingredients: Ingredients::from([("beans_g".into(), 9)]),
        customer: None,
        payment: Default::default(),
    };
    (id, Envelope::new("order", id, None, created).to_json())
}
