//! Taking tickets back, and what the stations report about them.
//!
//! A withdrawal (`commands/barista/withdraw`) is answered here while the ticket is not at a
//! station (unknown: a tombstone is kept; waiting: it leaves `waiting/`), once it is made, or
//! once the bar could not make it; a ticket at a station goes to the station holding it now
//! (its current attempt), the authority on whether its drink is started, which answers
//! `tickets/withdrawn` itself. Either way the answer ends up on `tickets/withdrawn`, and a
//! station's `withdrawn = true` takes the ticket out of its queue.

use milo_bus::{Rejection, Tx};
use milo_contracts::saga::{TicketWithdrawn, WithdrawTicket};
use milo_contracts::topics;
use tracing::{info, warn};
use uuid::Uuid;

use crate::service::BaristaService;
use crate::ticket::{ticket_key, waiting_key, Ticket};

impl BaristaService {
    /// `commands/barista/withdraw`: take the order's ticket back if its drink is not started.
    pub(crate) fn withdraw(tx: &mut Tx, order_id: Uuid, cause: Uuid) -> Result<(), Rejection> {
        let key = ticket_key(order_id);
        let mut ticket = match tx.get::<Ticket>(&key)? {
            Some(t) => t,
            None => {
                info!(%order_id, "Withdrawn before the order arrived; it will be ignored.");
                Ticket::tombstone(order_id, cause)
            }
        };
        let (withdrawn, reason) = if ticket.withdrawal.is_some() {
            // Answered already: the recorded event goes out again unchanged.
            (ticket.withdrawn, None)
        } else if ticket.done {
            (false, Some("already made".to_owned()))
        } else if let Some(why) = &ticket.failed {
            (false, Some(format!("the drink could not be made: {why}")))
        } else if let Some(station) = ticket.station.clone() {
            // At a station: only the station knows whether the drink is started. A repeat is
            // forwarded again; the station answers it with the answer it recorded.
            let event = tx.event(order_id, Some(cause), WithdrawTicket { order_id });
            tx.publish_to(&topics::device_tickets(&station), &event)?;
            info!(%order_id, %station, "Withdrawal forwarded to the station.");
            return Ok(());
        } else {
            // Unknown (tombstone) or waiting for a station: it never reached the bar.
            tx.remove(&waiting_key(order_id));
            if !ticket.withdrawn {
                info!(%order_id, "Waiting ticket withdrawn.");
            }
            ticket.withdrawn = true;
            (true, None)
        };
        tx.answer(&mut ticket.withdrawal, order_id, Some(cause), || {
            TicketWithdrawn {
                order_id,
                withdrawn,
                reason,
            }
        })?;
        tx.put(&key, &ticket);
        Ok(())
    }

    /// `tickets/withdrawn`: a station took the ticket back (or refused to). This service's
    /// own answers come back here too and change nothing.
    pub(crate) fn withdrawn(
        &self,
        tx: &mut Tx,
        e: TicketWithdrawn,
        cause: Uuid,
    ) -> Result<(), Rejection> {
        let order_id = e.order_id;
        if !e.withdrawn {
            let reason = e.reason.as_deref().unwrap_or("");
            info!(%order_id, reason, "Withdrawal refused by the bar.");
            return Ok(());
        }
        let key = ticket_key(order_id);
        let Some(mut ticket) = tx.get::<Ticket>(&key)? else {
            return Ok(());
        };
        if ticket.withdrawn {
            return Ok(());
        }
        if ticket.done {
            warn!(%order_id, "A station withdrew a ticket this service saw made.");
        }
        if let Some(station) = ticket.station.clone() {
            let mut bar = self.bar(tx)?;
            if bar.take(tx, &station, order_id)?.is_some() {
                self.refresh_eta(tx, &mut bar, &station, cause)?;
            }
            self.keep(tx, bar);
        }
        tx.remove(&waiting_key(order_id));
        info!(%order_id, station = ticket.station.as_deref().unwrap_or(""), "Ticket withdrawn.");
        ticket.withdrawn = true;
        tx.put(&key, &ticket);
        Ok(())
    }
}
