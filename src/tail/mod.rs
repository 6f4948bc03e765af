//! `milo tail`: the live event stream as one readable line per event, for an operator at a
//! terminal (`mosquitto_sub -t '#' -v` shows raw JSON). A line says when the event was made
//! (UTC), its topic, type, order, customer, its key fields and who made it:
//!
//! ```text
//! 10:03:12.345  orders/created        OrderCreated      order 0f1c93a2  Ana  latte medium oat ×1, total 4.80  order#17
//! ```
//!
//! Filters: an order, event types, producing parts. Presence and telemetry (plain text or
//! state, not events) are shown only with `--all`.

use milo_contracts::RawEnvelope;
use serde_json::Value;
use uuid::Uuid;

/// What to show.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this order's events.
    pub order: Option<Uuid>,
    /// Only these event types (none: every type).
    pub types: Vec<String>,
    /// Only events these parts made (none: every part).
    pub parts: Vec<String>,
    /// Also messages that are not events (presence, telemetry, the pickup board...).
    pub all: bool,
}

/// The line for a message on `topic`, if `filter` keeps it.
pub fn line(topic: &str, payload: &[u8], filter: &Filter) -> Option<String> {
    let env = match RawEnvelope::parse(payload) {
        Ok(env) => env,
        Err(_) => {
            let plain =
                filter.order.is_none() && filter.types.is_empty() && filter.parts.is_empty();
            return (filter.all && plain).then(|| raw(topic, payload));
        }
    };
    if filter.order.is_some_and(|o| o != env.correlation_id)
        || (!filter.types.is_empty() && !filter.types.contains(&env.kind))
        || (!filter.parts.is_empty() && !filter.parts.contains(&env.source))
    {
        return None;
    }
    let data: Value = serde_json::from_str(env.data.get()).unwrap_or(Value::Null);
    let time = env.occurred_at;
    let order = if env.correlation_id.is_nil() {
        "-".to_owned()
    } else {
        format!("order {}", short(env.correlation_id))
    };
    let customer = data
        .get("customer")
        .and_then(Value::as_str)
        .map(|c| format!("  {}", clip(c, 24)))
        .unwrap_or_default();
    let by = match env.seq {
        Some(n) => format!("{}#{n}", env.source),
        None => env.source.clone(),
    };
    let fields = key_fields(&data);
    let fields = if fields.is_empty() {
        String::new()
    } else {
        format!("  {fields}")
    };
    Some(format!(
        "{:02}:{:02}:{:02}.{:03}  {:<22} {:<18} {order}{customer}{fields}  {by}",
        time.hour(),
        time.minute(),
        time.second(),
        time.millisecond(),
        clip(topic, 40),
        clip(&env.kind, 40),
    ))
}

/// A message that is not an event: its topic and text, shortened.
fn raw(topic: &str, payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    format!("{:<12}  {:<22} {}", "", clip(topic, 40), clip(&text, 120))
}

/// The last 8 hex digits of an id.
fn short(id: Uuid) -> String {
    let s = id.simple().to_string();
    s[s.len() - 8..].to_owned()
}

fn clip(s: &str, max: usize) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() <= max {
        clean
    } else {
        let mut cut: String = clean.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// The data's fields worth a glance: lines as `item size milk ×qty`, amounts in money, scalar
/// fields as `key=value`; ids and the customer (shown already) left out; at most 160 chars.
fn key_fields(data: &Value) -> String {
    let Some(map) = data.as_object() else {
        return String::new();
    };
    let mut parts: Vec<String> = Vec::new();
    for (key, value) in map {
        if key == "customer" || key.ends_with("_id") || key == "id" {
            continue;
        }
        let shown = match value {
            Value::Array(items) if items.iter().any(|i| i.get("item").is_some()) => {
                items.iter().map(line_item).collect::<Vec<_>>().join(", ")
            }
            Value::Number(n) if key.ends_with("_cents") => match n.as_u64() {
                Some(c) => format!(
                    "{}={}.{:02}",
                    key.trim_end_matches("_cents"),
                    c / 100,
                    c % 100
                ),
                None => format!("{key}={n}"),
            },
            Value::String(s) => format!("{key}={}", clip(s, 60)),
            Value::Number(n) => format!("{key}={n}"),
            Value::Bool(b) => format!("{key}={b}"),
            _ => continue,
        };
        parts.push(shown);
    }
    clip(&parts.join(", "), 160)
}

/// `latte medium oat ×1`.
fn line_item(line: &Value) -> String {
    let word = |k: &str| line.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut words: Vec<String> = ["item", "size", "milk"]
        .iter()
        .filter_map(|k| word(k))
        .collect();
    if let Some(q) = line.get("qty").and_then(Value::as_i64) {
        words.push(format!("×{q}"));
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use milo_contracts::events::{OrderCreated, PricedLine};
    use milo_contracts::{topics, Envelope};

    fn created(order: Uuid) -> Vec<u8> {
        let data = OrderCreated {
            order_id: order,
            lines: vec![PricedLine {
                item: "latte".into(),
                size: "medium".into(),
                milk: Some("oat".into()),
                qty: 1,
                unit_price_cents: 480,
                modifiers: Vec::new(),
            }],
            total_cents: 480,
            ingredients: Default::default(),
            customer: Some("Ana\u{1b}[31m".into()),
            payment: Default::default(),
        };
        Envelope::new("order", order, None, data).to_json_seq(17)
    }

    #[test]
    fn an_event_is_one_readable_line() {
        let order = Uuid::from_u128(0x0f1c_93a2);
        let text = line(topics::ORDERS_CREATED, &created(order), &Filter::default()).unwrap();
        assert!(text.contains(topics::ORDERS_CREATED), "{text}");
        assert!(text.contains("OrderCreated"), "{text}");
        assert!(
            text.contains("order 0f1c93a2  Ana [31m"),
            "no escape byte: {text}"
        );
        assert!(text.contains("latte medium oat ×1"), "{text}");
        assert!(text.contains("total=4.80"), "{text}");
        assert!(text.ends_with("  order#17"), "{text}");
        assert!(!text.contains('\u{1b}'));
    }

    #[test]
    fn filters_keep_what_they_name() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let only_a = Filter {
            order: Some(a),
            ..Filter::default()
        };
        assert!(line(topics::ORDERS_CREATED, &created(a), &only_a).is_some());
        assert!(line(topics::ORDERS_CREATED, &created(b), &only_a).is_none());
        let prepared = Filter {
            types: vec!["OrderPrepared".into()],
            ..Filter::default()
        };
        assert!(line(topics::ORDERS_CREATED, &created(a), &prepared).is_none());
        let payment = Filter {
            parts: vec!["payment".into()],
            ..Filter::default()
        };
        assert!(line(topics::ORDERS_CREATED, &created(a), &payment).is_none());
        // Not an event: only with --all, and never under an event filter.
        assert!(line("services/order/status", b"online", &Filter::default()).is_none());
        let all = Filter {
            all: true,
            ..Filter::default()
        };
        let shown = line("services/order/status", b"online", &all).unwrap();
        assert!(shown.contains("services/order/status") && shown.ends_with("online"));
        let all_of_a = Filter {
            all: true,
            ..only_a
        };
        assert!(line("services/order/status", b"online", &all_of_a).is_none());
    }
}
