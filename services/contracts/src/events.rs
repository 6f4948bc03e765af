//! Typed data of every event in the order flow. Amounts are integer cents; ingredient
//! quantities are integer units named in the menu (grams, millilitres, pieces).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::{DecodeError, Event};
use crate::payments::PaymentMethod;
use crate::topics;

/// Ingredient name → quantity in the ingredient's unit.
pub type Ingredients = BTreeMap<String, u64>;

/// One line of an order as a customer asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    /// Menu item key, e.g. `latte`.
    pub item: String,
    /// Size key; the item's default size when absent.
    #[serde(default)]
    pub size: Option<String>,
    /// Milk key; the item's default milk when absent.
    #[serde(default)]
    pub milk: Option<String>,
    /// How many; must be at least 1.
    #[serde(default = "one")]
    pub qty: i64,
    /// Modifier keys (`extra_shot`, `vanilla`, `iced`...), each allowed for the item.
    #[serde(default)]
    pub modifiers: Vec<String>,
}

fn one() -> i64 {
    1
}

/// One line of an order after pricing: every choice resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    /// Menu item key.
    pub item: String,
    /// Size key.
    pub size: String,
    /// Milk key, if the item takes milk.
    pub milk: Option<String>,
    /// How many.
    pub qty: u32,
    /// Price of one, modifiers and milk included, in cents.
    pub unit_price_cents: u64,
    /// Modifier keys.
    #[serde(default)]
    pub modifiers: Vec<String>,
}

macro_rules! event {
    ($ty:ty, $name:literal, $version:literal, $topic:expr) => {
        impl Event for $ty {
            const TYPE: &'static str = $name;
            const VERSION: u32 = $version;
            const TOPIC: &'static str = $topic;
        }
    };
}

/// A POS asks for an order. The order id (UUID v7) is the idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPlaced {
    /// Made by the POS, carried end to end.
    pub order_id: Uuid,
    /// What the customer asked for.
    pub items: Vec<OrderLine>,
    /// Name to call out at pickup.
    #[serde(default)]
    pub customer: Option<String>,
    /// How the customer pays: card unless the till says cash. Left out of the JSON for a card
    /// order, so a card order reads byte for byte as before cash existed (see
    /// [`PaymentMethod`]).
    #[serde(default, skip_serializing_if = "PaymentMethod::is_card")]
    pub payment: PaymentMethod,
}
event!(OrderPlaced, "OrderPlaced", 1, topics::ORDERS_PLACED);

/// The order service accepted and priced an order. Version 2: lines carry their modifiers and
/// the customer's name is included. Version 1 is still read (see [`OrderCreatedV1`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderCreated {
    /// The order.
    pub order_id: Uuid,
    /// Priced lines, with modifiers.
    pub lines: Vec<PricedLine>,
    /// Sum of the lines, in cents.
    pub total_cents: u64,
    /// Ingredients the order needs, by the menu's recipes.
    pub ingredients: Ingredients,
    /// Name to call out at pickup.
    pub customer: Option<String>,
    /// How the customer pays (card when absent; see [`OrderPlaced::payment`]).
    #[serde(default, skip_serializing_if = "PaymentMethod::is_card")]
    pub payment: PaymentMethod,
}

impl Event for OrderCreated {
    const TYPE: &'static str = "OrderCreated";
    const VERSION: u32 = 2;
    const TOPIC: &'static str = topics::ORDERS_CREATED;

    fn upcast(version: u32, data: &str) -> Option<Result<Self, DecodeError>> {
        (version == 1).then(|| {
            serde_json::from_str::<OrderCreatedV1>(data)
                .map(OrderCreated::from)
                .map_err(|e| DecodeError::WrongSchema(format!("OrderCreated v1: {e}")))
        })
    }
}

/// `orders/created` version 1, as order services before modifiers published it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderCreatedV1 {
    /// The order.
    pub order_id: Uuid,
    /// Priced lines (no modifiers).
    pub lines: Vec<PricedLineV1>,
    /// Sum of the lines, in cents.
    pub total_cents: u64,
    /// Ingredients the order needs.
    pub ingredients: Ingredients,
}

/// A priced line of [`OrderCreatedV1`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricedLineV1 {
    /// Menu item key.
    pub item: String,
    /// Size key.
    pub size: String,
    /// Milk key.
    pub milk: Option<String>,
    /// How many.
    pub qty: u32,
    /// Price of one, in cents.
    pub unit_price_cents: u64,
}

