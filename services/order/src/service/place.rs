//! Placing an order (`orders/placed`, `POST /orders`): checked against the menu and what the
//! shop can still sell, kept, and answered with `orders/created` or `orders/rejected`.
//!
//! The answer is recorded, so that a repeated `orders/placed` (a POS that lost the answer
//! sends the same envelope again) hears the very same event again. The bus's inbox would
//! ack such a repeat without a word, so `orders/placed` is read raw and this module keeps
//! the inbox's record for it (`placed/<event id>` → fingerprint): an exact repeat is
//! answered, the same event id with other content is a conflicting duplicate, and a new
//! envelope for an order already kept (a POS given the same order id again) changes nothing
//! and is answered as a repeat. An order already done is also said how it ended (its
//! `orders/prepared` or `orders/canceled` again), so a POS following it hears its end.

use milo_bus::{fingerprint, Published, Rejection, Tx};
use milo_contracts::events::{OrderCreated, OrderPlaced, OrderRejected};
use milo_contracts::payments::PaymentMethod;
use milo_contracts::{PricedOrder, RawEnvelope};
use tracing::{debug, info};
use uuid::Uuid;

use super::{set_status, OrderService};
use crate::model::{answer_key, order_key, OrderRecord, Status, Step};

/// What placing an order led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOutcome {
    /// The order as recorded (an earlier one if the id was placed before).
    pub order: OrderRecord,
    /// True if this id had been placed before.
    pub existed: bool,
    /// Why the shop cannot make it right now (`POST /orders` only): nothing was recorded,
    /// and `order` is what would have been rejected.
    pub unavailable: Option<String>,
    /// Card payments are offline and card orders are refused (`POST /orders` only): nothing
    /// was recorded; the same order id may be placed again, in cash or later.
    pub cards_offline: Option<String>,
}

/// Where an order was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    /// `POST /orders`: the answer is the HTTP response.
    Http,
    /// `orders/placed`: the answer is an event.
    Bus,
}

impl OrderService {
    /// `orders/placed`, read raw: an exact repeat is answered again, a new one placed.
    pub(super) fn placed(&self, tx: &mut Tx, payload: &[u8]) -> Result<(), Rejection> {
        let env = RawEnvelope::parse(payload)?;
        let (key, print) = (format!("placed/{}", env.id), fingerprint(payload));
        // Read past the inbox, a failing store must not stop the service at every resend: the
        // message goes to the dead letters, as any handler's does after its attempts.
        let seen = tx.get::<u64>(&key).map_err(handler_failed)?;
        let placed: OrderPlaced = env.decode()?;
        match seen {
            Some(seen) if seen == print => {
                let order = tx.get::<OrderRecord>(&order_key(placed.order_id));
                if let Some(order) = order.map_err(handler_failed)? {
                    self.answer_again(tx, &order, Some(env.id))?;
                }
            }
            Some(_) => {
                return Err(Rejection::Invalid(
                    "conflicting duplicate: same event id, different content".into(),
                ))
            }
            None => {
                let outcome = self
                    .place(tx, placed, Some(env.id), Via::Bus)
                    .map_err(store_failed)?;
                if outcome.existed {
                    self.answer_again(tx, &outcome.order, Some(env.id))
                        .map_err(store_failed)?;
                }
                tx.put(&key, &print);
            }
        }
        Ok(())
    }

