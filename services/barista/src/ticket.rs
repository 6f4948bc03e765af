//! The ticket record, a ticket's place in a station's queue, and the store keys of the barista
//! service.
//!
//! Store layout:
//! - `ticket/<order>`: the [`Ticket`].
//! - `queue/<station>/<order>`: a [`Slot`], one per open ticket at a station (its place in the
//!   queue, its modelled time, when it started, the ready time last published).
//! - `waiting/<order>`: tickets with no station (none usable), handed out oldest order first.
//! - `station/<id>`: the [`Station`](crate::station::Station) record: presence, whether it
//!   accepts tickets, its learned speed factor.
//! - `age/<due ms>/<order>`: when an open ticket next crosses an age threshold, in due order.

use std::collections::BTreeMap;

use milo_bus::Published;
use milo_contracts::bar::AgeLevel;
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
    /// The station holding it now (none: waiting for one, or never handed out).
    pub station: Option<String>,
    /// Made (bumped).
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
    /// Why the bar could not make it, once `tickets/failed` was published or seen.
    #[serde(default)]
    pub failed: Option<String>,
    /// `tickets/withdrawn` as this service answered it, to answer a repeat with the same event.
    /// `None` while the station decides (or decided: it keeps its own answer).
    #[serde(default)]
    pub withdrawal: Option<Published>,
    /// Hand-outs so far; the current one is attempt `attempts - 1`.
    #[serde(default)]
    pub attempts: u32,
    /// Each station it was handed to, with the attempt it got there last.
    #[serde(default)]
    pub handouts: BTreeMap<String, u32>,
    /// The station that made it.
    #[serde(default)]
    pub made_by: Option<String>,
    /// Milliseconds its drinks take at speed 1.0, by the menu's stage times.
    #[serde(default)]
    pub base_ms: u64,
    /// The highest age level announced on `tickets/aged`.
    #[serde(default = "fresh")]
    pub aged: AgeLevel,
    /// `tickets/failed` as this service published it, to answer a repeat with the same event.
    #[serde(default)]
    pub failure: Option<Published>,
    /// An estimate without a station was published since it last left one.
    #[serde(default)]
    pub waiting_eta: bool,
}

fn fresh() -> AgeLevel {
    AgeLevel::Fresh
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
            attempts: 0,
            handouts: BTreeMap::new(),
            made_by: None,
            base_ms: 0,
            aged: AgeLevel::Fresh,
            failure: None,
            waiting_eta: false,
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

    /// The current hand-out's attempt number.
    pub fn attempt(&self) -> u32 {
        self.attempts.saturating_sub(1)
    }

    /// Still to make: not made, withdrawn or failed.
    pub fn open(&self) -> bool {
        !self.done && !self.withdrawn && self.failed.is_none()
    }

    /// Milliseconds since the epoch it was queued at.
    pub fn queued_ms(&self) -> i64 {
        (self.queued_at.unix_timestamp_nanos() / 1_000_000) as i64
    }
}

/// An open ticket's place in a station's queue (`queue/<station>/<order>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Hand-out order at the station (the device makes its tickets in arrival order).
    pub seq: u64,
    /// Milliseconds its drinks take at speed 1.0.
    pub base_ms: u64,
    /// When the station started it (`orders/started`, or a recall), ms since the epoch.
    #[serde(default)]
    pub started_ms: Option<i64>,
    /// The ready time last published on `orders/eta`, ms since the epoch.
    #[serde(default)]
    pub eta_ms: Option<i64>,
}

/// Prefix of the station records.
pub const STATION_PREFIX: &str = "station/";
/// Prefix of the waiting tickets.
pub(crate) const WAITING_PREFIX: &str = "waiting/";
/// Prefix of the ageing index.
pub(crate) const AGE_PREFIX: &str = "age/";

/// `ticket/<order>`.
pub fn ticket_key(id: Uuid) -> String {
    format!("ticket/{id}")
}

/// `waiting/<order>`.
pub(crate) fn waiting_key(id: Uuid) -> String {
    format!("{WAITING_PREFIX}{id}")
}

/// `queue/<station>/`.
pub fn queue_prefix(station: &str) -> String {
    format!("queue/{station}/")
}

/// `queue/<station>/<order>`.
pub(crate) fn queue_key(station: &str, id: Uuid) -> String {
    format!("queue/{station}/{id}")
}

/// `station/<id>`.
pub(crate) fn station_key(station: &str) -> String {
    format!("{STATION_PREFIX}{station}")
}

/// `age/<due ms>/<order>`: zero-padded so that keys sort by due time.
pub(crate) fn age_key(due_ms: i64, id: Uuid) -> String {
    format!("{AGE_PREFIX}{:016}/{id}", due_ms.max(0))
}

/// The due time and order of an ageing key's tail (after [`AGE_PREFIX`]).
pub(crate) fn parse_age(tail: &str) -> Option<(i64, Uuid)> {
    let (due, id) = tail.split_once('/')?;
    Some((due.parse().ok()?, id.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tombstone_is_withdrawn_and_holds_nothing() {
        let tomb = Ticket::tombstone(Uuid::now_v7(), Uuid::now_v7());
        assert!(tomb.withdrawn && tomb.lines.is_empty() && tomb.station.is_none());
        assert!(!tomb.done && tomb.failed.is_none() && tomb.withdrawal.is_none());
        assert!(!tomb.open());
    }

    #[test]
    fn attempts_count_hand_outs() {
        let mut t = Ticket::new(Uuid::now_v7(), Vec::new(), None, Uuid::now_v7());
        assert_eq!(t.attempt(), 0);
        t.attempts = 3;
        assert_eq!(t.attempt(), 2);
    }

    #[test]
    fn a_ticket_from_before_attempts_reads_with_defaults() {
        let t = Ticket::new(
            Uuid::now_v7(),
            Vec::new(),
            Some("Bo".into()),
            Uuid::now_v7(),
        );
        let mut json = serde_json::to_value(&t).unwrap();
        for field in [
            "attempts", "handouts", "made_by", "base_ms", "aged", "failure",
        ] {
            json.as_object_mut().unwrap().remove(field);
        }
        let read: Ticket = serde_json::from_value(json).unwrap();
        assert_eq!(read, t);
    }

    #[test]
    fn age_keys_sort_by_due_time_and_parse_back() {
        let id = Uuid::now_v7();
        let (early, late) = (age_key(999, id), age_key(1_000, id));
        assert!(early < late);
        assert_eq!(parse_age(&late[AGE_PREFIX.len()..]), Some((1_000, id)));
        assert_eq!(parse_age("nonsense"), None);
    }
}
