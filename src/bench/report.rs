//! What a run measured, as figures: built from the orders' timings and the before/after
//! readings, printed for a person ([`std::fmt::Display`]) or as one JSON object (`Serialize`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use milo_bus::StoreStats;
use serde::Serialize;

use super::load::Tracks;
use super::probe::Usage;
use super::{BenchOptions, Until};

/// The figures of one run. Per-order figures divide the run's totals by the orders completed
/// (`None` when none was).
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// What was run.
    pub options: Options,
    /// What became of the orders.
    pub orders: Outcome,
    /// From the first placement until the last order was answered or the run gave up.
    pub elapsed_s: f64,
    /// Orders prepared per second, first placement to last `orders/prepared`: the headline.
    pub completed_per_s: Option<f64>,
    /// Orders ready (paid, stock reserved) per second, first placement to last `orders/ready`.
    pub ready_per_s: Option<f64>,
    /// Placement → `orders/ready`, in ms.
    pub to_ready_ms: Quantiles,
    /// Placement → `orders/prepared`, in ms.
    pub to_prepared_ms: Quantiles,
    /// The whole run's work, all parts and the bench's own clients (one process).
    pub total: Work,
    /// [`BenchReport::total`] per completed order.
    pub per_order: Option<Work>,
    /// Each part's share of [`Work`]'s store figures, over the whole run.
    pub stores: BTreeMap<String, StoreWork>,
    /// Orders prepared at each station.
    pub prepared_by_station: BTreeMap<String, usize>,
    /// Resident memory once the store is up, its stations usable and the clients connected.
    pub rss_idle_kib: u64,
    /// Peak resident memory of the process (`VmHWM`).
    pub rss_peak_kib: u64,
    /// The unit of the CPU time read from `/proc/self/stat`.
    pub clock_ticks_per_s: u64,
    /// False when `getconf CLK_TCK` did not answer and 100 was assumed.
    pub clock_ticks_asked: bool,
    /// Numbered events every part's log holds at the end, and their bytes as stored
    /// (keys, values and index; sled's own overhead not counted).
    pub log_events: u64,
    /// See `log_events`.
    pub log_bytes: u64,
    /// From the start of the store's parts until every one was ready, in ms.
    pub open_ms: f64,
    /// Orders already in the order service's store when it opened (`--keep`: earlier runs').
    pub past_orders: usize,
    /// Space the data directory takes on disk once the store stopped (allocated blocks).
    pub disk_bytes: u64,
}

impl BenchReport {
    /// Disk space per order stored (past orders and this run's), in bytes.
    pub fn disk_per_stored_order(&self) -> Option<f64> {
        let stored = self.past_orders + self.orders.placed;
        (stored > 0 && self.disk_bytes > 0).then(|| self.disk_bytes as f64 / stored as f64)
    }
}

/// The run's options, as run.
#[derive(Debug, Clone, Serialize)]
pub struct Options {
    /// Orders to place.
    pub orders: usize,
    /// POS clients.
    pub concurrency: usize,
    /// Barista stations.
    pub stations: usize,
    /// What a POS client waits for before its next order.
    pub until: Until,
    /// Real fdatasync at every durability point.
    pub fsync: bool,
    /// The broker's gate and per-part credentials.
    pub security: bool,
    /// The whole run's limit, seconds.
    pub timeout_s: f64,
}

/// What became of the orders. `completed + failed + timed_out = placed`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Outcome {
    /// Orders placed.
    pub placed: usize,
    /// Prepared by a station.
    pub completed: usize,
    /// Rejected or failed.
    pub failed: usize,
    /// Neither prepared nor failed when the run ended.
    pub timed_out: usize,
    /// Never placed: the run's time was up first.
    pub not_placed: usize,
}

/// p50, p95, p99 and max of a set of latencies, in ms (`None` without any).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Quantiles {
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
}

impl Quantiles {
    fn of(mut v: Vec<Duration>) -> Quantiles {
        v.sort();
        let q = |q: f64| {
            let n = v.len();
            let i = ((q * n as f64).ceil() as usize).clamp(1, n.max(1)) - 1;
            v.get(i).map(|d| d.as_secs_f64() * 1000.0)
        };
        Quantiles {
            p50: q(0.5),
            p95: q(0.95),
            p99: q(0.99),
            max: q(1.0),
        }
    }
}

/// The work a run cost: CPU and disk from procfs (`None` where unreadable), the stores' own
/// counters summed over every part.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Work {
    /// User + system CPU time of the process, ms.
    pub cpu_ms: Option<f64>,
    /// Bytes sent to the storage layer (`/proc/self/io` `write_bytes`).
    pub disk_write_bytes: Option<f64>,
    /// Write system calls, to files and sockets (`/proc/self/io` `syscw`).
    pub write_syscalls: Option<f64>,
    /// Store syncs (each a sled flush).
    pub store_syncs: f64,
    /// Real fdatasyncs among them.
    pub store_fdatasyncs: f64,
    /// Time spent in the stores' syncs, ms (they overlap: seven stores sync at once).
    pub store_sync_ms: f64,
    /// Bytes of keys and values the stores applied.
    pub store_bytes: f64,
}

impl Work {
    /// The work between two readings; CPU ticks at `hz` per second.
    pub(super) fn of(usage: &Usage, stores: &StoreStats, hz: u64) -> Work {
        let f = |v: Option<u64>| v.map(|v| v as f64);
        Work {
            cpu_ms: f(usage.cpu_ticks).map(|t| t * 1000.0 / hz.max(1) as f64),
            disk_write_bytes: f(usage.disk_write_bytes),
            write_syscalls: f(usage.write_syscalls),
            store_syncs: stores.syncs as f64,
            store_fdatasyncs: stores.fdatasyncs as f64,
            store_sync_ms: stores.sync_time.as_secs_f64() * 1000.0,
            store_bytes: stores.bytes as f64,
        }
    }