    /// Places an order, or says what it already is. The first placement is priced by the
    /// menu and held to the latest availability: accepted (`orders/created`), rejected
    /// (`orders/rejected`, with the reason), or, from HTTP, refused with nothing kept when
    /// the shop cannot make it right now.
    pub(super) fn place(
        &self,
        tx: &mut Tx,
        placed: OrderPlaced,
        cause: Option<Uuid>,
        via: Via,
    ) -> Result<PlaceOutcome, Rejection> {
        let id = placed.order_id;
        if let Some(order) = tx.get::<OrderRecord>(&order_key(id))? {
            return Ok(PlaceOutcome {
                order,
                existed: true,
                unavailable: None,
                cards_offline: None,
            });
        }
        let customer = placed
            .customer
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        let priced = match &customer {
            Some(c) if c.chars().count() > self.config.max_customer_len => Err(format!(
                "customer name longer than {} characters",
                self.config.max_customer_len
            )),
            _ => self.menu.price(&placed.items).map_err(|e| e.to_string()),
        };
        let unavailable = priced.as_ref().ok().and_then(|p| {
            self.availability
                .refusal(&self.menu, &placed.items, &p.ingredients)
        });
        let method = placed.payment;
        let offline = priced.is_ok().then(|| self.cards.refusal(method)).flatten();
        let mut order = OrderRecord::new(id, customer);
        if let (Some(reason), Via::Http) = (offline, via) {
            info!(order_id = %id, %reason, "Order refused: card payments offline.");
            (order.status, order.reason) = (Status::Rejected, Some(reason.to_owned()));
            return Ok(PlaceOutcome {
                order,
                existed: false,
                unavailable: None,
                cards_offline: Some(reason.to_owned()),
            });
        }
        let unavailable = unavailable.or(offline.map(str::to_owned));
        if let (Some(reason), Via::Http) = (&unavailable, via) {
            // Refused, not rejected: nothing is kept, so the same id may be placed again once
            // the shop can make it.
            info!(order_id = %id, %reason, "Order refused: not available.");
            (order.status, order.reason) = (Status::Rejected, Some(reason.clone()));
            return Ok(PlaceOutcome {
                order,
                existed: false,
                unavailable,
                cards_offline: None,
            });
        }
        let mut answer: Option<Published> = None;
        match unavailable.map_or(priced, Err) {
            Ok(p) => self.create(tx, &mut order, (p, method), cause, &mut answer)?,
            Err(reason) => {
                let data = OrderRejected {
                    order_id: id,
                    reason: reason.clone(),
                };
                tx.answer(&mut answer, id, cause, || data)?;
                info!(order_id = %id, %reason, "Order rejected.");
                set_status(tx, &mut order, Status::Rejected, Some(reason));
            }
        }
        tx.put(&answer_key(id), &answer);
        Ok(PlaceOutcome {
            order,
            existed: false,
            unavailable: None,
            cards_offline: None,
        })
    }

    /// Accepts a priced order: `orders/created` (recorded in `answer`), its first timer.
    fn create(
        &self,
        tx: &mut Tx,
        order: &mut OrderRecord,
        (p, payment): (PricedOrder, PaymentMethod),
        cause: Option<Uuid>,
        answer: &mut Option<Published>,
    ) -> Result<(), Rejection> {
        let id = order.order_id;
        order.lines = p.lines.clone();
        order.total_cents = p.total_cents;
        let data = OrderCreated {
            order_id: id,
            lines: p.lines,
            total_cents: p.total_cents,
            ingredients: p.ingredients,
            customer: order.customer.clone(),
            payment,
        };
        tx.answer(answer, id, cause, || data.clone())?;
        order.created = Some(data);
        self.set_timer(tx, order, Some((Step::Answers, 0)));
        info!(order_id = %id, total_cents = order.total_cents, "Order created.");
        set_status(tx, order, Status::Created, None);
        Ok(())
    }

    /// A repeated `orders/placed` for an order already kept: its recorded `orders/created` or
    /// `orders/rejected` again, byte for byte (the same event id: consumers see a repeat), so a
    /// POS that lost the answer hears it, then how the order ended if it is done. An order
    /// kept before answers were recorded gets its answer made from the record, and recorded.
    fn answer_again(
        &self,
        tx: &mut Tx,
        order: &OrderRecord,
        cause: Option<Uuid>,
    ) -> Result<(), Rejection> {
        let (id, key) = (order.order_id, answer_key(order.order_id));
        let mut answer: Option<Published> = tx.get(&key)?;
        let recorded = answer.is_some();
        match (order.status, &order.created) {
            (Status::Rejected, _) => {
                let reason = order.reason.clone().unwrap_or_default();
                tx.answer(&mut answer, id, cause, || OrderRejected {
                    order_id: id,
                    reason,
                })?
            }
            (_, Some(created)) => tx.answer(&mut answer, id, cause, || created.clone())?,
            (_, None) => return Ok(()),
        }
        if !recorded {
            tx.put(&key, &answer);
        }
        self.say_outcome(tx, order, cause)?;
        debug!(order_id = %id, "Repeated placement answered again.");
        Ok(())
    }
}

/// A store failure while handling `orders/placed` read raw: dead-lettered with the error (the
/// runner does the same for events after its attempts).
fn handler_failed(e: milo_bus::StoreError) -> Rejection {
    Rejection::Invalid(format!("handler failed: {e}"))
}

/// [`handler_failed`] for a handler's rejection; other rejections unchanged.
fn store_failed(r: Rejection) -> Rejection {
    match r {
        Rejection::Store(e) => handler_failed(e),
        r => r,
    }
}
