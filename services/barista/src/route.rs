//! Handing tickets out: to the usable station that makes them soonest ([`Bar::best`]), or to
//! the waiting list when none is usable; moving the tickets of a station that went away; and
//! handing waiting tickets out once a station is usable again.
//!
//! Each hand-out is a new attempt (`TicketAssigned::attempt`), so a station's report about an
//! earlier one changes nothing. A ticket leaving a station is announced to it (`TicketMoved`),
//! so that it drops the job if it has not started it.

use milo_bus::{Rejection, Tx};
use milo_contracts::bar::TicketMoved;
use milo_contracts::events::TicketAssigned;
use milo_contracts::topics;
use tracing::{debug, info};
use uuid::Uuid;

use crate::eta;
use crate::model;
use crate::service::BaristaService;
use crate::station::Bar;
use crate::ticket::{ticket_key, waiting_key, Ticket, WAITING_PREFIX};

/// Most waiting tickets handed out per message or tick; the rest go on the next ticks.
pub const DRAIN_BATCH: usize = 64;

impl BaristaService {
    /// Publishes the ticket's hand-out `attempt` to `station`.
    pub(crate) fn send(
        tx: &mut Tx,
        ticket: &Ticket,
        station: &str,
        attempt: u32,
    ) -> Result<(), Rejection> {
        let data = TicketAssigned {
            order_id: ticket.order_id,
            station: station.to_owned(),
            lines: ticket.lines.clone(),
            customer: ticket.customer.clone(),
            attempt,
            queued_at: Some(ticket.queued_at),
        };
        let event = tx.event(ticket.order_id, Some(ticket.cause), data);
        tx.publish_to(&topics::device_tickets(station), &event)?;
        Ok(())
    }

    /// Tells `station` the ticket left it (its attempt there ends).
    pub(crate) fn notify_moved(
        tx: &mut Tx,
        ticket: &Ticket,
        station: &str,
        cause: Option<Uuid>,
    ) -> Result<(), Rejection> {
        let attempt = ticket
            .handouts
            .get(station)
            .copied()
            .unwrap_or(ticket.attempt());
        let data = TicketMoved {
            order_id: ticket.order_id,
            station: station.to_owned(),
            attempt,
        };
        let event = tx.event(ticket.order_id, cause, data);
        tx.publish_to(&topics::device_tickets(station), &event)?;
        Ok(())
    }

    /// Hands the ticket to `station` as a new attempt and publishes its estimate. The caller
    /// has taken it off any other queue.
    pub(crate) fn assign(
        &self,
        tx: &mut Tx,
        bar: &mut Bar,
        ticket: &mut Ticket,
        station: &str,
        cause: Option<Uuid>,
    ) -> Result<(), Rejection> {
        let attempt = ticket.attempts;
        Self::send(tx, ticket, station, attempt)?;
        ticket.attempts += 1;
        ticket.handouts.insert(station.to_owned(), attempt);
        ticket.station = Some(station.to_owned());
        ticket.waiting_eta = false;
        tx.remove(&waiting_key(ticket.order_id));
        bar.push(tx, station, ticket.order_id, ticket.base_ms, None)?;
        eta::queued(tx, bar, station, ticket.order_id, cause)?;
        info!(order_id = %ticket.order_id, station, attempt, "Ticket handed to a station.");
        tx.put(&ticket_key(ticket.order_id), ticket);
        Ok(())
    }

    /// Puts the ticket on the waiting list, with one estimate without a station.
    pub(crate) fn wait(
        &self,
        tx: &mut Tx,
        bar: &Bar,
        ticket: &mut Ticket,
        cause: Option<Uuid>,
    ) -> Result<(), Rejection> {
        info!(order_id = %ticket.order_id, "No barista station can take the ticket; it waits.");
        ticket.station = None;
        tx.put(&waiting_key(ticket.order_id), &());
        self.alarm.after(self.config.tick_ms);
        if !ticket.waiting_eta {
            let own = model::estimate_ms(ticket.base_ms, bar.best_factor());
            eta::publish(tx, ticket.order_id, None, 0, own, bar.now_ms, cause)?;
            ticket.waiting_eta = true;
        }
        tx.put(&ticket_key(ticket.order_id), ticket);
        Ok(())
    }

    /// Hands the ticket to the best usable station other than `exclude`, or makes it wait.
    /// Returns the station it went to.
    pub(crate) fn route(
        &self,
        tx: &mut Tx,
        bar: &mut Bar,
        ticket: &mut Ticket,
        exclude: Option<&str>,
        cause: Option<Uuid>,
    ) -> Result<Option<String>, Rejection> {
        match bar.best(tx, ticket.base_ms, exclude)? {
            Some(station) => {
                self.assign(tx, bar, ticket, &station, cause)?;
                Ok(Some(station))
            }
            None => {
                self.wait(tx, bar, ticket, cause)?;
                Ok(None)
            }
        }
    }

    /// A station went away: each of its open tickets is announced moved and handed to the
    /// best usable station, or waits.
    pub(crate) fn evacuate(
        &self,
        tx: &mut Tx,
        bar: &mut Bar,
        station: &str,
        cause: Option<Uuid>,
    ) -> Result<(), Rejection> {
        let orders: Vec<Uuid> = bar.queue(tx, station)?.iter().map(|(o, _)| *o).collect();
        for order in orders {
            bar.take(tx, station, order)?;
            let Some(mut ticket) = tx.get::<Ticket>(&ticket_key(order))? else {
                continue;
            };
            if !ticket.open() || ticket.station.as_deref() != Some(station) {
                continue;
            }
            Self::notify_moved(tx, &ticket, station, cause)?;
            let to = self.route(tx, bar, &mut ticket, Some(station), cause)?;
            info!(order_id = %order, from = station, to = to.as_deref().unwrap_or("waiting"), "Ticket moved off a station that went away.");
        }
        Ok(())
    }

    /// Hands waiting tickets, oldest order first, to usable stations (at most
    /// [`DRAIN_BATCH`]; the ticks hand out the rest).
    pub(crate) fn drain(
        &self,
        tx: &mut Tx,
        bar: &mut Bar,
        cause: Option<Uuid>,
    ) -> Result<(), Rejection> {
        if !bar.any_usable() {
            return Ok(());
        }
        for (tail, ()) in tx.scan::<()>(WAITING_PREFIX, DRAIN_BATCH)? {
            let Ok(order) = tail.parse::<Uuid>() else {
                tx.remove(&format!("{WAITING_PREFIX}{tail}"));
                continue;
            };
            let ticket = tx.get::<Ticket>(&ticket_key(order))?;
            let Some(mut ticket) = ticket.filter(|t| t.open() && t.station.is_none()) else {
                debug!(order_id = %order, "Waiting entry of a ticket no longer waiting.");
                tx.remove(&waiting_key(order));
                continue;
            };
            let Some(station) = bar.best(tx, ticket.base_ms, None)? else {
                break;
            };
            self.assign(tx, bar, &mut ticket, &station, cause)?;
        }
        Ok(())
    }
}
