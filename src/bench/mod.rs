//! `milo bench`: the whole store in-process with every simulated delay at zero and
//! `stations` barista stations (bar-1, bar-2...), `orders` placed over MQTT from `concurrency`
//! POS clients. Each client rings up its next order only once the last one is prepared (or,
//! with [`Until::Ready`], ready: the intake alone, letting the bar's queue grow), so no client
//! races ahead of the bar. An observer client times every order from placement to
//! `orders/ready` and to `orders/prepared`; the process's CPU, disk writes and memory and the
//! stores' own counters are read before and after. Everything is bounded: `orders`, one
//! connection per client, [`load::ORDER_LIMIT`] per order and `timeout` for the whole run,
//! after which unanswered orders count as timed out.
//!
//! # Layout
//! - [`load`]: the POS clients, the observer and the progress line.
//! - [`probe`]: CPU, disk and memory read from procfs.
//! - [`report`]: the figures ([`BenchReport`]); `text` prints them for a person.

use milo_contracts::dead_letters::OPERATOR;
use milo_contracts::policy::Role;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use milo_barista::Station;
use milo_barista_device::MemoryDisplay;
use milo_bus::link::{self, Link, LinkConfig};
use milo_bus::{MqttConfig, ShutdownTrigger, StoreStats};
use milo_config::MiloConfig;
use serde::Serialize;
use tokio::sync::oneshot;

use crate::shop::{Shop, ShopError};

pub mod load;
pub mod probe;
pub mod report;
mod text;

pub use report::BenchReport;

/// What a POS client waits for before ringing up its next order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Until {
    /// `orders/ready`: paid and reserved. Measures the intake; the bar's queue may grow.
    Ready,
    /// `orders/prepared`: made at a station. Measures completion.
    Prepared,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Orders to place.
    pub orders: usize,
    /// Concurrent POS clients (at least 1, at most one per order).
    pub concurrency: usize,
    /// Barista stations (at least 1).
    pub stations: usize,
    /// What a client waits for before its next order.
    pub until: Until,
    /// Real fsync at every durability point (false measures what it costs).
    pub fsync: bool,
    /// The broker's gate and per-part credentials (false measures what they cost).
    pub security: bool,
    /// The whole run's limit, from the first placement.
    pub timeout: Duration,
    /// Show the progress line on stderr.
    pub progress: bool,
    /// The data directory to keep (and open again), instead of a temporary one.
    pub keep: Option<PathBuf>,
}

impl BenchOptions {
    /// At least one client and one station, no more clients than orders.
    fn bounded(mut self) -> BenchOptions {
        self.concurrency = self.concurrency.clamp(1, self.orders.max(1));
        self.stations = self.stations.max(1);
        self
    }
}

/// How long the store and its stations have to come up.
const STARTUP: Duration = Duration::from_secs(20);

/// Polls `cond` every 50 ms until it holds or `limit` passes; returns whether it held.
pub async fn wait_until<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The bench's store configuration: isolated, payments always approved, stock unlimited.
pub fn bench_config(
    base: &MiloConfig,
    data_dir: &std::path::Path,
    fsync: bool,
) -> std::io::Result<MiloConfig> {
    let mut c = base.clone().isolated(data_dir)?;
    c.payment.success_rate = 1.0;
    c.store.fsync = fsync;
    for units in c.inventory.stock.values_mut() {
        *units = 1_000_000_000;
    }
    // The machine's tanks too: the bench measures the flow, not refills.
    c.device.station = station_id(1);
    c.device.water_ml = 1_000_000_000;
    c.device.beans_g = 1_000_000_000;
    c.device.milk_ml = 1_000_000_000;
    Ok(c)
}

/// Station `n`'s id (from 1).
fn station_id(n: usize) -> String {
    format!("bar-{n}")
}