impl From<OrderCreatedV1> for OrderCreated {
    /// Upcast: no modifiers, no customer name.
    fn from(v1: OrderCreatedV1) -> Self {
        OrderCreated {
            order_id: v1.order_id,
            lines: v1
                .lines
                .into_iter()
                .map(|l| PricedLine {
                    item: l.item,
                    size: l.size,
                    milk: l.milk,
                    qty: l.qty,
                    unit_price_cents: l.unit_price_cents,
                    modifiers: Vec::new(),
                })
                .collect(),
            total_cents: v1.total_cents,
            ingredients: v1.ingredients,
            customer: None,
            payment: PaymentMethod::Card,
        }
    }
}

/// The order service refused an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRejected {
    /// The order.
    pub order_id: Uuid,
    /// Why, in words a barista understands.
    pub reason: String,
}
event!(OrderRejected, "OrderRejected", 1, topics::ORDERS_REJECTED);

/// Paid and stocked: a drink to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderReady {
    /// The order.
    pub order_id: Uuid,
    /// What to make.
    pub lines: Vec<PricedLine>,
    /// Name to call out at pickup.
    pub customer: Option<String>,
}
event!(OrderReady, "OrderReady", 1, topics::ORDERS_READY);

/// A ticket handed to one barista device (published on `devices/<id>/tickets`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketAssigned {
    /// The order.
    pub order_id: Uuid,
    /// The device that should make it.
    pub station: String,
    /// What to make.
    pub lines: Vec<PricedLine>,
    /// Name to call out at pickup.
    pub customer: Option<String>,
    /// Which hand-out of this ticket this is (0 first; one more each time it moves to another
    /// station). A station answers reports with it; a newer attempt at the same station is a
    /// new job there.
    #[serde(default)]
    pub attempt: u32,
    /// When the ticket was first queued, for its age on the station's display.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub queued_at: Option<time::OffsetDateTime>,
}
event!(
    TicketAssigned,
    "TicketAssigned",
    1,
    topics::DEVICE_TICKETS_ALL
);

/// A barista device finished the order's drinks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPrepared {
    /// The order.
    pub order_id: Uuid,
    /// The device that made it.
    pub station: String,
    /// Time spent at the machine, in milliseconds.
    pub prep_ms: u64,
}
event!(OrderPrepared, "OrderPrepared", 1, topics::ORDERS_PREPARED);

/// The order could not be completed: what was done is being undone. In choreography payment
/// and inventory compensate on this event; `orders/canceled` follows once both confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFailed {
    /// The order.
    pub order_id: Uuid,
    /// Why.
    pub reason: String,
    /// Ingredients the bar used before it stopped: they do not go back to stock.
    #[serde(default, skip_serializing_if = "Ingredients::is_empty")]
    pub consumed: Ingredients,
}
event!(OrderFailed, "OrderFailed", 1, topics::ORDERS_FAILED);

/// The order is canceled and every step it took is undone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCanceled {
    /// The order.
    pub order_id: Uuid,
    /// Why (payment declined, out of stock, the bar could not make it, the customer asked...).
    pub reason: String,
    /// Amount refunded, in cents (0 when nothing was charged).
    pub refunded_cents: u64,
    /// Ingredients given back to stock.
    pub released: Ingredients,
    /// The compensations done, in the order they were done, e.g. `refunded 450 cents`.
    pub compensations: Vec<String>,
}
event!(OrderCanceled, "OrderCanceled", 1, topics::ORDERS_CANCELED);

/// The gateway charged the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCompleted {
    /// The order.
    pub order_id: Uuid,
    /// Amount charged, in cents.
    pub amount_cents: u64,
    /// The gateway's transaction id (`cash` for a cash payment).
    pub transaction_id: String,
    /// How it was paid (card when absent, as before cash existed).
    #[serde(default, skip_serializing_if = "PaymentMethod::is_card")]
    pub payment: PaymentMethod,
}
event!(
    PaymentCompleted,
    "PaymentCompleted",
    1,
    topics::PAYMENTS_COMPLETED
);

/// The gateway declined the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentFailed {
    /// The order.
    pub order_id: Uuid,
    /// Amount asked, in cents.
    pub amount_cents: u64,
    /// Why the gateway declined.
    pub reason: String,
}
event!(PaymentFailed, "PaymentFailed", 1, topics::PAYMENTS_FAILED);

/// A charge was given back because the order failed after it was paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRefunded {
    /// The order.
    pub order_id: Uuid,
    /// Amount refunded, in cents.
    pub amount_cents: u64,
    /// The charge's transaction id.
    pub transaction_id: String,
    /// How it had been paid (card when absent): cash goes back over the counter.
    #[serde(default, skip_serializing_if = "PaymentMethod::is_card")]
    pub payment: PaymentMethod,
}
event!(
    PaymentRefunded,
    "PaymentRefunded",
    1,
    topics::PAYMENTS_REFUNDED
);

