//! `milo chaos`: the fault-injection harness.
//!
//! Runs the store as separate OS processes, as systemd does on a Pi (`milo broker`,
//! `milo service <name>`, `milo barista`), on free loopback ports; places orders at a steady
//! rate through the order service's HTTP API (retrying with the same order id while it is
//! down) while killing a random process, the broker included, with SIGKILL every
//! `kill_every` and starting it again. Then it stops the killing, waits for every order to
//! reach a final state, stops the store and checks the invariants in [`check`] from the
//! stores themselves. In orchestration mode the saga coordinator is one of the processes.

pub mod check;
mod fleet;
pub mod outage;

use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::http::client;
use crate::MiloConfig;
use fleet::Fleet;
use outage::Outage;

pub use check::Report;

/// What to run.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// Orders to place.
    pub orders: usize,
    /// Orders placed per second.
    pub rate: f64,
    /// Time between two kills.
    pub kill_every: Duration,
    /// Seed of every random choice (items, victims).
    pub seed: u64,
    /// The broker process: `None` runs `milo broker`; `Some(path)` runs the mosquitto at
    /// `path` instead (with persistence, on the same port; `broker.embedded = false`), killed
    /// and started again like any part.
    pub mosquitto: Option<std::path::PathBuf>,
    /// A card processor outage: when after the start, and how long (none by default).
    pub outage: Option<(Duration, Duration)>,
}

/// Harness errors (not invariant violations: those are in the report).
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    /// A file or process could not be handled.
    #[error("chaos harness: {0}")]
    Io(#[from] std::io::Error),
    /// The store never came up, or a store could not be read at the end.
    #[error("chaos harness: {0}")]
    Harness(String),
}

/// The harness's store configuration: fast retries, a little payment latency and some
/// declines, instant drinks.
pub fn chaos_config(base: &MiloConfig, dir: &Path) -> std::io::Result<MiloConfig> {
    let mut c = base.clone().isolated(&dir.join("data"))?;
    c.http.listen = ([127, 0, 0, 1], milo_config::free_loopback_port()?).into();
    c.broker.watchdog_secs = 2;
    c.mqtt.keep_alive_secs = 2;
    c.payment.success_rate = 0.9;
    c.payment.min_latency_ms = 2;
    c.payment.max_latency_ms = 20;
    // The harness may cut the processor (`ChaosOptions::outage`); a quick breaker then.
    c.payment.outage_switch = Some(outage::switch_path(dir));
    c.payment.breaker.timeout_ms = 1_000;
    c.payment.breaker.cool_down_ms = 500;
    c.order.retry.first_ms = 400;
    c.order.retry.max_ms = 2_000;
    c.order.retry.attempts = 60;
    c.order.retry.prepare_secs = 3;
    c.order.retry.tick_ms = 100;
    c.saga.retry = c.order.retry.clone();
    for units in c.inventory.stock.values_mut() {
        *units *= 100;
    }
    c.device.water_ml *= 100;
    c.device.beans_g *= 100;
    c.device.milk_ml *= 100;
    Ok(c)
}

const ITEMS: [&str; 5] = ["latte", "espresso", "mocha", "cappuccino", "americano"];

/// Runs the harness with the `milo` executable at `exe`.
pub async fn run(
    exe: &Path,
    base: &MiloConfig,
    options: ChaosOptions,
) -> Result<Report, ChaosError> {
    let dir = tempfile::tempdir()?;
    let mut config = chaos_config(base, dir.path())?;
    config.broker.embedded = options.mosquitto.is_none();
    let started = Instant::now();
    let mut fleet = Fleet::start(exe, &config, dir.path(), options.mosquitto.as_deref())?;
    let http = config.http.listen;
    // Every part takes only what is made after its store began: the first orders wait for
    // analytics too (the last to matter; the flow's parts answer before an order completes).
    let analytics = fleet.analytics_http;
    let up = crate::bench::wait_until(Duration::from_secs(30), || async {
        matches!(client::get(http, "/orders?limit=1").await, Ok((200, _)))
            && matches!(
                client::get(analytics, "/analytics/summary").await,
                Ok((200, _))
            )
    });
    if !up.await {
        return Err(ChaosError::Harness(
            "the order service never answered".into(),
        ));
    }
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut placed = Vec::with_capacity(options.orders);
    let pace = Duration::from_secs_f64(1.0 / options.rate.max(0.1));
    let mut next_kill = Instant::now() + options.kill_every;
    let mut outage = Outage::new(dir.path(), options.outage);
    for _ in 0..options.orders {
        let id = Uuid::now_v7();
        let mut body = format!(
            r#"{{"order_id":"{id}","items":[{{"item":"{}","qty":{}}}],"customer":"chaos"}}"#,
            ITEMS[rng.gen_range(0..ITEMS.len())],
            rng.gen_range(1..=2)
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if Instant::now() >= next_kill {
                fleet.kill_random(&mut rng)?;
                next_kill += options.kill_every;
            }
            fleet.revive()?;
            outage.tick()?;
            match client::post(http, "/orders", &body).await {
                Ok((202 | 422, _)) => break,
                // Card payments offline: the café takes it in cash.
                Ok((503, reply)) if reply["payment"] == "card" => {
                    outage.refused += 1;
                    body = body.replace(r#""customer""#, r#""payment":"cash","customer""#);
                }
                _ if Instant::now() > deadline => {
                    return Err(ChaosError::Harness(format!(
                        "order {id} could not be placed in 60 s"
                    )))
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        placed.push(id);
        tokio::time::sleep(pace).await;
    }
    fleet.revive()?;
    outage.end()?;
    let settled = settle(http, &placed, Duration::from_secs(180)).await;
    // Analytics hears of the last orders after the order service, and of what it missed
    // through the producers' logs (a gap is asked for after a second, replays are coalesced):
    // wait until it has a final state for every order and its figures stay still.
    caught_up(fleet.analytics_http, placed.len(), Duration::from_secs(120)).await;
    let kills = fleet.kills.clone();
    fleet.stop();
    let mut report = check::check(&config, &placed)?;
    report.kills = kills;
    report.unsettled_at_deadline = settled;
    report.elapsed = started.elapsed();
    report.observations.extend(outage.observation());
    Ok(report)
}

/// Waits until analytics has a final state for `orders` orders and its summary has not
/// changed for three seconds (or the deadline passes: the check then says what differs).
async fn caught_up(http: std::net::SocketAddr, orders: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    let (mut last, mut since) = (serde_json::Value::Null, Instant::now());
    while Instant::now() < deadline {
        if let Ok((200, s)) = client::get(http, "/analytics/summary").await {
            let by = &s["orders"]["by_status"];
            let n = |k: &str| by[k].as_u64().unwrap_or(0);
            let done = n("prepared") + n("canceled") + n("rejected");
            if s != last {
                (last, since) = (s.clone(), Instant::now());
            } else if done as usize >= orders && since.elapsed() >= Duration::from_secs(3) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until every order is in a final state (a failed one canceled, its compensation
/// confirmed); returns how many were not by the deadline.
async fn settle(http: std::net::SocketAddr, ids: &[Uuid], limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    let mut open: Vec<Uuid> = ids.to_vec();
    while !open.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for id in open {
            let done = match client::get(http, &format!("/orders/{id}")).await {
                Ok((200, o)) => matches!(
                    o["status"].as_str(),
                    Some("prepared" | "canceled" | "rejected")
                ),
                _ => false,
            };
            if !done {
                still.push(id);
            }
        }
        open = still;
        if !open.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    open.len()
}
