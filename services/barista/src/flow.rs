//! A ticket's way through the bar: made to order (`orders/ready` or
//! `commands/barista/prepare`), started, made (`orders/prepared`), and after a recall
//! (`tickets/recalled`) bumped again (`tickets/bumped`).

use milo_bus::{Rejection, Tx};
use milo_contracts::bar::{TicketBumped, TicketRecalled};
use milo_contracts::events::{OrderPrepared, OrderReady};
use milo_contracts::saga::OrderStarted;
use tracing::{debug, info};
use uuid::Uuid;

use crate::model;
use crate::service::BaristaService;
use crate::ticket::{ticket_key, waiting_key, Ticket};

impl BaristaService {
    /// A drink to make, from `orders/ready` or `commands/barista/prepare`.
    pub(crate) fn ready(&self, tx: &mut Tx, e: OrderReady, cause: Uuid) -> Result<(), Rejection> {
        if let Some(ticket) = tx.get::<Ticket>(&ticket_key(e.order_id))? {
            return Self::asked_again(tx, &ticket);
        }
        let mut ticket = Ticket::new(e.order_id, e.lines, e.customer, cause);
        ticket.base_ms = model::base_ms(&self.menu, &ticket.lines);
        self.track(tx, &ticket);
        let mut bar = self.bar(tx)?;
        self.route(tx, &mut bar, &mut ticket, None, Some(cause))?;
        self.keep(tx, bar);
        Ok(())
    }

    /// Asked again: the ticket (or its outcome) was lost on the way. The station answers a
    /// repeat of its attempt with what it recorded (made, started, handed back); a failure
    /// decided here goes out again unchanged; a waiting ticket keeps waiting.
    fn asked_again(tx: &mut Tx, ticket: &Ticket) -> Result<(), Rejection> {
        if ticket.withdrawn {
            info!(order_id = %ticket.order_id, "Ticket withdrawn; the order is not made.");
            return Ok(());
        }
        if let Some(failure) = &ticket.failure {
            tx.republish(failure)?;
            return Ok(());
        }
        let at = if ticket.done {
            ticket.made_by.as_ref().or(ticket.station.as_ref())
        } else {
            ticket.station.as_ref()
        };
        if let Some(station) = at {
            let attempt = ticket.handouts.get(station).copied();
            Self::send(tx, ticket, station, attempt.unwrap_or(ticket.attempt()))?;
        }
        Ok(())
    }

    /// `orders/started`: the station began the ticket; its estimate counts down from now.
    pub(crate) fn started(&self, tx: &mut Tx, e: OrderStarted) -> Result<(), Rejection> {
        let Some(ticket) = tx.get::<Ticket>(&ticket_key(e.order_id))? else {
            return Ok(());
        };
        if !ticket.open() || ticket.station.as_deref() != Some(e.station.as_str()) {
            debug!(order_id = %e.order_id, station = %e.station, "Start of a ticket not queued there.");
            return Ok(());
        }
        let mut bar = self.bar(tx)?;
        let now = bar.now_ms;
        bar.update(tx, &e.station, e.order_id, |s| {
            s.started_ms.get_or_insert(now);
        })?;
        self.keep(tx, bar);
        Ok(())
    }

    /// `orders/prepared`: made. The station's speed factor learns from the timing; the ticket
    /// leaves its queue. A ticket made by a station it had left (a started drink is finished)
    /// is announced moved to the station holding it now, which drops it unless started.
    pub(crate) fn prepared(
        &self,
        tx: &mut Tx,
        e: OrderPrepared,
        cause: Uuid,
    ) -> Result<(), Rejection> {
        let Some(mut ticket) = tx.get::<Ticket>(&ticket_key(e.order_id))? else {
            return Ok(());
        };
        let mut bar = self.bar(tx)?;
        let factor = bar.factor(&e.station);
        let timed = bar.station(&e.station).timed;
        if let Some(f) = model::learn(factor, timed, ticket.base_ms, e.prep_ms) {
            let s = bar.station_mut(&e.station);
            s.factor = Some(f);
            s.timed = timed.saturating_add(1);
            debug!(station = %e.station, factor = f, prep_ms = e.prep_ms, "Speed factor learned.");
        }
        if ticket.done || ticket.withdrawn {
            self.keep(tx, bar);
            return Ok(());
        }
        ticket.done = true;
        ticket.made_by = Some(e.station.clone());
        tx.remove(&waiting_key(e.order_id));
        if let Some(at) = ticket.station.clone() {
            let slot = bar.take(tx, &at, e.order_id)?;
            if at != e.station || slot.is_some_and(|s| s.started_ms.is_none()) {
                Self::notify_moved(tx, &ticket, &at, Some(cause))?;
            }
            self.refresh_eta(tx, &mut bar, &at, cause)?;
        }
        tx.put(&ticket_key(e.order_id), &ticket);
        self.keep(tx, bar);
        Ok(())
    }

    /// `tickets/bumped`: a recalled ticket is done again.
    pub(crate) fn bumped(
        &self,
        tx: &mut Tx,
        e: TicketBumped,
        cause: Uuid,
    ) -> Result<(), Rejection> {
        let Some(mut ticket) = tx.get::<Ticket>(&ticket_key(e.order_id))? else {
            return Ok(());
        };
        if !ticket.open() || ticket.station.as_deref() != Some(e.station.as_str()) {
            return Ok(());
        }
        info!(order_id = %e.order_id, station = %e.station, "Ticket bumped again.");
        ticket.done = true;
        ticket.made_by = Some(e.station.clone());
        let mut bar = self.bar(tx)?;
        bar.take(tx, &e.station, e.order_id)?;
        self.refresh_eta(tx, &mut bar, &e.station, cause)?;
        tx.put(&ticket_key(e.order_id), &ticket);
        self.keep(tx, bar);
        Ok(())
    }

    /// `tickets/recalled`: a made ticket is back on its station's rail, at the head of its
    /// queue, until bumped again.
    pub(crate) fn recalled(
        &self,
        tx: &mut Tx,
        e: TicketRecalled,
        cause: Uuid,
    ) -> Result<(), Rejection> {
        let Some(mut ticket) = tx.get::<Ticket>(&ticket_key(e.order_id))? else {
            return Ok(());
        };
        let made_here = ticket.made_by.as_deref().or(ticket.station.as_deref());
        if !ticket.done || ticket.withdrawn || made_here != Some(e.station.as_str()) {
            return Ok(());
        }
        info!(order_id = %e.order_id, station = %e.station, "Ticket recalled.");
        ticket.done = false;
        ticket.made_by = None;
        ticket.station = Some(e.station.clone());
        let mut bar = self.bar(tx)?;
        let now = bar.now_ms;
        bar.push(tx, &e.station, e.order_id, ticket.base_ms, Some(now))?;
        self.refresh_eta(tx, &mut bar, &e.station, cause)?;
        self.track(tx, &ticket);
        tx.put(&ticket_key(e.order_id), &ticket);
        self.keep(tx, bar);
        Ok(())
    }
}
