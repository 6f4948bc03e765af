//! What the counter shows about an order: each status change ([`Update`]) read from the
//! order's events, and the line printed for it ([`describe`]), estimated ready time included.

use milo_contracts::bar::{OrderEta, TicketReturned};
use milo_contracts::events::{
    InventoryFailed, OrderCanceled, OrderCreated, OrderFailed, OrderPrepared, OrderRejected,
    PaymentFailed,
};
use milo_contracts::saga::{CancelRefused, OrderStarted};
use milo_contracts::RawEnvelope;
use time::macros::format_description;
use time::UtcOffset;
use uuid::Uuid;

/// A status change of the order, as the POS shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Accepted and priced.
    Created {
        /// Total in cents.
        total_cents: u64,
    },
    /// Paid.
    Paid,
    /// Ingredients set aside.
    Reserved,
    /// Paid and stocked: being made.
    Ready,
    /// Its estimated ready time, when its ticket is queued and again when the estimate moves.
    Eta(OrderEta),
    /// A station began making it: too late to cancel.
    Started {
        /// The station.
        station: String,
    },
    /// A station handed its ticket back (fault, restart): it goes to another station.
    Returned {
        /// The station.
        station: String,
        /// Why.
        reason: String,
    },
    /// Made: ready for pickup.
    Prepared {
        /// Station that made it.
        station: String,
    },
    /// Refused at placement.
    Rejected {
        /// Why.
        reason: String,
    },
    /// Could not be completed: what was done is being undone (`orders/canceled` follows).
    Failed {
        /// Why.
        reason: String,
    },
    /// Canceled, everything undone.
    Canceled {
        /// Why.
        reason: String,
        /// Amount given back, in cents.
        refunded_cents: u64,
    },
    /// A cancellation was refused; the order goes on.
    CancelRefused {
        /// Why.
        reason: String,
    },
    /// Payment declined or stock short (a failure follows).
    Declined {
        /// Why.
        reason: String,
    },
}

impl Update {
    /// True when no further update will come.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Update::Prepared { .. } | Update::Rejected { .. } | Update::Canceled { .. }
        )
    }

    /// True for the order service's answer to `orders/placed`: the order is in the store.
    pub fn is_answer(&self) -> bool {
        matches!(self, Update::Created { .. } | Update::Rejected { .. })
    }
}

/// An update and the order it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderUpdate {
    /// The order.
    pub order_id: Uuid,
    /// What changed.
    pub update: Update,
}

/// The update an event means for its order (`correlation_id`), if it means one.
pub fn update_of(env: &RawEnvelope) -> Option<Update> {
    Some(match env.kind.as_str() {
        "OrderCreated" => Update::Created {
            total_cents: env.decode::<OrderCreated>().ok()?.total_cents,
        },
        "PaymentCompleted" => Update::Paid,
        "InventoryReserved" => Update::Reserved,
        "OrderReady" => Update::Ready,
        "OrderEta" => Update::Eta(env.decode::<OrderEta>().ok()?),
        "OrderStarted" => Update::Started {
            station: env.decode::<OrderStarted>().ok()?.station,
        },
        "TicketReturned" => {
            let e = env.decode::<TicketReturned>().ok()?;
            Update::Returned {
                station: e.station,
                reason: e.reason,
            }
        }
        "OrderPrepared" => Update::Prepared {
            station: env.decode::<OrderPrepared>().ok()?.station,
        },
        "OrderRejected" => Update::Rejected {
            reason: env.decode::<OrderRejected>().ok()?.reason,
        },
        "OrderFailed" => Update::Failed {
            reason: env.decode::<OrderFailed>().ok()?.reason,
        },
        "OrderCanceled" => {
            let e = env.decode::<OrderCanceled>().ok()?;
            Update::Canceled {
                reason: e.reason,
                refunded_cents: e.refunded_cents,
            }
        }
        "CancelRefused" => Update::CancelRefused {
            reason: env.decode::<CancelRefused>().ok()?.reason,
        },
        "PaymentFailed" => Update::Declined {
            reason: env.decode::<PaymentFailed>().ok()?.reason,
        },
        "InventoryFailed" => Update::Declined {
            reason: env.decode::<InventoryFailed>().ok()?.reason,
        },
        _ => return None,
    })
}

