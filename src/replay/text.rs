//! A replay's report for a terminal.

use std::fmt::Write;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{Difference, Report};

/// A time in ms since the epoch, as RFC 3339 in UTC.
pub fn time(ms: u64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// The report as lines of text.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let span = match report.span_ms {
        Some((a, b)) => format!("{} to {}", time(a), time(b)),
        None => "none".into(),
    };
    let _ = writeln!(
        out,
        "Replayed {} events from the parts' logs (made {span}) into {}.",
        report.events,
        report.into.display()
    );
    if report.from_ms.is_some() || report.to_ms.is_some() {
        let (from, to) = (
            report.from_ms.map_or("the start".into(), time),
            report.to_ms.map_or("the end".into(), time),
        );
        let _ = writeln!(out, "Compared: events made from {from} to {to}.");
    }
    for p in &report.parts {
        let records = match p.records {
            Some(n) => format!("{n} kept records, {} differ", p.records_differ),
            None => "kept records not compared".into(),
        };
        let _ = writeln!(
            out,
            "  {:<13} {} events re-run, {} answers compared, {} differ; {records}",
            p.part, p.rerun, p.compared, p.answers_differ
        );
        for note in &p.notes {
            let _ = writeln!(out, "  {:<13}   ({note})", "");
        }
    }
    for n in &report.not_rerun {
        let _ = writeln!(out, "  {:<13} not re-run: {}", n.part, n.why);
    }
    let _ = writeln!(out);
    if !report.differs() {
        let _ = writeln!(
            out,
            "No difference: this Milo answers every event of the period as the original did."
        );
        return out;
    }
    if !report.orders.is_empty() {
        let _ = writeln!(out, "{} orders would have changed:", report.orders.len());
        for (order, differences) in &report.orders {
            let _ = writeln!(out, "  order {order}");
            for d in differences {
                difference(&mut out, d);
            }
        }
    }
    if !report.shop.is_empty() {
        let _ = writeln!(out, "Shop records and events about no order that differ:");
        for d in &report.shop {
            difference(&mut out, d);
        }
    }
    out
}

fn difference(out: &mut String, d: &Difference) {
    let (head, was, now) = match d {
        Difference::Answer {
            part,
            event,
            kind,
            producer,
            at_ms,
            was,
            now,
        } => (
            format!(
                "{part} answers {producer}'s {kind} {event} ({}) otherwise",
                time(*at_ms)
            ),
            was,
            now,
        ),
        Difference::Record {
            part,
            key,
            was,
            now,
        } => (format!("{part} keeps {key} otherwise"), was, now),
    };
    let _ = writeln!(out, "    {head}");
    for (label, values) in [("was", was), ("now", now)] {
        if values.is_empty() {
            let _ = writeln!(out, "      {label}: nothing");
        }
        for v in values {
            let _ = writeln!(out, "      {label}: {v}");
        }
    }
}
