//! The pickup board as the notification service keeps it: one slot per order on it, what
//! each event does to a slot ([`next`], a pure table), and the board as published
//! ([`Board::render`], each state's list capped).
//!
//! Slots are stored one per order (`entry/<order>`) and kept in memory too, indexed by state
//! and by when each entered it, so that an event touches one small record and a publish reads
//! no store at all.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use milo_bus::retry;
use milo_contracts::events::{BoardEntry, PickupBoard};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where an order stands on the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Paid and at the bar.
    Preparing,
    /// Ready for pickup.
    Ready,
    /// Canceled, with the reason.
    Canceled,
    /// Rejected at placement, with the reason.
    Failed,
}

impl State {
    /// Every state, in the order the board lists them.
    pub const ALL: [State; 4] = [
        State::Ready,
        State::Preparing,
        State::Canceled,
        State::Failed,
    ];

    /// The name shown on the board.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Preparing => "preparing",
            State::Ready => "ready",
            State::Canceled => "canceled",
            State::Failed => "failed",
        }
    }
}

/// What happened to an order, as the board sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// `orders/ready`: paid and stocked, a drink to make.
    Queued,
    /// `orders/prepared`: made.
    Prepared,
    /// `tickets/recalled`: the drink is back on the bar's rail.
    Recalled,
    /// `tickets/bumped`: made again after a recall.
    Bumped,
    /// `orders/canceled`.
    Canceled,
    /// `orders/rejected`.
    Rejected,
    /// `orders/collected`: the customer has it.
    Collected,
    /// Ready and not collected within the pickup timeout.
    Expired,
}

/// What a move does to the order's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing.
    Keep,
    /// The order is shown in this state.
    Set(State),
    /// The order leaves the board.
    Remove,
}

/// What `m` does to an order shown in `current` (none: not on the board), `told` when the
/// customer has already heard its outcome (so a late event does not put a collected or
/// finished order back).
pub fn next(current: Option<State>, told: bool, m: Move) -> Next {
    use State::{Preparing, Ready};
    match (m, current) {
        (Move::Queued, None) if !told => Next::Set(Preparing),
        (Move::Prepared, None) if !told => Next::Set(Ready),
        (Move::Prepared | Move::Bumped, Some(Preparing)) => Next::Set(Ready),
        (Move::Recalled, Some(Ready)) => Next::Set(Preparing),
        (Move::Canceled, None | Some(Preparing)) if !told => Next::Set(State::Canceled),
        (Move::Rejected, None | Some(Preparing)) if !told => Next::Set(State::Failed),
        (Move::Collected, Some(_)) | (Move::Expired, Some(Ready)) => Next::Remove,
        _ => Next::Keep,
    }
}

/// One order on the board (stored at `entry/<order>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Where it stands.
    pub state: State,
    /// Name to call out.
    pub customer: Option<String>,
    /// Why it was canceled or failed.
    pub reason: Option<String>,
    /// When it entered its state, as a counter: higher is newer.
    pub seq: u64,
    /// Its pickup timer's key in the store, while ready.
    pub timer: Option<String>,
}

/// Every order on the board, in memory.
#[derive(Debug, Default)]
pub struct Board {
    slots: HashMap<Uuid, Slot>,
    by_state: HashMap<State, BTreeMap<u64, Uuid>>,
    /// Pending pickup timers' keys, soonest first (the key starts with the due time).
    timers: BTreeSet<String>,
    next_seq: u64,
}

impl Board {
    /// The board as stored: its slots and every pending timer key.
    pub fn load(slots: impl IntoIterator<Item = (Uuid, Slot)>, timers: BTreeSet<String>) -> Board {
        let mut board = Board {
            timers,
            ..Board::default()
        };
        for (id, slot) in slots {
            board.next_seq = board.next_seq.max(slot.seq + 1);
            board.index(id, &slot);
            board.slots.insert(id, slot);
        }
        board
    }

    fn index(&mut self, id: Uuid, slot: &Slot) {
        self.by_state
            .entry(slot.state)
            .or_default()
            .insert(slot.seq, id);
    }

    /// The order's slot, if it is on the board.
    pub fn get(&self, id: Uuid) -> Option<&Slot> {
        self.slots.get(&id)
    }

    /// Shows the order in `state` as the newest of it; returns the slot to store.
    pub fn set(
        &mut self,
        id: Uuid,
        state: State,
        customer: Option<String>,
        reason: Option<String>,
        timer: Option<String>,
    ) -> &Slot {
        self.remove(id);
        let slot = Slot {
            state,
            customer,
            reason,
            seq: self.next_seq,
            timer,
        };
        self.next_seq += 1;
        self.index(id, &slot);
        if let Some(key) = &slot.timer {
            self.timers.insert(key.clone());
        }
        self.slots.entry(id).or_insert(slot)
    }

    /// Takes the order off the board; returns what it was.
    pub fn remove(&mut self, id: Uuid) -> Option<Slot> {
        let slot = self.slots.remove(&id)?;
        if let Some(list) = self.by_state.get_mut(&slot.state) {
            list.remove(&slot.seq);
        }
        if let Some(key) = &slot.timer {
            self.timers.remove(key);
        }
        Some(slot)
    }

    /// Orders in `state` beyond the newest `keep`, oldest first.
    pub fn beyond(&self, state: State, keep: usize) -> Vec<Uuid> {
        let Some(list) = self.by_state.get(&state) else {
            return Vec::new();
        };
        let extra = list.len().saturating_sub(keep);
        list.values().take(extra).copied().collect()
    }

    /// Takes every timer due by `now_ms` out of the pending set: (order, key).
    pub fn take_due(&mut self, now_ms: i64) -> Vec<(Uuid, String)> {
        let mut due = Vec::new();
        while let Some(key) = self.timers.first() {
            let tail = key.strip_prefix(retry::TIMER_PREFIX).unwrap_or(key);
            let Some(id) = retry::due_by(tail, now_ms) else {
                break;
            };
            due.push((id, key.clone()));
            self.timers.pop_first();
        }
        due
    }

    /// When the soonest pickup timer is due, if any.
    pub fn next_due(&self) -> Option<i64> {
        let key = self.timers.first()?;
        retry::due_of(key.strip_prefix(retry::TIMER_PREFIX).unwrap_or(key))
    }

    /// The board as published: the newest `size` orders of each state, newest first.
    pub fn render(&self, size: usize) -> PickupBoard {
        let mut shown: Vec<(u64, BoardEntry)> = Vec::new();
        for state in State::ALL {
            let Some(list) = self.by_state.get(&state) else {
                continue;
            };
            for (seq, id) in list.iter().rev().take(size) {
                let slot = &self.slots[id];
                let entry = BoardEntry {
                    order_id: *id,
                    customer: slot.customer.clone(),
                    state: state.as_str().to_owned(),
                    reason: slot.reason.clone(),
                };
                shown.push((*seq, entry));
            }
        }
        shown.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        PickupBoard {
            entries: shown.into_iter().map(|(_, e)| e).collect(),
        }
    }
}

/// The key of a pickup timer for `order` due at `due_ms` (the layout of the bus's durable
/// timers: due time first, so keys sort by it).
pub fn timer_key(due_ms: i64, order: Uuid) -> String {
    format!("{}{due_ms:016}/{order}", retry::TIMER_PREFIX)
}

#[cfg(test)]
mod tests;
