//! What each screen shows, as the JSON its page draws: built from the parts' stores (the
//! truth, so a page that reconnects sees it whole) and the retained state the link keeps.
//!
//! The board carries only what a customer may see: a short number (`#` and the last four hex
//! digits of the order id, the same on every screen) and the first word of the name the
//! customer gave, for orders preparing or ready. No price, no reason, no id.

use milo_barista::ticket::{self, Slot};
use milo_barista::{Station, Ticket};
use milo_barista_device::{job, Job, JobState};
use milo_bus::StoreError;
use milo_contracts::bar::Telemetry;
use milo_contracts::counter::MenuAvailability;
use milo_contracts::events::{PickupBoard, PricedLine};
use milo_contracts::payments::{money, BreakerState, GatewayStatus, WhenOffline};
use milo_contracts::{topics, RawEnvelope};
use milo_order::model::{status_prefix, ORDER_PREFIX};
use milo_order::{OrderRecord, Status};
use serde_json::{json, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Sources, Web};

/// Orders read for the day's charts at most.
const DAY_LIMIT: usize = 5_000;
/// Orders in flight listed at most, per status.
const IN_FLIGHT: usize = 50;
/// Charges declined after the fact read at most (the count says if there are more).
const DECLINED: usize = 1_000;
/// Of those, listed on the dashboard, newest first.
const DECLINED_SHOWN: usize = 20;

/// `#` and the last four hex digits of the order id.
pub fn short(id: Uuid) -> String {
    let s = id.simple().to_string();
    format!("#{}", s[s.len() - 4..].to_uppercase())
}

/// The first word of a customer's name, at most 16 characters (none: empty).
pub fn first_name(customer: Option<&str>) -> String {
    let first = customer
        .and_then(|c| c.split_whitespace().next())
        .unwrap_or("");
    first.chars().take(16).collect()
}

fn ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The pickup board: `{"preparing": [{no, name}], "ready": [{no, name}]}`, newest first.
pub fn board(web: &Web) -> Value {
    let board = web
        .live
        .get(topics::BOARDS_PICKUP)
        .and_then(|p| RawEnvelope::parse(&p).ok())
        .and_then(|e| e.decode::<PickupBoard>().ok())
        .unwrap_or_default();
    let column = |state: &str| -> Vec<Value> {
        let entries = board.entries.iter().filter(|e| e.state == state);
        let shown = entries
            .map(|e| json!({ "no": short(e.order_id), "name": first_name(e.customer.as_deref()) }));
        shown.collect()
    };
    json!({ "preparing": column("preparing"), "ready": column("ready") })
}

/// A station's open tickets in making order, each with its state at the device when the
/// device runs in this process.
fn queue(sources: &Sources, station: &str) -> Result<Vec<Value>, StoreError> {
    let Some(barista) = &sources.barista else {
        return Ok(Vec::new());
    };
    let mut slots = barista.scan::<Slot>(&ticket::queue_prefix(station), None, usize::MAX)?;
    slots.sort_by_key(|(_, s)| s.seq);
    let device = sources.devices.get(station);
    let mut out = Vec::with_capacity(slots.len());
    for (tail, slot) in slots {
        let Ok(id) = tail.parse::<Uuid>() else {
            continue;
        };
        let Some(ticket) = barista.get::<Ticket>(&ticket::ticket_key(id))? else {
            continue;
        };
        let job = match device {
            Some(d) => d.get::<Job>(&job::job_key(id))?,
            None => None,
        };
        let state = match job.map(|j| j.state) {
            Some(JobState::Rail | JobState::Made) => "made",
            Some(JobState::Started) => "making",
            Some(JobState::Queued) | None if slot.started_ms.is_none() => "queued",
            _ => "making",
        };
        out.push(json!({
            "no": short(id),
            "customer": first_name(ticket.customer.as_deref()),
            "lines": ticket.lines.iter().map(line).collect::<Vec<_>>(),
            "queued_ms": ms(ticket.queued_at),
            "eta_ms": slot.eta_ms,
            "state": state,
        }));
    }
    Ok(out)
}

fn line(l: &PricedLine) -> Value {
    json!({
        "item": l.item, "size": l.size, "milk": l.milk, "qty": l.qty, "modifiers": l.modifiers,
    })
}

