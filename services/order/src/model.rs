//! The order record and where it lives in the store.

use milo_bus::retry::{Timer, Wait};
use milo_contracts::events::{Ingredients, OrderCreated, PricedLine};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Accepted and priced; waiting for payment and stock.
    Created,
    /// Refused at placement (unknown item, bad quantity...).
    Rejected,
    /// Paid and stocked: a drink to make.
    Ready,
    /// Made.
    Prepared,
    /// Failed or canceled; what was done is being undone (`orders/failed`). Records written
    /// before compensation was confirmed called this `failed`.
    #[serde(alias = "failed")]
    Canceling,
    /// Canceled and every step undone (`orders/canceled`).
    Canceled,
}

impl Status {
    /// Every status, for parsing and listing.
    pub const ALL: [Status; 6] = [
        Status::Created,
        Status::Rejected,
        Status::Ready,
        Status::Prepared,
        Status::Canceling,
        Status::Canceled,
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Rejected => "rejected",
            Status::Ready => "ready",
            Status::Prepared => "prepared",
            Status::Canceling => "canceling",
            Status::Canceled => "canceled",
        }
    }

    /// Parses a lowercase name.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// No further change will happen.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Rejected | Status::Prepared | Status::Canceled)
    }
}

/// A customer's request to cancel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRequest {
    /// Why, as the counter gave it.
    pub reason: Option<String>,
    /// When it was asked.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Why it was refused, once refused.
    pub refused: Option<String>,
}

/// What undoing a failed or canceled order gave back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compensation {
    /// Payment confirmed what it refunded (maybe nothing).
    pub refund_confirmed: bool,
    /// Inventory confirmed what it released (maybe nothing).
    pub release_confirmed: bool,
    /// Cents refunded.
    pub refunded_cents: u64,
    /// Ingredients back in stock.
    pub released: Ingredients,
    /// Ingredients the bar used before it stopped.
    pub consumed: Ingredients,
    /// What was done, in order (`refunded 450 cents`...).
    pub done: Vec<String>,
}

/// One status change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// New status.
    pub status: Status,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// An order as the order service keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// Made by the POS.
    pub order_id: Uuid,
    /// Where it stands.
    pub status: Status,
    /// Name to call out.
    pub customer: Option<String>,
    /// Priced lines (empty when rejected).
    pub lines: Vec<PricedLine>,
    /// Total in cents.
    pub total_cents: u64,
    /// Why it was rejected or failed.
    pub reason: Option<String>,
    /// Payment completed.
    pub paid: bool,
    /// Stock reserved.
    pub reserved: bool,
    /// Every status with its time, oldest first.
    pub history: Vec<StatusChange>,
    /// What `orders/created` said, to say it again.
    #[serde(default)]
    pub created: Option<OrderCreated>,
    /// What undoing the order gave back, once it failed or was canceled.
    #[serde(default)]
    pub compensation: Compensation,
    /// A station began making it: it can no longer be canceled.
    #[serde(default)]
    pub started: bool,
    /// The customer asked to cancel.
    #[serde(default)]
    pub cancel: Option<CancelRequest>,
    /// The pending timer, if the order waits for something.
    #[serde(default)]
    pub timer: Option<Timer<Step>>,
}

impl OrderRecord {
    /// A new order, before it is priced.
    pub fn new(order_id: Uuid, customer: Option<String>) -> OrderRecord {
        OrderRecord {
            order_id,
            status: Status::Created,
            customer,
            lines: Vec::new(),
            total_cents: 0,
            reason: None,
            paid: false,
            reserved: false,
            history: Vec::new(),
            created: None,
            compensation: Compensation::default(),
            started: false,
            cancel: None,
            timer: None,
        }
    }
}

/// What an order is waiting for (choreography: the order service owns the flow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// Payment and stock answers to `orders/created` (in orchestration: any sign of the
    /// coordinator).
    Answers,
    /// `orders/prepared` after `orders/ready`.
    Prepared,
    /// Payment and inventory confirming they undid their part of a failed order.
    Compensate,
    /// The bar's answer to a withdrawal asked for a cancellation.
    Withdraw,
}

impl Step {
    /// How long this step may take.
    pub fn wait(self) -> Wait {
        match self {
            Step::Prepared => Wait::Prepare,
            _ => Wait::Backoff,
        }
    }
}

/// Key of an order record.
pub fn order_key(id: Uuid) -> String {
    format!("order/{id}")
}

/// Prefix of all order records.
pub const ORDER_PREFIX: &str = "order/";

/// Prefix of the index of orders in one status.
pub fn status_prefix(status: Status) -> String {
    format!("status/{}/", status.as_str())
}

/// Key of the answer published to an order's first `orders/placed` (`orders/created` or
/// `orders/rejected`, as published), to say it again, byte for byte, to a repeat. Kept apart
/// from the order record, which every status change rewrites and `GET /orders/{id}` shows.
pub fn answer_key(id: Uuid) -> String {
    format!("answer/{id}")
}

/// Key of how the order ended (`orders/prepared` or `orders/canceled`), as published or heard,
/// to say it again, byte for byte, to a POS that asks about an order already done.
pub fn outcome_key(id: Uuid) -> String {
    format!("outcome/{id}")
}
