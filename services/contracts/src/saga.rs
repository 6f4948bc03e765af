//! The saga vocabulary: the switch between the two styles, the commands a coordinator sends
//! under `commands/<service>/<verb>`, the cancellation the order service passes to the
//! coordinator (`commands/saga/cancel`), and the events of cancellation and of the bar
//! (started, could not make it, withdrawn).
//!
//! Participants answer a command with the same fact event they publish in choreography
//! (`commands/payment/charge` → `payments/completed` | `payments/failed`), so the two styles
//! differ only in who asks.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::Event;
use crate::events::{Ingredients, PricedLine};
use crate::payments::PaymentMethod;
use crate::topics;

/// Who drives an order's saga (`saga.mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SagaMode {
    /// Services react to each other's events; the order service owns the timers.
    #[default]
    Choreography,
    /// The saga coordinator sends commands and keeps a state machine per order.
    Orchestration,
}

impl SagaMode {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            SagaMode::Choreography => "choreography",
            SagaMode::Orchestration => "orchestration",
        }
    }
}

macro_rules! event {
    ($ty:ty, $name:literal, $topic:expr) => {
        impl Event for $ty {
            const TYPE: &'static str = $name;
            const VERSION: u32 = 1;
            const TOPIC: &'static str = $topic;
        }
    };
}

/// `commands/inventory/reserve`: set the order's ingredients aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReserveStock {
    /// The order.
    pub order_id: Uuid,
    /// What it needs.
    pub ingredients: Ingredients,
}
event!(
    ReserveStock,
    "ReserveStock",
    topics::COMMANDS_INVENTORY_RESERVE
);

/// `commands/inventory/release`: give the order's reservation back, except what the bar used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseStock {
    /// The order.
    pub order_id: Uuid,
    /// What the bar used before it stopped (stays out of stock).
    #[serde(default)]
    pub consumed: Ingredients,
}
event!(
    ReleaseStock,
    "ReleaseStock",
    topics::COMMANDS_INVENTORY_RELEASE
);

/// `commands/payment/charge`: charge the order once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargePayment {
    /// The order (the gateway's idempotency key).
    pub order_id: Uuid,
    /// Amount in cents.
    pub amount_cents: u64,
    /// How the customer pays (card when absent: a cash order is recorded, not charged).
    #[serde(default, skip_serializing_if = "PaymentMethod::is_card")]
    pub payment: PaymentMethod,
}
event!(
    ChargePayment,
    "ChargePayment",
    topics::COMMANDS_PAYMENT_CHARGE
);

/// `commands/payment/refund`: give back what was charged (void a charge in flight).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundPayment {
    /// The order.
    pub order_id: Uuid,
}
event!(
    RefundPayment,
    "RefundPayment",
    topics::COMMANDS_PAYMENT_REFUND
);

/// `commands/barista/prepare`: make the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrepareOrder {
    /// The order.
    pub order_id: Uuid,
    /// What to make.
    pub lines: Vec<PricedLine>,
    /// Name to call out.
    pub customer: Option<String>,
}
event!(
    PrepareOrder,
    "PrepareOrder",
    topics::COMMANDS_BARISTA_PREPARE
);

/// `commands/barista/withdraw`: take the order's ticket back if the drink is not started.
/// The bar answers `tickets/withdrawn` either way. The barista service forwards it to the
/// station holding the ticket on `devices/<id>/tickets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawTicket {
    /// The order.
    pub order_id: Uuid,
}
event!(
    WithdrawTicket,
    "WithdrawTicket",
    topics::COMMANDS_BARISTA_WITHDRAW
);

/// `tickets/withdrawn`: the bar's answer to a withdrawal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketWithdrawn {
    /// The order.
    pub order_id: Uuid,
    /// True if the drink will not be made; false if it was already started or made.
    pub withdrawn: bool,
    /// Why it could not be withdrawn.
    pub reason: Option<String>,
}
event!(
    TicketWithdrawn,
    "TicketWithdrawn",
    topics::TICKETS_WITHDRAWN
);

/// `orders/started`: a station began making the order; it can no longer be canceled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStarted {
    /// The order.
    pub order_id: Uuid,
    /// The station making it.
    pub station: String,
}
event!(OrderStarted, "OrderStarted", topics::ORDERS_STARTED);

/// `tickets/failed`: a station could not make the order (machine fault, an ingredient ran out
/// at the bar).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketFailed {
    /// The order.
    pub order_id: Uuid,
    /// The station.
    pub station: String,
    /// Why, for the customer and the operator.
    pub reason: String,
    /// Ingredients used by the drinks made or begun (poured away), not to go back to stock.
    pub consumed: Ingredients,
}
event!(TicketFailed, "TicketFailed", topics::TICKETS_FAILED);

/// `cancellations/requested`: the customer wants the order canceled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequested {
    /// The order.
    pub order_id: Uuid,
    /// Why, as the counter typed it.
    #[serde(default)]
    pub reason: Option<String>,
}
event!(
    CancelRequested,
    "CancelRequested",
    topics::CANCELLATIONS_REQUESTED
);

/// `commands/saga/cancel`: the order service passes a customer's cancellation of an order it
/// has to the coordinator (orchestration), which decides it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelOrder {
    /// The order.
    pub order_id: Uuid,
    /// Why, as the counter typed it.
    #[serde(default)]
    pub reason: Option<String>,
}
event!(CancelOrder, "CancelOrder", topics::COMMANDS_SAGA_CANCEL);

/// `cancellations/refused`: the order cannot be canceled (any more), or is unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRefused {
    /// The order.
    pub order_id: Uuid,
    /// Why (the drink is already being made, [`UNKNOWN_ORDER`]...).
    pub reason: String,
}
event!(
    CancelRefused,
    "CancelRefused",
    topics::CANCELLATIONS_REFUSED
);

/// The reason a cancellation of an order the store does not have is refused with.
pub const UNKNOWN_ORDER: &str = "unknown order";

/// A refund as listed in `OrderCanceled::compensations`; `None` when nothing was charged.
pub fn refund_note(cents: u64) -> Option<String> {
    (cents > 0).then(|| format!("refunded {cents} cents"))
}

/// A release as listed in `OrderCanceled::compensations` (`released beans_g 18, cups 1`);
/// `None` when nothing went back to stock.
pub fn release_note(back: &Ingredients) -> Option<String> {
    let parts: Vec<String> = back.iter().map(|(i, u)| format!("{i} {u}")).collect();
    (!parts.is_empty()).then(|| format!("released {}", parts.join(", ")))
}