/// Cents as money: `450` → `4.50`.
pub use milo_contracts::payments::money;

/// The line the counter prints for an update; times in the machine's local time zone.
pub fn describe(u: &Update) -> String {
    match u {
        Update::Created { total_cents } => format!("created: total {}", money(*total_cents)),
        Update::Paid => "paid".into(),
        Update::Reserved => "stock reserved".into(),
        Update::Ready => "ready: being made".into(),
        Update::Eta(eta) => {
            let offset = UtcOffset::local_offset_at(eta.ready_at).unwrap_or(UtcOffset::UTC);
            describe_eta(eta, offset)
        }
        Update::Started { station } => format!("started at {station}"),
        Update::Returned { station, reason } => {
            format!("{station} handed it back ({reason}): moving it to another station")
        }
        Update::Prepared { station } => format!("prepared at {station}: ready for pickup"),
        Update::Rejected { reason } => format!("rejected: {reason}"),
        Update::Failed { reason } => format!("failed: {reason}; undoing what was done"),
        Update::Canceled {
            reason,
            refunded_cents,
        } => format!("canceled: {reason} (refunded {})", money(*refunded_cents)),
        Update::CancelRefused { reason } => format!("cancellation refused: {reason}"),
        Update::Declined { reason } => format!("problem: {reason}"),
    }
}

/// "estimated ready 10:42:05 (about 3 min) at bar-2", with the time at `offset`.
pub fn describe_eta(eta: &OrderEta, offset: UtcOffset) -> String {
    let at = eta.ready_at.to_offset(offset);
    let clock = at
        .format(format_description!("[hour]:[minute]:[second]"))
        .unwrap_or_else(|_| at.time().to_string());
    let wait = match eta.wait_secs {
        0..=59 => "under a minute".to_owned(),
        s => format!("about {} min", (s + 30) / 60),
    };
    let place = match &eta.station {
        Some(s) if eta.position > 0 => format!("at {s}, {} ahead", eta.position),
        Some(s) => format!("at {s}"),
        None => "waiting for a free station".to_owned(),
    };
    format!("estimated ready {clock} ({wait}) {place}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use milo_contracts::Envelope;
    use time::macros::datetime;

    fn eta(station: Option<&str>, position: u32, wait_secs: u64) -> OrderEta {
        OrderEta {
            order_id: Uuid::now_v7(),
            station: station.map(Into::into),
            position,
            wait_secs,
            ready_at: datetime!(2026-11-21 10:42:05 UTC),
        }
    }

    #[test]
    fn eta_lines_read_as_the_counter_says_them() {
        let utc = UtcOffset::UTC;
        assert_eq!(
            describe_eta(&eta(Some("bar-2"), 0, 170), utc),
            "estimated ready 10:42:05 (about 3 min) at bar-2"
        );
        assert_eq!(
            describe_eta(&eta(Some("bar-1"), 2, 20), utc),
            "estimated ready 10:42:05 (under a minute) at bar-1, 2 ahead"
        );
        let plus_one = UtcOffset::from_hms(1, 0, 0).unwrap();
        assert_eq!(
            describe_eta(&eta(None, 0, 600), plus_one),
            "estimated ready 11:42:05 (about 10 min) waiting for a free station"
        );
    }

    #[test]
    fn events_become_updates_and_others_are_ignored() {
        let id = Uuid::now_v7();
        let env = Envelope::new("barista", id, None, eta(Some("bar-2"), 1, 90));
        let raw = RawEnvelope::parse(&env.to_json()).unwrap();
        assert!(matches!(update_of(&raw), Some(Update::Eta(e)) if e.position == 1));
        let started = OrderStarted {
            order_id: id,
            station: "bar-2".into(),
        };
        let raw = RawEnvelope::parse(&Envelope::new("bar-2", id, None, started).to_json());
        assert_eq!(
            update_of(&raw.unwrap()),
            Some(Update::Started {
                station: "bar-2".into()
            })
        );
        let mut raw = RawEnvelope::parse(&env.to_json()).unwrap();
        raw.kind = "CustomerNotified".into();
        assert_eq!(update_of(&raw), None);
        assert!(Update::Rejected { reason: "x".into() }.is_answer());
        assert!(!Update::Paid.is_answer());
        assert_eq!(money(460), "4.60");
    }
}
