//! Tickets handed back by a station (`tickets/returned`) and tickets the bar could not make
//! (`tickets/failed`).
//!
//! Only a hand-back of the ticket's current station and attempt counts; one about an earlier
//! attempt or another station (a station coming back after its tickets moved) changes
//! nothing. A counted one takes the ticket off the station's queue, marks the station down
//! when it says so (until its telemetry says it accepts again), then, by [`decide`]:
//! compensates (`tickets/failed`, published here with nothing consumed: the waste was already
//! reported by the hand-back), hands the ticket to another station, or makes it wait.

use milo_bus::{Rejection, Tx};
use milo_contracts::bar::TicketReturned;
use milo_contracts::events::Ingredients;
use milo_contracts::saga::TicketFailed;
use time::OffsetDateTime;
use tracing::{info, warn};
use uuid::Uuid;

use crate::service::BaristaService;
use crate::ticket::{ticket_key, waiting_key, Ticket};
use crate::FaultPolicy;

/// What to do with a ticket handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Compensate the order now (`tickets/failed`).
    Compensate,
    /// Hand it to the best usable station.
    Reassign {
        /// Not to the station that handed it back (it faulted).
        exclude_returning: bool,
        /// With no station to take it, compensate (a fault) rather than wait (a restart).
        fail_if_none: bool,
    },
}

/// A hand-back caused by a station restarting with the ticket unfinished.
pub fn is_restart(e: &TicketReturned) -> bool {
    e.reason.to_ascii_lowercase().contains("restart")
}

/// A hand-back caused by the machine: the station is down, or a drink was begun and lost
/// (and the station did not just restart, which loses the drink it was making).
pub fn is_fault(e: &TicketReturned) -> bool {
    e.station_down || (e.began() && !is_restart(e))
}

/// What to do with a hand-back under `policy`. `barista.on_fault` is about drinks lost
/// mid-way; a ticket the station could not even begin (out of water or beans, faulted before
/// it started) lost nothing, so it goes to another station or waits for this one to be
/// refilled or cleared.
pub fn decide(e: &TicketReturned, policy: FaultPolicy) -> Decision {
    let begun = e.began();
    match (is_fault(e), policy) {
        (true, _) if !begun => Decision::Reassign {
            exclude_returning: true,
            fail_if_none: false,
        },
        (true, FaultPolicy::Compensate) => Decision::Compensate,
        (true, FaultPolicy::Reassign) => Decision::Reassign {
            exclude_returning: true,
            fail_if_none: true,
        },
        // A restarted station is back and may take it again; anything else it handed back
        // goes elsewhere.
        (false, _) => Decision::Reassign {
            exclude_returning: !is_restart(e),
            fail_if_none: false,
        },
    }
}

impl BaristaService {
    /// `tickets/returned`: a station hands a ticket back.
    pub(crate) fn returned(
        &self,
        tx: &mut Tx,
        e: TicketReturned,
        cause: Uuid,
        at: OffsetDateTime,
    ) -> Result<(), Rejection> {
        let Some(mut ticket) = tx.get::<Ticket>(&ticket_key(e.order_id))? else {
            return Ok(());
        };
        let current = ticket.station.as_deref() == Some(e.station.as_str())
            && ticket.attempt() == e.attempt
            && ticket.open();
        if !current {
            info!(order_id = %e.order_id, station = %e.station, attempt = e.attempt, reason = %e.reason, "Hand-back of an earlier attempt or another station; nothing to do.");
            return Ok(());
        }
        warn!(order_id = %e.order_id, station = %e.station, attempt = e.attempt, reason = %e.reason, station_down = e.station_down, "Ticket handed back.");
        let mut bar = self.bar(tx)?;
        bar.take(tx, &e.station, e.order_id)?;
        if e.station_down {
            let s = bar.station_mut(&e.station);
            s.accepting = false;
            s.down_since = Some(s.down_since.map_or(at, |d| d.max(at)));
        }
        match decide(&e, self.config.on_fault) {
            Decision::Compensate => {
                self.fail(tx, &mut ticket, &e.station, e.reason.clone(), cause)?;
            }
            Decision::Reassign {
                exclude_returning,
                fail_if_none,
            } => {
                let exclude = exclude_returning.then_some(e.station.as_str());
                match bar.best(tx, ticket.base_ms, exclude)? {
                    Some(to) => self.assign(tx, &mut bar, &mut ticket, &to, Some(cause))?,
                    None if fail_if_none => {
                        let why = format!("no station can make it: {}", e.reason);
                        self.fail(tx, &mut ticket, &e.station, why, cause)?;
                    }
                    None => self.wait(tx, &bar, &mut ticket, Some(cause))?,
                }
            }
        }
        self.refresh_eta(tx, &mut bar, &e.station, cause)?;
        self.keep(tx, bar);
        Ok(())
    }

