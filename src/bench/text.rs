//! [`BenchReport`] for a person: one line per figure, "n/a" where a figure could not be read.

use std::fmt::{self, Display, Formatter};

use super::report::{BenchReport, Quantiles, Work};
use super::Until;

/// `v` with `decimals`, or "n/a".
fn num(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "n/a".into(),
    }
}

/// Bytes in kB (1,000), or "n/a".
fn kb(v: Option<f64>) -> String {
    num(v.map(|b| b / 1000.0), 1) + " kB"
}

fn quantiles(f: &mut Formatter<'_>, name: &str, q: &Quantiles) -> fmt::Result {
    let ms = |v| num(v, 1);
    writeln!(
        f,
        "  {name:<12} p50 {} ms  p95 {} ms  p99 {} ms  max {} ms",
        ms(q.p50),
        ms(q.p95),
        ms(q.p99),
        ms(q.max)
    )
}

fn work(f: &mut Formatter<'_>, w: &Work) -> fmt::Result {
    writeln!(
        f,
        "  per order    cpu {} ms, disk {} written, {} write syscalls (files and sockets)",
        num(w.cpu_ms, 2),
        kb(w.disk_write_bytes),
        num(w.write_syscalls, 1)
    )?;
    writeln!(
        f,
        "  stores       {} syncs, {} fdatasyncs, {} ms syncing, {} applied per order",
        num(Some(w.store_syncs), 2),
        num(Some(w.store_fdatasyncs), 2),
        num(Some(w.store_sync_ms), 2),
        kb(Some(w.store_bytes))
    )
}

impl Display for BenchReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (o, n) = (&self.options, &self.orders);
        let fsync = if o.fsync { "on" } else { "off" };
        let security = if o.security { "on" } else { "off" };
        let until = match o.until {
            Until::Prepared => "prepared",
            Until::Ready => "ready",
        };
        let stations = match o.stations {
            1 => "1 station".to_owned(),
            n => format!("{n} stations"),
        };
        writeln!(
            f,
            "milo bench: {} orders from {} POS clients, {stations}, next order once {until}, fsync {fsync}, security {security}",
            o.orders, o.concurrency
        )?;
        writeln!(
            f,
            "  completed    {} orders/s ({} prepared in {:.2} s; intake {} orders/s ready)",
            num(self.completed_per_s, 0),
            n.completed,
            self.elapsed_s,
            num(self.ready_per_s, 0)
        )?;
        writeln!(
            f,
            "  failed {}, timed out {}, not placed {} (run limit {:.0} s)",
            n.failed, n.timed_out, n.not_placed, o.timeout_s
        )?;
        quantiles(f, "to ready", &self.to_ready_ms)?;
        quantiles(f, "to prepared", &self.to_prepared_ms)?;
        match &self.per_order {
            Some(w) => work(f, w)?,
            None => writeln!(f, "  per order    n/a (no order completed)")?,
        }
        let completed = (n.completed > 0).then_some(n.completed as f64);
        let syncs: Vec<String> = self
            .stores
            .iter()
            .map(|(part, w)| format!("{part} {}", num(completed.map(|c| w.syncs as f64 / c), 2)))
            .collect();
        writeln!(f, "  syncs/order  {}", syncs.join(", "))?;
        let stations: Vec<String> = self
            .prepared_by_station
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        writeln!(f, "  stations     {}", stations.join(", "))?;
        let orders = self.orders.completed.max(1) as f64;
        writeln!(
            f,
            "  log          {} events kept, {:.1} kB ({:.2} MB per 1,000 orders)",
            self.log_events,
            self.log_bytes as f64 / 1000.0,
            self.log_bytes as f64 / orders * 1000.0 / 1e6
        )?;
        writeln!(
            f,
            "  open         {:.0} ms with {} past orders; on disk {:.1} MB at the end ({} kB per stored order)",
            self.open_ms,
            self.past_orders,
            self.disk_bytes as f64 / 1e6,
            num(self.disk_per_stored_order().map(|b| b / 1000.0), 1)
        )?;
        write!(
            f,
            "  rss          idle {:.1} MB, peak {:.1} MB",
            self.rss_idle_kib as f64 / 1024.0,
            self.rss_peak_kib as f64 / 1024.0
        )
    }
}
