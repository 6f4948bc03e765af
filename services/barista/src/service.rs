//! Tickets, stations and the barista handlers.
//!
//! Store layout: `ticket/<order>` the ticket; `queue/<station>/<order>` the open tickets of a
//! station; `waiting/<order>` tickets with no station yet; `station/<id>` presence.

use milo_bus::{Rejection, Service, Tx};
use milo_contracts::events::{OrderPrepared, OrderReady, PricedLine, TicketAssigned};
use milo_contracts::{topics, RawEnvelope};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::info;
use uuid::Uuid;

/// One order to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// The order.
    pub order_id: Uuid,
    /// What to make.
    pub lines: Vec<PricedLine>,
    /// Name to call out.
    pub customer: Option<String>,
    /// Station it was handed to.
    pub station: Option<String>,
    /// Made.
    pub done: bool,
    /// When it was queued.
    #[serde(with = "time::serde::rfc3339")]
    pub queued_at: OffsetDateTime,
    /// The `orders/ready` event.
    pub cause: Uuid,
}

fn ticket_key(id: Uuid) -> String {
    format!("ticket/{id}")
}

/// The barista service.
pub struct BaristaService;

impl BaristaService {
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
        };
        let event = tx.event(ticket.order_id, Some(ticket.cause), data);
        tx.publish_to(&topics::device_tickets(station), &event)?;
        Ok(())
    }

    fn assign(tx: &mut Tx, ticket: &mut Ticket, station: String) -> Result<(), Rejection> {
        Self::send(tx, ticket, &station)?;
        tx.remove(&format!("waiting/{}", ticket.order_id));
        tx.put(&format!("queue/{station}/{}", ticket.order_id), &());
        info!(order_id = %ticket.order_id, station = %station, "Ticket handed to a station.");
        ticket.station = Some(station);
        tx.put(&ticket_key(ticket.order_id), ticket);
        Ok(())
    }

    fn ready(tx: &mut Tx, e: OrderReady, cause: Uuid) -> Result<(), Rejection> {
        if let Some(ticket) = tx.get::<Ticket>(&ticket_key(e.order_id))? {
            // Asked again: the ticket (or its outcome) was lost on the way; the device answers a
            // repeat with what it recorded.
            if let Some(station) = &ticket.station {
                Self::send(tx, &ticket, station)?;
            }
            return Ok(());
        }
        let mut ticket = Ticket {
            order_id: e.order_id,
            lines: e.lines,
            customer: e.customer,
            station: None,
            done: false,
            queued_at: OffsetDateTime::now_utc(),
            cause,
        };
        match Self::pick(tx)? {
            Some(station) => Self::assign(tx, &mut ticket, station)?,
            None => {
                info!(order_id = %ticket.order_id, "No barista station online; ticket waits.");
                tx.put(&format!("waiting/{}", ticket.order_id), &());
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
            tx.remove(&format!("queue/{station}/{order_id}"));
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
        vec![
            topics::ORDERS_READY.into(),
            topics::ORDERS_PREPARED.into(),
            topics::device_status("+"),
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
            topics::ORDERS_PREPARED => Self::prepared(tx, env.decode::<OrderPrepared>()?.order_id),
            _ => Err(env.unexpected().into()),
        }
    }
}