/// Every station the shop knows: the barista service's records, the telemetry seen, and this
/// store's own device.
pub fn stations(web: &Web) -> Vec<String> {
    let mut all: Vec<String> = web.sources.devices.keys().cloned().collect();
    if let Some(b) = &web.sources.barista {
        let known = b
            .scan::<Station>(ticket::STATION_PREFIX, None, usize::MAX)
            .unwrap_or_default();
        all.extend(known.into_iter().map(|(id, _)| id));
    }
    let seen = web.live.matching(topics::device_of_telemetry);
    all.extend(seen.into_iter().map(|(id, _)| id));
    all.sort();
    all.dedup();
    all
}

fn telemetry(web: &Web, station: &str) -> Value {
    let t = web.live.get(&topics::device_telemetry(station));
    let t = t.and_then(|p| serde_json::from_slice::<Telemetry>(&p).ok());
    let presence = web.live.get(&topics::device_status(station));
    json!({
        "telemetry": t,
        "presence": presence.map(|p| String::from_utf8_lossy(&p).into_owned()),
    })
}

/// The bar's tablet: the station's queue, its machine, the age thresholds.
pub fn bar(web: &Web, station: &str) -> Result<Value, StoreError> {
    let mut doc = telemetry(web, station);
    doc["station"] = json!(station);
    doc["queue"] = json!(queue(&web.sources, station)?);
    doc["warn_secs"] = json!(web.warn_secs);
    doc["late_secs"] = json!(web.late_secs);
    doc["now_ms"] = json!(ms(OffsetDateTime::now_utc()));
    Ok(doc)
}

/// The manager's dashboard.
pub fn dashboard(web: &Web) -> Result<Value, StoreError> {
    let s = &web.sources;
    let today = match &s.analytics {
        Some((store, zone)) => {
            let key = milo_analytics::day::day_key(zone.today());
            let figures = store.get::<milo_analytics::Summary>(&key)?;
            figures.unwrap_or_default().day_json()
        }
        None => Value::Null,
    };
    let mut shown = Vec::new();
    for id in stations(web) {
        let mut st = telemetry(web, &id);
        let q = queue(s, &id)?;
        st["eta_ms"] = json!(q.iter().filter_map(|t| t["eta_ms"].as_i64()).max());
        st["queue"] = json!(q.len());
        st["station"] = json!(id);
        shown.push(st);
    }
    let presence = |name: fn(&str) -> Option<&str>| -> Value {
        let seen = web.live.matching(name);
        let parts = seen
            .into_iter()
            .map(|(name, p)| (name, json!(String::from_utf8_lossy(&p))));
        Value::Object(parts.collect())
    };
    let stock = web
        .live
        .get(topics::MENU_AVAILABILITY)
        .and_then(|p| RawEnvelope::parse(&p).ok())
        .and_then(|e| e.decode::<MenuAvailability>().ok());
    Ok(json!({
        "today": today,
        "in_flight": in_flight(s)?,
        "day": day_series(s)?,
        "stations": shown,
        "stock": stock,
        "dead_letters": dead_letters(s)?,
        "cards": cards(web),
        "declined_offline": declined_offline(s)?,
        "broker": if web.live.connected() { "connected" } else { "unreachable" },
        "services": presence(topics::service_of_status),
        "devices": presence(topics::device_of_status),
    }))
}

/// Orders created, at the bar, or being undone.
fn in_flight(s: &Sources) -> Result<Vec<Value>, StoreError> {
    let Some(orders) = &s.order else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for status in [Status::Created, Status::Ready, Status::Canceling] {
        for (id, ()) in orders.scan::<()>(&status_prefix(status), None, IN_FLIGHT)? {
            let Some(o) = orders.get::<OrderRecord>(&format!("{ORDER_PREFIX}{id}"))? else {
                continue;
            };
            out.push(json!({
                "no": short(o.order_id),
                "customer": o.customer,
                "status": status.as_str(),
                "total_cents": o.total_cents,
                "since_ms": o.history.last().map(|h| ms(h.at)),
            }));
        }
    }
    Ok(out)
}

