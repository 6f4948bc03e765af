//! `milo bench`: the whole store in-process with every simulated delay at zero, `orders`
//! placed from `concurrency` POS clients over MQTT, each ringing up its next order once the
//! last one is ready (as a counter does). Latency runs from placement to `orders/ready` and
//! to `orders/prepared`, seen by an observer client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use milo_barista_device::MemoryDisplay;
use milo_bus::link::{self, Link, LinkCommand, LinkConfig};
use milo_bus::{MqttConfig, ShutdownTrigger};
use milo_config::MiloConfig;
use milo_contracts::events::{OrderLine, OrderPlaced};
use milo_contracts::{topics, Envelope, RawEnvelope};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::shop::{Shop, ShopError};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Orders to place.
    pub orders: usize,
    /// Concurrent POS clients.
    pub concurrency: usize,
    /// Real fsync at every durability point (false measures what it costs).
    pub fsync: bool,
}

/// What was measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// The options.
    pub options: BenchOptions,
    /// From the first placement to the last order ready.
    pub elapsed: Duration,
    /// Placement → `orders/ready`, sorted.
    pub to_ready: Vec<Duration>,
    /// Placement → `orders/prepared`, sorted.
    pub to_prepared: Vec<Duration>,
    /// Orders that failed or were rejected.
    pub failed: usize,
    /// Orders with no final answer in time.
    pub timed_out: usize,
    /// Resident memory once the store is up and idle, KiB.
    pub rss_idle_kib: u64,
    /// Peak resident memory, KiB.
    pub rss_peak_kib: u64,
}

#[derive(Default)]
struct Track {
    placed: Option<Instant>,
    ready: Option<Instant>,
    prepared: Option<Instant>,
    failed: bool,
    waiter: Option<oneshot::Sender<()>>,
}

type Tracks = Arc<Mutex<HashMap<Uuid, Track>>>;

/// Reads a `/proc/self/status` field in KiB (0 where there is no procfs).
pub fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

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
    c.device.water_ml = 1_000_000_000;
    c.device.beans_g = 1_000_000_000;
    c.device.milk_ml = 1_000_000_000;
    Ok(c)
}

fn client(
    mqtt: &MqttConfig,
    id: String,
    subscriptions: Vec<String>,
    trigger: &ShutdownTrigger,
) -> Result<Link, ShopError> {
    let config = LinkConfig {
        client_id: id,
        mqtt: mqtt.clone(),
        subscriptions,
        presence: None,
        clean_session: true,
    };
    link::spawn(config, None, trigger.subscribe()).map_err(|e| ShopError::PartFailed {
        part: "bench".into(),
        reason: e.to_string(),
    })
}

/// Runs the bench and returns the figures.
pub async fn run(base: &MiloConfig, options: BenchOptions) -> Result<BenchReport, ShopError> {
    let dir = tempfile::tempdir().map_err(|e| io_err("bench", e))?;
    let config = bench_config(base, dir.path(), options.fsync).map_err(|e| io_err("bench", e))?;
    let trigger = ShutdownTrigger::new().0;
    let shop = Shop::start(&config, Box::new(MemoryDisplay::default()), &trigger, || {}).await?;
    if !shop.wait_ready(Duration::from_secs(20)).await {
        return Err(io_err(
            "bench",
            std::io::Error::other("store not ready in 20 s"),
        ));
    }
    let tracks: Tracks = Arc::default();
    let observer = client(
        &config.mqtt,
        "milo-bench-observer".into(),
        observed(),
        &trigger,
    )?;
    wait_link(&observer).await?;
    let observing = tokio::spawn(observe(observer, tracks.clone()));
    let rss_idle_kib = proc_status_kib("VmRSS");
    let started = Instant::now();
    let mut counters = Vec::new();
    for i in 0..options.concurrency.max(1) {
        let share = options.orders / options.concurrency.max(1)
            + usize::from(i < options.orders % options.concurrency.max(1));
        let pos = client(
            &config.mqtt,
            format!("milo-bench-pos-{i}"),
            vec![],
            &trigger,
        )?;
        wait_link(&pos).await?;
        counters.push(tokio::spawn(counter(pos, share, i, tracks.clone())));
    }
    let mut timed_out = 0;
    for c in counters {
        timed_out += c.await.unwrap_or(0);
    }
    let elapsed = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && !all_prepared(&tracks) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let report = report(&tracks, options, elapsed, timed_out, rss_idle_kib);
    trigger.trigger();
    let _ = observing.await;
    let _ = shop.run(&trigger).await;
    Ok(report)
}

fn io_err(part: &str, e: std::io::Error) -> ShopError {
    ShopError::PartFailed {
        part: part.into(),
        reason: e.to_string(),
    }
}

fn observed() -> Vec<String> {
    [
        topics::ORDERS_READY,
        topics::ORDERS_PREPARED,
        topics::ORDERS_FAILED,
        topics::ORDERS_REJECTED,
    ]
    .map(String::from)
    .to_vec()
}