/// A charge authorized offline (`payment.when_offline = "queue"`), announced then as
/// `payments/completed`, was declined by the card processor when it was captured: the drink
/// was made, the money was not taken. Published in the same transaction that records the
/// decline for the manager; analytics takes the amount back out of the card money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDeclinedOffline {
    /// The order.
    pub order_id: Uuid,
    /// The amount announced as paid and not taken, in cents.
    pub amount_cents: u64,
    /// The customer's name, if the order gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// Why the processor declined.
    #[serde(default)]
    pub reason: String,
    /// When the processor declined it (RFC 3339, UTC).
    #[serde(default)]
    pub at: String,
}
event!(
    PaymentDeclinedOffline,
    "PaymentDeclinedOffline",
    1,
    topics::PAYMENTS_DECLINED_OFFLINE
);

/// Inventory set the order's ingredients aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryReserved {
    /// The order.
    pub order_id: Uuid,
    /// What was set aside.
    pub ingredients: Ingredients,
}
event!(
    InventoryReserved,
    "InventoryReserved",
    1,
    topics::INVENTORY_RESERVED
);

/// Inventory could not set the order's ingredients aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryFailed {
    /// The order.
    pub order_id: Uuid,
    /// Why, e.g. `out of oat_milk_ml: need 200, have 50`.
    pub reason: String,
    /// Each short ingredient and how much is missing.
    pub missing: Ingredients,
}
event!(
    InventoryFailed,
    "InventoryFailed",
    1,
    topics::INVENTORY_FAILED
);

/// Inventory gave a reservation back to stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryReleased {
    /// The order.
    pub order_id: Uuid,
    /// What went back to stock.
    pub ingredients: Ingredients,
}
event!(
    InventoryReleased,
    "InventoryReleased",
    1,
    topics::INVENTORY_RELEASED
);

/// The customer was told about their order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerNotified {
    /// The order.
    pub order_id: Uuid,
    /// Who.
    pub customer: Option<String>,
    /// What they were told.
    pub message: String,
}
event!(
    CustomerNotified,
    "CustomerNotified",
    1,
    topics::CUSTOMERS_NOTIFIED
);

/// A service could not use a message; published on `dlq/<service>/<original topic>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLettered {
    /// The service that refused it.
    pub service: String,
    /// Where it arrived.
    pub topic: String,
    /// Why it was refused.
    pub reason: String,
    /// Id in the service's dead-letter store (`milo dlq show`).
    pub dead_letter_id: u64,
    /// The payload as text (or `hex:` + hex when not UTF-8), cut to a few KiB.
    pub payload: String,
}
event!(DeadLettered, "DeadLettered", 1, topics::DLQ_ALL);

/// One order on the pickup board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardEntry {
    /// The order.
    pub order_id: Uuid,
    /// Name to call out.
    pub customer: Option<String>,
    /// `preparing` (paid, at the bar), `ready` (for pickup), `canceled` or `failed`
    /// (rejected at placement).
    pub state: String,
    /// Why it failed, for failed orders.
    pub reason: Option<String>,
}

/// The pickup board as it stands (retained on `boards/pickup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PickupBoard {
    /// Newest first.
    pub entries: Vec<BoardEntry>,
}
event!(PickupBoard, "PickupBoard", 1, topics::BOARDS_PICKUP);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Envelope, RawEnvelope};

    #[test]
    fn order_created_v1_is_upcast_and_v3_refused() {
        let id = Uuid::now_v7();
        let v1 = OrderCreatedV1 {
            order_id: id,
            lines: vec![PricedLineV1 {
                item: "latte".into(),
                size: "small".into(),
                milk: Some("oat".into()),
                qty: 2,
                unit_price_cents: 440,
            }],
            total_cents: 880,
            ingredients: Ingredients::from([("beans_g".into(), 36)]),
        };
        let mut env = Envelope::new("order", id, None, OrderCreated::from(v1.clone()));
        env.version = 1;
        let mut json: serde_json::Value = serde_json::from_slice(&env.to_json()).unwrap();
        json["data"] = serde_json::to_value(&v1).unwrap();
        let raw = RawEnvelope::parse(json.to_string().as_bytes()).unwrap();
        let read: OrderCreated = raw.decode().unwrap();
        assert_eq!(read.lines[0].modifiers, Vec::<String>::new());
        assert_eq!((read.customer, read.total_cents), (None, 880));
        json["version"] = 3.into();
        let raw = RawEnvelope::parse(json.to_string().as_bytes()).unwrap();
        assert!(matches!(
            raw.decode::<OrderCreated>(),
            Err(DecodeError::UnknownVersion { version: 3, .. })
        ));
    }
}
