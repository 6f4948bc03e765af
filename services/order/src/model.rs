//! The order record and where it lives in the store.

use milo_contracts::events::{OrderCreated, PricedLine};
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
    /// Payment declined or stock short.
    Failed,
}

impl Status {
    /// Every status, for parsing and listing.
    pub const ALL: [Status; 5] = [
        Status::Created,
        Status::Rejected,
        Status::Ready,
        Status::Prepared,
        Status::Failed,
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Rejected => "rejected",
            Status::Ready => "ready",
            Status::Prepared => "prepared",
            Status::Failed => "failed",
        }
    }

    /// Parses a lowercase name.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// No further change will happen.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Rejected | Status::Prepared | Status::Failed)
    }
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
    /// Payment confirmed what it refunded (maybe nothing) after a failure.
    #[serde(default)]
    pub refund_confirmed: bool,
    /// Inventory confirmed what it released (maybe nothing) after a failure.
    #[serde(default)]
    pub release_confirmed: bool,
    /// The pending timer, if the order waits for something.
    #[serde(default)]
    pub timer: Option<crate::retry::Timer>,
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
