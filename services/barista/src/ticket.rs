//! The ticket record and the store keys of the barista service.
//!
//! Store layout: `ticket/<order>` the ticket; `queue/<station>/<order>` the open tickets of a
//! station; `waiting/<order>` tickets with no station yet; `station/<id>` presence.

use milo_bus::Published;
use milo_contracts::events::PricedLine;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// One order to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// The order.
    pub order_id: Uuid,
    /// What to make (empty on a tombstone: withdrawn before the order arrived).
    pub lines: Vec<PricedLine>,
    /// Name to call out.
    pub customer: Option<String>,
    /// Station it was handed to.
    pub station: Option<String>,
    /// Made.
    pub done: bool,
    /// When it was queued.
    #[serde(with = "time::serde::rfc3339")]
    pub queued_at: OffsetDateTime,
    /// The event that made the record (`orders/ready`, `commands/barista/prepare`, or the
    /// withdrawal of a tombstone).
    pub cause: Uuid,
    /// Taken back: it will not be made, and a later `orders/ready` for it is ignored.
    #[serde(default)]
    pub withdrawn: bool,
    /// Why the station could not make it, once it reported `tickets/failed`.
    #[serde(default)]
    pub failed: Option<String>,
    /// `tickets/withdrawn` as this service answered it, to answer a repeat with the same event.
    /// `None` while the station decides (or decided: it keeps its own answer).
    #[serde(default)]
    pub withdrawal: Option<Published>,
}

impl Ticket {
    /// A new ticket waiting for a station.
    pub fn new(
        order_id: Uuid,
        lines: Vec<PricedLine>,
        customer: Option<String>,
        cause: Uuid,
    ) -> Ticket {
        Ticket {
            order_id,
            lines,
            customer,
            station: None,
            done: false,
            queued_at: OffsetDateTime::now_utc(),
            cause,
            withdrawn: false,
            failed: None,
            withdrawal: None,
        }
    }

    /// A withdrawn ticket for an order not seen yet, so that the order is ignored if it
    /// arrives later.
    pub fn tombstone(order_id: Uuid, cause: Uuid) -> Ticket {
        Ticket {
            withdrawn: true,
            ..Ticket::new(order_id, Vec::new(), None, cause)
        }
    }
}

/// `ticket/<order>`.
pub(crate) fn ticket_key(id: Uuid) -> String {
    format!("ticket/{id}")
}

/// `waiting/<order>`.
pub(crate) fn waiting_key(id: Uuid) -> String {
    format!("waiting/{id}")
}

/// `queue/<station>/<order>`.
pub(crate) fn queue_key(station: &str, id: Uuid) -> String {
    format!("queue/{station}/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tombstone_is_withdrawn_and_holds_nothing() {
        let tomb = Ticket::tombstone(Uuid::now_v7(), Uuid::now_v7());
        assert!(tomb.withdrawn && tomb.lines.is_empty() && tomb.station.is_none());
        assert!(!tomb.done && tomb.failed.is_none() && tomb.withdrawal.is_none());
    }
}
