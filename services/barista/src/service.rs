//! The barista service: stations, handing tickets out, and routing events to the handlers.
//!
//! Store layout: see [`crate::ticket`].

use milo_bus::{Rejection, Service, Tx};
use milo_contracts::events::{OrderPrepared, OrderReady, TicketAssigned};
use milo_contracts::saga::{PrepareOrder, SagaMode, TicketFailed, TicketWithdrawn, WithdrawTicket};
use milo_contracts::{topics, RawEnvelope};
use tracing::info;
use uuid::Uuid;

use crate::ticket::{queue_key, ticket_key, waiting_key, Ticket};

/// The barista service.
#[derive(Debug, Clone, Copy)]
pub struct BaristaService {
    mode: SagaMode,
}

impl BaristaService {
    /// A barista service for `mode`: in choreography it makes what `orders/ready` announces,
    /// in orchestration what `commands/barista/prepare` asks for.
    pub fn new(mode: SagaMode) -> Self {
        BaristaService { mode }
    }

    fn online_stations(tx: &Tx) -> Result<Vec<String>, Rejection> {
        let stations = tx.scan::<bool>("station/", usize::MAX)?;
        Ok(stations
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(id, _)| id)
            .collect())
    }

    /// The online station with the fewest open tickets.
    fn pick(tx: &Tx) -> Result<Option<String>, Rejection> {
        let mut best = None;
        for s in Self::online_stations(tx)? {
            let queued = tx.count(&format!("queue/{s}/"))?;
            if best.as_ref().is_none_or(|(q, _)| queued < *q) {
                best = Some((queued, s));
            }
        }
        Ok(best.map(|(_, s)| s))
    }

    /// Publishes the ticket to a station's device.
    fn send(tx: &mut Tx, ticket: &Ticket, station: &str) -> Result<(), Rejection> {
        let data = TicketAssigned {
            order_id: ticket.order_id,
            station: station.to_owned(),
            lines: ticket.lines.clone(),
            customer: ticket.customer.clone(),
            attempt: 0,
            queued_at: Some(ticket.queued_at),
        };
        let event = tx.event(ticket.order_id, Some(ticket.cause), data);
        tx.publish_to(&topics::device_tickets(station), &event)?;
        Ok(())
    }

    fn assign(tx: &mut Tx, ticket: &mut Ticket, station: String) -> Result<(), Rejection> {
        Self::send(tx, ticket, &station)?;
        tx.remove(&waiting_key(ticket.order_id));
        tx.put(&queue_key(&station, ticket.order_id), &());
        info!(order_id = %ticket.order_id, station = %station, "Ticket handed to a station.");
        ticket.station = Some(station);
        tx.put(&ticket_key(ticket.order_id), ticket);
        Ok(())
    }

    /// A drink to make, from `orders/ready` or `commands/barista/prepare`.
    fn ready(tx: &mut Tx, e: OrderReady, cause: Uuid) -> Result<(), Rejection> {
        if let Some(ticket) = tx.get::<Ticket>(&ticket_key(e.order_id))? {
            if ticket.withdrawn {
                info!(order_id = %e.order_id, "Ticket withdrawn; the order is not made.");
                return Ok(());
            }
            // Asked again: the ticket (or its outcome) was lost on the way; the device answers a
            // repeat with what it recorded (made, started, or could not make it).
            if let Some(station) = &ticket.station {
                Self::send(tx, &ticket, station)?;
            }
            return Ok(());
        }
        let mut ticket = Ticket::new(e.order_id, e.lines, e.customer, cause);
        match Self::pick(tx)? {
            Some(station) => Self::assign(tx, &mut ticket, station)?,
            None => {
                info!(order_id = %ticket.order_id, "No barista station online; ticket waits.");
                tx.put(&waiting_key(ticket.order_id), &());
                tx.put(&ticket_key(ticket.order_id), &ticket);
            }
        }
        Ok(())
    }

    fn prepared(tx: &mut Tx, order_id: Uuid) -> Result<(), Rejection> {
        let Some(mut ticket) = tx.get::<Ticket>(&ticket_key(order_id))? else {
            return Ok(());
        };
        if let Some(station) = &ticket.station {
            tx.remove(&queue_key(station, order_id));
        }
        ticket.done = true;
        tx.put(&ticket_key(order_id), &ticket);
        Ok(())
    }

    fn presence(tx: &mut Tx, station: &str, online: bool) -> Result<(), Rejection> {
        tx.put(&format!("station/{station}"), &online);
        if !online {
            return Ok(());
        }
        info!(station, "Barista station online.");
        // Hand every waiting ticket to the station that just came online.
        for (id, ()) in tx.scan::<()>("waiting/", usize::MAX)? {
            let key = format!("ticket/{id}");
            if let Some(mut ticket) = tx.get::<Ticket>(&key)? {
                if ticket.withdrawn {
                    tx.remove(&format!("waiting/{id}"));
                    continue;
                }
                Self::assign(tx, &mut ticket, station.to_owned())?;
            }
        }
        Ok(())
    }
}

impl Service for BaristaService {
    type Command = ();

    fn name(&self) -> String {
        "barista".into()
    }

    fn subscriptions(&self) -> Vec<String> {
        let make = match self.mode {
            SagaMode::Choreography => topics::ORDERS_READY,
            SagaMode::Orchestration => topics::COMMANDS_BARISTA_PREPARE,
        };
        vec![
            make.into(),
            topics::ORDERS_PREPARED.into(),
            topics::device_status("+"),
            topics::COMMANDS_BARISTA_WITHDRAW.into(),
            topics::TICKETS_FAILED.into(),
            topics::TICKETS_WITHDRAWN.into(),
        ]
    }

    fn is_raw(&self, topic: &str) -> bool {
        topics::device_of_status(topic).is_some()
    }

    fn on_raw(&mut self, tx: &mut Tx, topic: &str, payload: &[u8]) -> Result<(), Rejection> {
        let station = topics::device_of_status(topic)
            .unwrap_or_default()
            .to_owned();
        match payload {
            b"online" => Self::presence(tx, &station, true),
            b"offline" => Self::presence(tx, &station, false),
            _ => Err(Rejection::Invalid(
                "presence must be `online` or `offline`".into(),
            )),
        }
    }

    fn on_event(&mut self, tx: &mut Tx, topic: &str, env: &RawEnvelope) -> Result<(), Rejection> {
        match topic {
            topics::ORDERS_READY => Self::ready(tx, env.decode()?, env.id),
            topics::COMMANDS_BARISTA_PREPARE => {
                let p: PrepareOrder = env.decode()?;
                let ready = OrderReady {
                    order_id: p.order_id,
                    lines: p.lines,
                    customer: p.customer,
                };
                Self::ready(tx, ready, env.id)
            }
            topics::ORDERS_PREPARED => Self::prepared(tx, env.decode::<OrderPrepared>()?.order_id),
            topics::COMMANDS_BARISTA_WITHDRAW => {
                Self::withdraw(tx, env.decode::<WithdrawTicket>()?.order_id, env.id)
            }
            topics::TICKETS_WITHDRAWN => Self::withdrawn(tx, env.decode::<TicketWithdrawn>()?),
            topics::TICKETS_FAILED => Self::failed(tx, env.decode::<TicketFailed>()?),
            _ => Err(env.unexpected().into()),
        }
    }
}