/// Today's orders as `[placed ms, ms from paid to made or null]`, for the page to chart in
/// its own quarter hours.
fn day_series(s: &Sources) -> Result<Vec<Value>, StoreError> {
    let (Some(orders), Some((_, zone))) = (&s.order, &s.analytics) else {
        return Ok(Vec::new());
    };
    let today = zone.today();
    // Order ids are UUID v7: their keys sort by when they were placed. Start a day and a half
    // back (any zone's midnight is within that) and keep the shop's today.
    let from = ms(OffsetDateTime::now_utc()) - 36 * 3_600_000;
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&from.max(0).to_be_bytes()[2..]);
    let after = Uuid::from_bytes(bytes).to_string();
    let mut out = Vec::new();
    for (_, o) in orders.scan::<OrderRecord>(ORDER_PREFIX, Some(&after), DAY_LIMIT)? {
        let Some((secs, nanos)) = o.order_id.get_timestamp().map(|t| t.to_unix()) else {
            continue;
        };
        let placed = secs as i64 * 1_000 + i64::from(nanos / 1_000_000);
        let Ok(at) = OffsetDateTime::from_unix_timestamp(secs as i64) else {
            continue;
        };
        if zone.date_of(at) != today || o.status == Status::Rejected {
            continue;
        }
        let when = |st: Status| o.history.iter().find(|h| h.status == st).map(|h| ms(h.at));
        let prep = when(Status::Ready)
            .zip(when(Status::Prepared))
            .map(|(r, p)| p - r);
        out.push(json!([placed, prep]));
    }
    Ok(out)
}

/// Whether card payments work, from the retained `payments/gateway`: `{state, note, offline}`
/// (`state` null until payment has said).
fn cards(web: &Web) -> Value {
    let status = web
        .live
        .get(topics::PAYMENTS_GATEWAY)
        .and_then(|p| RawEnvelope::parse(&p).ok())
        .and_then(|e| e.decode::<GatewayStatus>().ok());
    match status {
        Some(s) => json!({
            "state": s.state.as_str(),
            "offline": s.state != BreakerState::Closed,
            "note": cards_note(&s),
        }),
        None => json!({ "state": null, "offline": false, "note": "card payments: not heard yet" }),
    }
}

/// What the dashboard says of the card processor.
pub fn cards_note(s: &GatewayStatus) -> String {
    if s.state == BreakerState::Closed {
        return "card payments online".to_owned();
    }
    match (s.when_offline, s.limits) {
        (WhenOffline::Queue, Some(l)) => format!(
            "card payments offline: taken offline, {} queued, {} of {} limit",
            s.queued,
            money(s.queued_cents),
            money(l.exposure_limit_cents)
        ),
        (WhenOffline::Queue, None) => {
            format!("card payments offline: taken offline, {} queued", s.queued)
        }
        (WhenOffline::Refuse, _) => "card payments offline: card orders refused".to_owned(),
    }
}

/// The card charges authorized offline that the processor declined when captured, from the
/// payment store when payment runs in this process: `{count, list}`, newest first.
fn declined_offline(s: &Sources) -> Result<Value, StoreError> {
    let Some(payment) = &s.payment else {
        return Ok(json!({ "count": null, "list": [] }));
    };
    let mut all = milo_payment::offline::declined(payment, DECLINED)?;
    all.sort_by(|a, b| b.at.cmp(&a.at));
    let list: Vec<Value> = all
        .iter()
        .take(DECLINED_SHOWN)
        .map(|d| {
            json!({
                "no": short(d.order_id),
                "order_id": d.order_id,
                "amount_cents": d.amount_cents,
                "customer": d.customer,
                "reason": d.reason,
                "at": d.at,
            })
        })
        .collect();
    Ok(json!({ "count": all.len(), "list": list }))
}

/// Dead letters kept by every part of this process.
fn dead_letters(s: &Sources) -> Result<usize, StoreError> {
    let mut n = 0;
    for store in &s.all {
        n += store.dead_letters(0, 10_000)?.len();
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboard_says_how_card_payments_go() {
        use milo_contracts::payments::OfflineLimits;
        let mut s = GatewayStatus::default();
        assert_eq!(cards_note(&s), "card payments online");
        s.state = BreakerState::Open;
        assert_eq!(cards_note(&s), "card payments offline: card orders refused");
        s.state = BreakerState::HalfOpen;
        s.when_offline = WhenOffline::Queue;
        s.limits = Some(OfflineLimits {
            per_order_limit_cents: 2_500,
            exposure_limit_cents: 20_000,
        });
        (s.queued, s.queued_cents) = (3, 750);
        assert_eq!(
            cards_note(&s),
            "card payments offline: taken offline, 3 queued, 7.50 of 200.00 limit"
        );
    }

    #[test]
    fn a_customer_sees_a_short_number_and_a_first_name() {
        let id: Uuid = "0193a1b2-0000-7000-8000-00000000beef".parse().unwrap();
        assert_eq!(short(id), "#BEEF");
        assert_eq!(first_name(Some("  Ana María López ")), "Ana");
        assert_eq!(first_name(None), "");
        assert_eq!(
            first_name(Some("Bartholomew-Alexander")),
            "Bartholomew-Alex"
        );
    }
}
