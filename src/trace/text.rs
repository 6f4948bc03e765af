//! The timeline as `milo trace` prints it: a header, one line per event (time, producer and
//! number, type, topic, short id, cause, whether it compensates), and under each event one
//! line per part that consumes it, saying what that part did. Times are UTC.

use std::fmt::Write;

use milo_contracts::trace::TracedLetter;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

use super::{Handling, Outcome, Read, Step, Trace};

const CLOCK: &[FormatItem<'_>] =
    format_description!("[hour]:[minute]:[second].[subsecond digits:3]");
const DAY: &[FormatItem<'_>] = format_description!("[year]-[month]-[day]");

/// The last 8 hex digits of an id: its random part (the first ones of a UUID v7 are its time,
/// the same for every event of an order).
pub fn short(id: Uuid) -> String {
    let simple = id.simple().to_string();
    simple[simple.len() - 8..].to_owned()
}

/// The whole timeline as text.
pub fn render(trace: &Trace) -> String {
    let mut out = String::new();
    let first_day = trace.events.first().map(|s| day(s.occurred_at));
    let _ = writeln!(
        out,
        "order {}: {} events{}",
        trace.order_id,
        trace.events.len(),
        first_day
            .as_ref()
            .map_or(String::new(), |d| format!(" (times UTC, {d})")),
    );
    for line in read_lines(trace) {
        let _ = writeln!(out, "{line}");
    }
    let producer = width(trace.events.iter().map(producer));
    let kind = width(trace.events.iter().map(|s| s.kind.clone()));
    let topic = width(trace.events.iter().map(|s| s.topic.clone()));
    let part = width(
        trace
            .events
            .iter()
            .flat_map(|s| &s.handled)
            .map(|h| h.part.clone()),
    );
    let mut today = first_day;
    for s in &trace.events {
        let d = day(s.occurred_at);
        if today.as_ref() != Some(&d) {
            let _ = writeln!(out, "--- {d}");
            today = Some(d);
        }
        let mut line = format!(
            "{}  {:<producer$}  {:<kind$}  {:<topic$}  {}",
            clock(s.occurred_at),
            self::producer(s),
            s.kind,
            s.topic,
            short(s.id),
        );
        if let Some(cause) = s.causation_id {
            let _ = write!(line, "  caused by {}", short(cause));
            if !s.cause_in_trace {
                line.push_str(" (in no log)");
            }
        }
        if s.compensation {
            line.push_str("  compensation");
        }
        let _ = writeln!(out, "{}", line.trim_end());
        for h in &s.handled {
            let _ = writeln!(out, "    {:<part$}  {}", h.part, handling(h));
        }
    }
    if !trace.dead_letters.is_empty() {
        let _ = writeln!(
            out,
            "dead letters about the order holding none of these events:"
        );
        for l in &trace.dead_letters {
            let _ = writeln!(out, "    {}  {}", l.part, letter(&l.letter));
        }
    }
    out
}

/// Which parts were read how, and which not.
fn read_lines(trace: &Trace) -> Vec<String> {
    let named = |want: fn(&Read) -> bool| {
        let parts = trace.parts.iter().filter(|p| want(&p.read));
        parts
            .map(|p| p.part.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = Vec::new();
    let stores = named(|r| *r == Read::Store);
    if !stores.is_empty() {
        lines.push(format!("read from their stores: {stores}"));
    }
    let asked = named(|r| *r == Read::Asked);
    if !asked.is_empty() {
        lines.push(format!("asked over MQTT: {asked}"));
    }
    for p in &trace.parts {
        if let Read::Absent(why) | Read::Unreachable(why) = &p.read {
            lines.push(format!("not read: {}: {why}", p.part));
        }
    }
    lines
}

fn handling(h: &Handling) -> String {
    let mut said = match h.outcome {
        Outcome::Applied => "applied".to_owned(),
        Outcome::AppliedOther => "applied another payload under this id".to_owned(),
        Outcome::NotSeen => "not seen".to_owned(),
        Outcome::Unknown => "unknown: not read".to_owned(),
        Outcome::DeadLettered => String::new(),
    };
    for l in &h.dead_letters {
        if !said.is_empty() {
            said.push_str("; ");
        }
        let _ = write!(said, "dead-lettered: {} (dead letter {})", l.reason, l.id);
    }
    said
}

fn letter(l: &TracedLetter) -> String {
    let event = l.event_id.map_or("unknown".to_owned(), short);
    let at = l.received_at.to_offset(UtcOffset::UTC);
    format!(
        "dead letter {}  {} {}  {}  event {event}  {}",
        l.id,
        day(at),
        clock(at),
        l.topic,
        l.reason
    )
}

fn producer(s: &Step) -> String {
    match s.seq {
        Some(n) => format!("{}#{n}", s.source),
        None => s.source.clone(),
    }
}

fn width(texts: impl Iterator<Item = String>) -> usize {
    texts.map(|t| t.chars().count()).max().unwrap_or(0)
}

fn clock(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    at.format(CLOCK).unwrap_or_default()
}

fn day(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    at.format(DAY).unwrap_or_default()
}
