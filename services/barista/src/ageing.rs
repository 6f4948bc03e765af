//! Ticket ageing: a ticket not made `barista.warn_secs` after it was queued is announced
//! `warn` on `tickets/aged`, and `late` after `barista.late_secs` (with a WARN log), once per
//! level.
//!
//! Each open ticket has one key `age/<due ms>/<order>` for the next threshold it will cross;
//! the tick takes the keys due (at most [`AGE_BATCH`], in due order), so its work does not
//! grow with the tickets that are not due. A key whose ticket was made, withdrawn or failed
//! meanwhile is simply dropped when it comes due.

use milo_bus::{Rejection, Tx};
use milo_contracts::bar::{AgeLevel, TicketAged};
use tracing::{info, warn};

use crate::service::BaristaService;
use crate::ticket::{age_key, parse_age, ticket_key, Ticket, AGE_PREFIX};

/// Most ageing keys handled per tick.
pub const AGE_BATCH: usize = 256;

/// When a ticket queued at `queued_ms` that was announced at `level` crosses its next
/// threshold; `None` once late.
pub fn next_due(queued_ms: i64, level: AgeLevel, warn_secs: u64, late_secs: u64) -> Option<i64> {
    let secs = match level {
        AgeLevel::Fresh => warn_secs.min(late_secs),
        AgeLevel::Warn => late_secs,
        AgeLevel::Late => return None,
    };
    let ms = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX / 2);
    Some(queued_ms.saturating_add(ms))
}

/// The levels a ticket `age_secs` old crosses that were not announced yet (it was announced
/// at `announced`), in order.
pub fn crossed(
    announced: AgeLevel,
    age_secs: u64,
    warn_secs: u64,
    late_secs: u64,
) -> Vec<AgeLevel> {
    let now = AgeLevel::of(age_secs, warn_secs, late_secs);
    [AgeLevel::Warn, AgeLevel::Late]
        .into_iter()
        .filter(|l| *l > announced && *l <= now)
        .collect()
}

impl BaristaService {
    /// Indexes an open ticket for its next threshold (nothing once late), and asks for a tick
    /// when it is due.
    pub(crate) fn track(&self, tx: &mut Tx, ticket: &Ticket) {
        let (warn_secs, late_secs) = (self.config.warn_secs, self.config.late_secs);
        if let Some(due) = next_due(ticket.queued_ms(), ticket.aged, warn_secs, late_secs) {
            self.alarm.at(due);
            tx.put(&age_key(due, ticket.order_id), &());
        }
    }

    /// When the soonest ageing key is due, if any (this group's writes included).
    pub(crate) fn next_age(&self, tx: &Tx) -> Result<Option<i64>, Rejection> {
        let first = tx.scan::<()>(AGE_PREFIX, 1)?;
        Ok(first
            .first()
            .and_then(|(tail, ())| parse_age(tail))
            .map(|(due, _)| due))
    }

    /// Announces the tickets that crossed a threshold since the last tick.
    pub(crate) fn age(&self, tx: &mut Tx) -> Result<(), Rejection> {
        let now = milo_bus::retry::now_ms();
        for (tail, ()) in tx.scan::<()>(AGE_PREFIX, AGE_BATCH)? {
            let Some((due, order)) = parse_age(&tail) else {
                tx.remove(&format!("{AGE_PREFIX}{tail}"));
                continue;
            };
            if due > now {
                break;
            }
            tx.remove(&age_key(due, order));
            let Some(mut ticket) = tx.get::<Ticket>(&ticket_key(order))? else {
                continue;
            };
            if !ticket.open() {
                continue;
            }
            let age_secs = u64::try_from((now - ticket.queued_ms()) / 1000).unwrap_or(0);
            let (warn_secs, late_secs) = (self.config.warn_secs, self.config.late_secs);
            for level in crossed(ticket.aged, age_secs, warn_secs, late_secs) {
                let station = ticket.station.clone();
                let at = station.as_deref().unwrap_or("waiting");
                match level {
                    AgeLevel::Late => {
                        warn!(order_id = %order, station = at, age_secs, "Ticket late.")
                    }
                    _ => info!(order_id = %order, station = at, age_secs, "Ticket waiting long."),
                }
                let data = TicketAged {
                    order_id: order,
                    station,
                    level,
                    age_secs,
                };
                let event = tx.event(order, None, data);
                tx.publish(&event)?;
                ticket.aged = level;
            }
            self.track(tx, &ticket);
            tx.put(&ticket_key(order), &ticket);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_is_due_once_in_turn() {
        assert_eq!(next_due(1_000, AgeLevel::Fresh, 180, 300), Some(181_000));
        assert_eq!(next_due(1_000, AgeLevel::Warn, 180, 300), Some(301_000));
        assert_eq!(next_due(1_000, AgeLevel::Late, 180, 300), None);
        // A late threshold below the warn one: the first check is at the late one.
        assert_eq!(next_due(0, AgeLevel::Fresh, 300, 60), Some(60_000));
    }

    #[test]
    fn the_levels_crossed_are_announced_once_in_order() {
        assert!(crossed(AgeLevel::Fresh, 10, 180, 300).is_empty());
        assert_eq!(crossed(AgeLevel::Fresh, 200, 180, 300), [AgeLevel::Warn]);
        assert!(crossed(AgeLevel::Warn, 200, 180, 300).is_empty());
        assert_eq!(crossed(AgeLevel::Warn, 300, 180, 300), [AgeLevel::Late]);
        // Both at once (the service was away): warn, then late.
        assert_eq!(
            crossed(AgeLevel::Fresh, 400, 180, 300),
            [AgeLevel::Warn, AgeLevel::Late]
        );
        assert!(crossed(AgeLevel::Late, 4_000, 180, 300).is_empty());
    }
}
