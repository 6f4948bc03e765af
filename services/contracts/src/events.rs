//! Typed data of every event in the order flow. Amounts are integer cents; ingredient
//! quantities are integer units named in the menu (grams, millilitres, pieces).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::Event;
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
    /// Price of one, in cents.
    pub unit_price_cents: u64,
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
}
event!(OrderPlaced, "OrderPlaced", 1, topics::ORDERS_PLACED);

/// The order service accepted and priced an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCreated {
    /// The order.
    pub order_id: Uuid,
    /// Priced lines.
    pub lines: Vec<PricedLine>,
    /// Sum of the lines, in cents.
    pub total_cents: u64,
    /// Ingredients the order needs, by the menu's recipes.
    pub ingredients: Ingredients,
    /// Name to call out at pickup.
    pub customer: Option<String>,
}
event!(OrderCreated, "OrderCreated", 1, topics::ORDERS_CREATED);

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

/// The order could not be completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFailed {
    /// The order.
    pub order_id: Uuid,
    /// Why.
    pub reason: String,
}
event!(OrderFailed, "OrderFailed", 1, topics::ORDERS_FAILED);

/// The gateway charged the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCompleted {
    /// The order.
    pub order_id: Uuid,
    /// Amount charged, in cents.
    pub amount_cents: u64,
    /// The gateway's transaction id.
    pub transaction_id: String,
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
}
event!(
    PaymentRefunded,
    "PaymentRefunded",
    1,
    topics::PAYMENTS_REFUNDED
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
event!(DeadLettered, "DeadLettered", 1, "dlq/#");

/// One order on the pickup board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardEntry {
    /// The order.
    pub order_id: Uuid,
    /// Name to call out.
    pub customer: Option<String>,
    /// `ready` or `failed`.
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