    /// Publishes (and records) `tickets/failed` for the ticket, so the flow's owner
    /// compensates the order.
    fn fail(
        &self,
        tx: &mut Tx,
        ticket: &mut Ticket,
        station: &str,
        reason: String,
        cause: Uuid,
    ) -> Result<(), Rejection> {
        let order_id = ticket.order_id;
        warn!(%order_id, station, %reason, "The bar cannot make the order; it is compensated.");
        let why = reason.clone();
        tx.answer(&mut ticket.failure, order_id, Some(cause), || {
            TicketFailed {
                order_id,
                station: station.to_owned(),
                reason: why,
                consumed: Ingredients::new(),
            }
        })?;
        ticket.failed = Some(reason);
        ticket.station = None;
        tx.remove(&waiting_key(order_id));
        tx.put(&ticket_key(order_id), ticket);
        Ok(())
    }

    /// `tickets/failed`: the bar could not make the order; it leaves its station's queue.
    /// This service's own event comes back here and changes nothing.
    pub(crate) fn failed(
        &self,
        tx: &mut Tx,
        e: TicketFailed,
        cause: Uuid,
    ) -> Result<(), Rejection> {
        let order_id = e.order_id;
        let Some(mut ticket) = tx.get::<Ticket>(&ticket_key(order_id))? else {
            return Ok(());
        };
        if ticket.failed.is_some() {
            return Ok(());
        }
        info!(%order_id, station = %e.station, reason = %e.reason, "The station could not make the order.");
        let mut bar = self.bar(tx)?;
        let mut stations = vec![e.station.clone()];
        stations.extend(ticket.station.clone().filter(|s| *s != e.station));
        for station in &stations {
            if bar.take(tx, station, order_id)?.is_some() {
                self.refresh_eta(tx, &mut bar, station, cause)?;
            }
        }
        tx.remove(&waiting_key(order_id));
        ticket.failed = Some(e.reason);
        ticket.station = None;
        tx.put(&ticket_key(order_id), &ticket);
        self.keep(tx, bar);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn back(reason: &str, wasted: bool, station_down: bool) -> TicketReturned {
        let wasted = if wasted {
            Ingredients::from([("beans_g".into(), 18)])
        } else {
            Ingredients::new()
        };
        TicketReturned {
            order_id: Uuid::now_v7(),
            station: "bar-1".into(),
            attempt: 0,
            reason: reason.into(),
            begun: u32::from(!wasted.is_empty()),
            wasted,
            station_down,
        }
    }

    #[test]
    fn faults_mid_drink_are_compensated_or_go_to_another_station() {
        for e in [
            back("pump failure during tamp", true, false),
            back("group head fault during extract", true, true),
        ] {
            assert_eq!(decide(&e, FaultPolicy::Compensate), Decision::Compensate);
            assert_eq!(
                decide(&e, FaultPolicy::Reassign),
                Decision::Reassign {
                    exclude_returning: true,
                    fail_if_none: true
                }
            );
        }
    }

    #[test]
    fn a_drink_lost_before_it_used_anything_is_still_a_fault_mid_drink() {
        // A transient fault during the grind: begun (started), nothing poured away.
        let e = TicketReturned {
            begun: 1,
            ..back("pump failure during grind", false, false)
        };
        assert!(is_fault(&e));
        assert_eq!(decide(&e, FaultPolicy::Compensate), Decision::Compensate);
        // A device from before `begun` says it only by its waste.
        let old = TicketReturned {
            begun: 0,
            ..back("pump failure during tamp", true, false)
        };
        assert!(old.began() && is_fault(&old));
    }

    #[test]
    fn a_ticket_a_down_station_could_not_begin_goes_elsewhere_or_waits() {
        let e = back("out of water", false, true);
        assert!(is_fault(&e));
        for policy in [FaultPolicy::Compensate, FaultPolicy::Reassign] {
            assert_eq!(
                decide(&e, policy),
                Decision::Reassign {
                    exclude_returning: true,
                    fail_if_none: false
                }
            );
        }
    }

    #[test]
    fn a_restart_hand_back_waits_for_any_station_even_with_a_drink_poured_away() {
        for e in [
            back("station restarted", true, false),
            back("station restarted", false, false),
        ] {
            assert!(!is_fault(&e));
            for policy in [FaultPolicy::Compensate, FaultPolicy::Reassign] {
                assert_eq!(
                    decide(&e, policy),
                    Decision::Reassign {
                        exclude_returning: false,
                        fail_if_none: false
                    }
                );
            }
        }
        // A restart that left the machine down is a fault.
        assert!(is_fault(&back("station restarted", false, true)));
    }

    #[test]
    fn another_hand_back_goes_elsewhere_or_waits() {
        let e = back("went elsewhere", false, false);
        assert_eq!(
            decide(&e, FaultPolicy::Compensate),
            Decision::Reassign {
                exclude_returning: true,
                fail_if_none: false
            }
        );
    }
}