/// Runs the bench and returns the figures.
pub async fn run(base: &MiloConfig, options: BenchOptions) -> Result<BenchReport, ShopError> {
    let options = options.bounded();
    let temporary = match options.keep {
        Some(_) => None,
        None => Some(tempfile::tempdir().map_err(|e| failed(e.to_string()))?),
    };
    let dir = match (&options.keep, &temporary) {
        (Some(kept), _) => kept.clone(),
        (None, Some(t)) => t.path().to_owned(),
        (None, None) => unreachable!("a temporary directory when none is kept"),
    };
    let mut config = bench_config(base, &dir, options.fsync).map_err(|e| failed(e.to_string()))?;
    config.security.enabled = options.security;
    // Every station the bench runs gets a credential when the store makes them.
    config.security.stations = (1..=options.stations).map(station_id).collect();
    let trigger = ShutdownTrigger::new().0;
    let opening = Instant::now();
    let shop = Shop::start(&config, Box::new(MemoryDisplay::default()), &trigger, || {}).await?;
    let (report, shop) = match open_bar(shop, &config, options.stations, &trigger).await {
        Ok((shop, open)) => {
            let open = Opening {
                took: open.duration_since(opening),
                past_orders: past_orders(&shop),
            };
            (
                measure(&config, &shop, &options, open, &trigger).await,
                shop,
            )
        }
        Err((e, shop)) => (Err(e), shop),
    };
    trigger.trigger();
    let _ = shop.run(&trigger).await;
    report.map(|mut r| {
        // Measured once every part has stopped and let go of its files.
        r.disk_bytes = probe::disk_bytes(&dir);
        r
    })
}

/// How the store opened: from the start of its parts to all of them ready, and with how many
/// orders already in the order service's store.
pub(super) struct Opening {
    pub took: Duration,
    pub past_orders: usize,
}

/// Orders in the order service's store.
fn past_orders(shop: &Shop) -> usize {
    shop.store("order")
        .map(|s| s.count(milo_order::model::ORDER_PREFIX))
        .unwrap_or(0)
}

/// Starts stations 2 to `stations` and waits until every part is connected (when: the second
/// value) and the barista service holds every station usable. On failure, the shop comes back
/// to be stopped.
async fn open_bar(
    mut shop: Shop,
    config: &MiloConfig,
    stations: usize,
    trigger: &ShutdownTrigger,
) -> Result<(Shop, Instant), (ShopError, Shop)> {
    for n in 2..=stations {
        if let Err(e) = shop.add_station(config, &station_id(n), trigger) {
            return Err((e, shop));
        }
    }
    if !shop.wait_ready(STARTUP).await {
        return Err((failed("the store was not ready in 20 s".into()), shop));
    }
    let open = Instant::now();
    let ids: Vec<String> = (1..=stations).map(station_id).collect();
    let usable = wait_until(STARTUP, || {
        let all = shop.store("barista").is_some_and(|bar| {
            ids.iter().all(|id| {
                bar.get::<Station>(&format!("station/{id}"))
                    .ok()
                    .flatten()
                    .is_some_and(|s| s.usable())
            })
        });
        std::future::ready(all)
    })
    .await;
    if !usable {
        let e = failed(format!("the stations were not usable in 20 s: {ids:?}"));
        return Err((e, shop));
    }
    Ok((shop, open))
}