    fn per(&self, n: usize) -> Option<Work> {
        let n = (n > 0).then_some(n as f64)?;
        Some(Work {
            cpu_ms: self.cpu_ms.map(|v| v / n),
            disk_write_bytes: self.disk_write_bytes.map(|v| v / n),
            write_syscalls: self.write_syscalls.map(|v| v / n),
            store_syncs: self.store_syncs / n,
            store_fdatasyncs: self.store_fdatasyncs / n,
            store_sync_ms: self.store_sync_ms / n,
            store_bytes: self.store_bytes / n,
        })
    }
}

/// One part's store over the whole run ([`StoreStats`] as figures).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StoreWork {
    /// `sync` calls (each a sled flush).
    pub syncs: u64,
    /// Real fdatasyncs among them.
    pub fdatasyncs: u64,
    /// Time spent in them, ms.
    pub sync_ms: f64,
    /// Bytes of keys and values applied.
    pub bytes: u64,
}

impl From<&StoreStats> for StoreWork {
    fn from(s: &StoreStats) -> StoreWork {
        StoreWork {
            syncs: s.syncs,
            fdatasyncs: s.fdatasyncs,
            sync_ms: s.sync_time.as_secs_f64() * 1000.0,
            bytes: s.bytes,
        }
    }
}

/// What [`build`] needs beyond the orders' timings.
pub(super) struct Readings {
    pub started: Instant,
    pub ended: Instant,
    pub work: Work,
    pub stores: BTreeMap<String, StoreStats>,
    pub rss_idle_kib: u64,
    pub rss_peak_kib: u64,
    pub clock: (u64, bool),
    pub log: (u64, u64),
    pub open: super::Opening,
}

/// The report of a run of `options` whose orders are in `tracks`.
pub(super) fn build(tracks: &Tracks, options: &BenchOptions, r: Readings) -> BenchReport {
    let (mut to_ready, mut to_prepared) = (Vec::new(), Vec::new());
    let (mut last_ready, mut last_prepared) = (None::<Instant>, None::<Instant>);
    let mut orders = Outcome::default();
    let mut prepared_by_station = BTreeMap::new();
    for t in tracks.lock().values() {
        orders.placed += 1;
        if let Some(ready) = t.ready {
            to_ready.push(ready.duration_since(t.placed));
            last_ready = last_ready.max(Some(ready));
        }
        if let Some(prepared) = t.prepared {
            to_prepared.push(prepared.duration_since(t.placed));
            last_prepared = last_prepared.max(Some(prepared));
            let station = t.station.clone().unwrap_or_else(|| "?".into());
            *prepared_by_station.entry(station).or_default() += 1;
            orders.completed += 1;
        } else if t.failed {
            orders.failed += 1;
        } else {
            orders.timed_out += 1;
        }
    }
    orders.not_placed = options.orders.saturating_sub(orders.placed);
    let rate = |n: usize, last: Option<Instant>| {
        let secs = last?.duration_since(r.started).as_secs_f64();
        (n > 0 && secs > 0.0).then(|| n as f64 / secs)
    };
    BenchReport {
        options: Options {
            orders: options.orders,
            concurrency: options.concurrency,
            stations: options.stations,
            until: options.until,
            fsync: options.fsync,
            security: options.security,
            timeout_s: options.timeout.as_secs_f64(),
        },
        orders,
        elapsed_s: r.ended.duration_since(r.started).as_secs_f64(),
        completed_per_s: rate(orders.completed, last_prepared),
        ready_per_s: rate(to_ready.len(), last_ready),
        to_ready_ms: Quantiles::of(to_ready),
        to_prepared_ms: Quantiles::of(to_prepared),
        total: r.work,
        per_order: r.work.per(orders.completed),
        stores: r
            .stores
            .iter()
            .map(|(p, s)| (p.clone(), s.into()))
            .collect(),
        prepared_by_station,
        rss_idle_kib: r.rss_idle_kib,
        rss_peak_kib: r.rss_peak_kib,
        log_events: r.log.0,
        log_bytes: r.log.1,
        clock_ticks_per_s: r.clock.0,
        clock_ticks_asked: r.clock.1,
        open_ms: r.open.took.as_secs_f64() * 1000.0,
        past_orders: r.open.past_orders,
        disk_bytes: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_the_sample_at_or_above_the_rank() {
        let ms = |v: &[u64]| v.iter().map(|m| Duration::from_millis(*m)).collect();
        let q = Quantiles::of(ms(&[5, 1, 4, 2, 3]));
        assert_eq!((q.p50, q.max), (Some(3.0), Some(5.0)));
        let hundred: Vec<u64> = (1..=100).collect();
        let q = Quantiles::of(ms(&hundred));
        assert_eq!((q.p95, q.p99), (Some(95.0), Some(99.0)));
        assert!(Quantiles::of(Vec::new()).p50.is_none());
    }

    #[test]
    fn per_order_needs_an_order() {
        let w = Work {
            cpu_ms: Some(100.0),
            store_syncs: 10.0,
            ..Work::default()
        };
        assert!(w.per(0).is_none());
        let one = w.per(4).unwrap();
        assert_eq!((one.cpu_ms, one.store_syncs), (Some(25.0), 2.5));
    }
}