async fn wait_link(link: &Link) -> Result<(), ShopError> {
    let mut ready = link.ready.clone();
    let connected = tokio::time::timeout(Duration::from_secs(10), async {
        ready.wait_for(|r| *r).await.is_ok()
    })
    .await;
    match connected {
        Ok(true) => Ok(()),
        _ => Err(io_err(
            "bench",
            std::io::Error::other("client could not connect"),
        )),
    }
}

/// One POS: places its orders one after another, each once the last is ready.
async fn counter(pos: Link, orders: usize, n: usize, tracks: Tracks) -> usize {
    const ITEMS: [&str; 4] = ["latte", "cappuccino", "espresso", "mocha"];
    let mut timed_out = 0;
    for i in 0..orders {
        let order_id = Uuid::now_v7();
        let line = OrderLine {
            item: ITEMS[(n + i) % ITEMS.len()].into(),
            size: None,
            milk: None,
            qty: 1,
            modifiers: Vec::new(),
        };
        let placed = OrderPlaced {
            order_id,
            items: vec![line],
            customer: Some(format!("pos{n}")),
        };
        let payload = Envelope::new("pos", order_id, None, placed).to_json();
        let (tx, rx) = oneshot::channel();
        if let Ok(mut t) = tracks.lock() {
            t.insert(
                order_id,
                Track {
                    placed: Some(Instant::now()),
                    waiter: Some(tx),
                    ..Track::default()
                },
            );
        }
        let topic = topics::ORDERS_PLACED.to_owned();
        let _ = pos.commands.send(LinkCommand::Publish { topic, payload });
        if tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .is_err()
        {
            timed_out += 1;
        }
    }
    timed_out
}

/// The observer: records when each order got ready, prepared or failed.
async fn observe(mut link: Link, tracks: Tracks) {
    while let Some(d) = link.deliveries.recv().await {
        let now = Instant::now();
        let env = RawEnvelope::parse(&d.publish.payload);
        let topic = d.publish.topic.clone();
        let _ = link.commands.send(LinkCommand::Ack(d));
        let Ok(env) = env else { continue };
        let Ok(mut all) = tracks.lock() else { return };
        let Some(t) = all.get_mut(&env.correlation_id) else {
            continue;
        };
        match topic.as_str() {
            topics::ORDERS_READY => t.ready = t.ready.or(Some(now)),
            topics::ORDERS_PREPARED => t.prepared = t.prepared.or(Some(now)),
            _ => t.failed = true,
        }
        if topic != topics::ORDERS_PREPARED {
            if let Some(w) = t.waiter.take() {
                let _ = w.send(());
            }
        }
    }
}

fn all_prepared(tracks: &Tracks) -> bool {
    tracks
        .lock()
        .map(|t| t.values().all(|t| t.prepared.is_some() || t.failed))
        .unwrap_or(true)
}

fn report(
    tracks: &Tracks,
    options: BenchOptions,
    elapsed: Duration,
    timed_out: usize,
    rss_idle_kib: u64,
) -> BenchReport {
    let mut to_ready = Vec::new();
    let mut to_prepared = Vec::new();
    let mut failed = 0;
    if let Ok(all) = tracks.lock() {
        for t in all.values() {
            let Some(placed) = t.placed else { continue };
            to_ready.extend(t.ready.map(|r| r.duration_since(placed)));
            to_prepared.extend(t.prepared.map(|p| p.duration_since(placed)));
            failed += usize::from(t.failed);
        }
    }
    to_ready.sort();
    to_prepared.sort();
    BenchReport {
        options,
        elapsed,
        to_ready,
        to_prepared,
        failed,
        timed_out,
        rss_idle_kib,
        rss_peak_kib: proc_status_kib("VmHWM"),
    }
}

/// The `q` quantile of sorted durations, in milliseconds.
pub fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let o = &self.options;
        let fsync = if o.fsync { "on" } else { "off" };
        writeln!(
            f,
            "milo bench: {} orders from {} POS clients, fsync {fsync}",
            o.orders, o.concurrency
        )?;
        let rate = self.to_ready.len() as f64 / self.elapsed.as_secs_f64();
        writeln!(
            f,
            "  throughput   {rate:.0} orders/s ({} ready in {:.2} s)",
            self.to_ready.len(),
            self.elapsed.as_secs_f64()
        )?;
        for (name, v) in [
            ("to ready", &self.to_ready),
            ("to prepared", &self.to_prepared),
        ] {
            writeln!(
                f,
                "  {name:<12} p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
                quantile_ms(v, 0.5),
                quantile_ms(v, 0.95),
                quantile_ms(v, 0.99),
                quantile_ms(v, 1.0)
            )?;
        }
        writeln!(f, "  failed {}, timed out {}", self.failed, self.timed_out)?;
        write!(
            f,
            "  rss idle {:.1} MB, peak {:.1} MB",
            self.rss_idle_kib as f64 / 1024.0,
            self.rss_peak_kib as f64 / 1024.0
        )
    }
}
