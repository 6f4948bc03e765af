//! The bookkeeping of one event, free of the store: what it adds to the all-time summary and
//! to the shop's days.
//!
//! # Which day each figure belongs to
//! - **An order, and its drinks and lead time,** belong to the day it was created (its
//!   `orders/created`'s `occurred_at`; a rejected order, which has none, the day of its
//!   `orders/rejected`). Its status may still move later (an order created at 23:58 is
//!   prepared after midnight): the day's `by_status` tells how that day's orders ended.
//! - **Money** belongs to the day it moved: a charge to the day of its `payments/completed`,
//!   a refund to the day of its `payments/refunded`, a charge authorized offline and declined
//!   when captured to the day of its `payments/declined_offline` (taken out of that day's
//!   revenue and card money), as the till counts them when the café closes its books. A day's figures are then final once it is over, and its revenue
//!   (charged − refunded) may be negative when it refunds an earlier day's charge.
//! - **Preparation times** belong to the day the drink was made (`orders/prepared`).
//!
//! Every figure lands on exactly one day when it lands in the all-time summary, so the days
//! add up to the all-time figures. Events arrive in any order: until an order's creation is
//! seen, it counts on the day of the first status event seen for it, and moves to its
//! creation day when that arrives ([`Tracked`] remembers where it counts). Orders tracked
//! before days were kept (a store from an earlier Milo) stay out of the days: on such a store
//! the days add up to the all-time figures less what came before the upgrade.

use std::collections::BTreeMap;

use jiff::civil::Date;
use milo_contracts::payments::PaymentMethod;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::summary::Summary;

/// What analytics knows of one order (`tracked/<id>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tracked {
    status: Option<String>,
    lines: Option<Vec<(String, u32)>>,
    #[serde(with = "time::serde::rfc3339::option")]
    created_at: Option<OffsetDateTime>,
    prepared: Option<(u64, i64)>,
    drinks_counted: bool,
    /// The day whose figures count this order (absent on records from before days).
    #[serde(default, with = "crate::day::serde_ymd")]
    day: Option<Date>,
    /// True once `day` is its creation's (or rejection's) day, not a provisional one.
    #[serde(default)]
    day_fixed: bool,
    /// True once a decline of its offline authorization was booked (at most once an order).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    declined_offline: bool,
}

/// What one event says about an order.
#[derive(Debug, Clone)]
pub enum Change {
    /// `orders/created`: its lines (item, quantity).
    Created(Vec<(String, u32)>),
    /// A final or intermediate status: `rejected`, `ready`, `canceled`.
    Status(&'static str),
    /// `orders/prepared`: time at the machine, ms.
    Prepared(u64),
    /// `payments/completed`: cents, and how they were paid.
    Charged(u64, PaymentMethod),
    /// `payments/refunded`: cents, and how they had been paid.
    Refunded(u64, PaymentMethod),
    /// `payments/declined_offline`: cents announced as charged (card, offline) and then
    /// declined by the processor when captured.
    DeclinedOffline(u64),
}

/// The figures one event may change: the all-time summary and the days read for it.
#[derive(Debug, Clone, Default)]
pub struct Books {
    /// All-time figures.
    pub summary: Summary,
    /// The figures of the days this event may change ([`Tracked::days_touched`]).
    pub days: BTreeMap<Date, Summary>,
}

impl Books {
    fn day(&mut self, date: Date) -> &mut Summary {
        self.days.entry(date).or_default()
    }
}

fn rank(status: &str) -> u8 {
    match status {
        "created" => 1,
        "ready" => 2,
        _ => 3,
    }
}

fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl Tracked {
    /// The days an event of shop date `date` may change for this order: that date and the
    /// one the order counts on so far.
    pub fn days_touched(&self, date: Date) -> Vec<Date> {
        let mut out = vec![date];
        out.extend(self.day.filter(|d| *d != date));
        out
    }

    /// Applies one event that happened at `at`, on shop date `date`, to this order and to
    /// `books`.
    pub fn apply(&mut self, books: &mut Books, date: Date, at: OffsetDateTime, change: Change) {
        let (status, fixes) = match change {
            Change::Created(lines) => {
                self.lines = Some(lines);
                self.created_at = Some(at);
                (Some("created"), true)
            }
            Change::Status(st) => (Some(st), st == "rejected"),
            Change::Prepared(ms) => {
                self.prepared = Some((ms, millis(at)));
                books.summary.preparation.record(ms);
                books.day(date).preparation.record(ms);
                (Some("prepared"), false)
            }
            Change::Charged(c, method) => {
                for s in [&mut books.summary, books.days.entry(date).or_default()] {
                    s.charged_cents += c;
                    if method == PaymentMethod::Cash {
                        s.cash_charged_cents += c;
                    }
                }
                (None, false)
            }
            Change::DeclinedOffline(c) => {
                if !self.declined_offline {
                    self.declined_offline = true;
                    for s in [&mut books.summary, books.days.entry(date).or_default()] {
                        s.declined_offline_cents += c;
                        s.declined_offline += 1;
                    }
                }
                (None, false)
            }
            Change::Refunded(c, method) => {
                for s in [&mut books.summary, books.days.entry(date).or_default()] {
                    s.refunded_cents += c;
                    if method == PaymentMethod::Cash {
                        s.cash_refunded_cents += c;
                    }
                }
                (None, false)
            }
        };
        if let Some(st) = status {
            self.move_to(books, st, date, fixes);
        }
        self.count_drinks(books);
    }

    /// Moves the order to `st` if that is further on, and to its day: `date` if this event
    /// fixes it (its creation or rejection), else the day it counts on, else `date`.
    fn move_to(&mut self, books: &mut Books, st: &str, date: Date, fixes: bool) {
        let before = self.status.clone();
        let after = match before.as_deref() {
            Some(cur) if rank(st) <= rank(cur) => cur.to_owned(),
            _ => st.to_owned(),
        };
        let moved = before.as_deref() != Some(after.as_str());
        if moved {
            books.summary.move_status(before.as_deref(), &after);
        }
        self.status = Some(after.clone());
        if before.is_some() && self.day.is_none() {
            // Tracked before days were kept: it is in no day's figures.
            return;
        }
        let fixes = fixes && !self.day_fixed;
        self.day_fixed |= fixes;
        let target = match self.day {
            Some(d) if !fixes => d,
            _ => date,
        };
        match (self.day, before) {
            (Some(d), before) if d == target => {
                if moved {
                    books.day(d).move_status(before.as_deref(), &after);
                }
            }
            (Some(d), Some(before)) => {
                books.day(d).take_status(&before);
                books.day(target).move_status(None, &after);
            }
            _ => books.day(target).move_status(None, &after),
        }
        self.day = Some(target);
    }

    /// Counts the drinks and the lead time once both the lines and the preparation are known.
    fn count_drinks(&mut self, books: &mut Books) {
        let (false, Some(lines), Some((_, done_ms)), Some(created)) = (
            self.drinks_counted,
            &self.lines,
            self.prepared,
            self.created_at,
        ) else {
            return;
        };
        let lead = u64::try_from(done_ms - millis(created)).unwrap_or(0);
        let mut figures = vec![&mut books.summary];
        // The order's day is its creation's, known now (`created_at` is).
        if let Some(d) = self.day {
            figures.push(books.days.entry(d).or_default());
        }
        for s in figures {
            for (item, qty) in lines {
                *s.drinks_by_item.entry(item.clone()).or_default() += u64::from(*qty);
            }
            s.lead_time.record(lead);
        }
        self.drinks_counted = true;
    }
}

#[cfg(test)]
mod tests;