/// Connects the observer and the clients, then runs the load and takes the readings.
async fn measure(
    config: &MiloConfig,
    shop: &Shop,
    options: &BenchOptions,
    open: Opening,
    trigger: &ShutdownTrigger,
) -> Result<BenchReport, ShopError> {
    let tracks = load::Tracks::default();
    // The bench is the shop's operator watching, and its POS terminals placing orders, each
    // with its own credential when the store checks them.
    let operator = config.mqtt_as(OPERATOR, Role::Operator)?;
    let terminal = config.mqtt_as(&config.pos.terminal, Role::Pos)?;
    let observer = client(&operator, "milo-operator-bench", load::observed(), trigger)?;
    wait_link(&observer).await?;
    let observing = tokio::spawn(load::observe(observer, tracks.clone(), options.until));
    let mut clients = Vec::with_capacity(options.concurrency);
    for i in 0..options.concurrency {
        let pos = client(
            &terminal,
            &format!("milo-{}-bench-{i}", config.pos.terminal),
            vec![],
            trigger,
        )?;
        wait_link(&pos).await?;
        clients.push(pos);
    }
    let clock = probe::clock_ticks_per_sec();
    let rss_idle_kib = probe::proc_status_kib("VmRSS");
    let (usage, stores) = (probe::Usage::now(), shop.store_stats());
    let started = Instant::now();
    let (stop, stopped) = oneshot::channel();
    let progress = options
        .progress
        .then(|| tokio::spawn(load::progress(tracks.clone(), options.orders, stopped)));
    load_until_answered(
        clients,
        &config.pos.terminal,
        &tracks,
        options,
        started + options.timeout,
    )
    .await;
    let ended = Instant::now();
    let usage = probe::Usage::now().since(&usage);
    let stores = since(shop.store_stats(), &stores);
    let _ = stop.send(());
    if let Some(p) = progress {
        let _ = p.await;
    }
    observing.abort();
    let readings = report::Readings {
        started,
        ended,
        work: report::Work::of(&usage, &stores.values().copied().sum(), clock.0),
        stores,
        rss_idle_kib,
        rss_peak_kib: probe::proc_status_kib("VmHWM"),
        clock,
        log: shop.log_size(),
        open,
    };
    Ok(report::build(&tracks, options, readings))
}

/// Shares the orders among the clients and runs them; then, until `deadline`, waits for every
/// order placed to be prepared or failed (with `--until ready` the bar is still working
/// through its queue).
async fn load_until_answered(
    clients: Vec<Link>,
    terminal: &str,
    tracks: &load::Tracks,
    options: &BenchOptions,
    deadline: Instant,
) {
    let mut counters = tokio::task::JoinSet::new();
    let n = clients.len().max(1);
    for (i, pos) in clients.into_iter().enumerate() {
        let share = options.orders / n + usize::from(i < options.orders % n);
        let terminal = terminal.to_owned();
        counters.spawn(load::counter(
            pos,
            terminal,
            i,
            share,
            tracks.clone(),
            deadline,
        ));
    }
    while counters.join_next().await.is_some() {}
    let left = deadline.saturating_duration_since(Instant::now());
    wait_until(left, || std::future::ready(tracks.all_final())).await;
}

/// Each part's store work between `before` and `now`.
fn since(
    now: BTreeMap<String, StoreStats>,
    before: &BTreeMap<String, StoreStats>,
) -> BTreeMap<String, StoreStats> {
    let zero = StoreStats::default();
    now.into_iter()
        .map(|(part, s)| {
            let run = s.since(before.get(&part).unwrap_or(&zero));
            (part, run)
        })
        .collect()
}

fn failed(reason: String) -> ShopError {
    ShopError::PartFailed {
        part: "bench".into(),
        reason,
    }
}

fn client(
    mqtt: &MqttConfig,
    id: &str,
    subscriptions: Vec<String>,
    trigger: &ShutdownTrigger,
) -> Result<Link, ShopError> {
    let config = LinkConfig {
        client_id: id.to_owned(),
        mqtt: mqtt.clone(),
        subscriptions,
        presence: None,
        clean_session: true,
    };
    link::spawn(config, trigger.subscribe()).map_err(|e| failed(e.to_string()))
}

async fn wait_link(link: &Link) -> Result<(), ShopError> {
    let mut ready = link.ready.clone();
    let connected = tokio::time::timeout(Duration::from_secs(10), async {
        ready.wait_for(|r| *r).await.is_ok()
    })
    .await;
    match connected {
        Ok(true) => Ok(()),
        _ => Err(failed("a bench client could not connect in 10 s".into())),
    }
}
