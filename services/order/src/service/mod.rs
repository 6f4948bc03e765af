//! The order service's handlers.

use std::sync::Arc;

use milo_bus::{Commands, Rejection, Service, Store, Tx};
use milo_contracts::events::{
    InventoryFailed, InventoryReleased, InventoryReserved, OrderCreated, OrderFailed, OrderPlaced,
    OrderPrepared, OrderReady, OrderRejected, PaymentCompleted, PaymentFailed, PaymentRefunded,
};
use milo_contracts::{topics, Menu, RawEnvelope};
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tracing::{info, warn};
use uuid::Uuid;

use crate::model::{order_key, status_prefix, OrderRecord, Status, StatusChange};
use crate::retry::Step;

mod timers;
use crate::Config;

/// Local requests to the order service.
#[derive(Debug)]
pub enum Command {
    /// Look at due timers.
    Tick,
    /// Place an order from HTTP; the reply comes once the order is durable.
    Place {
        /// The order.
        placed: OrderPlaced,
        /// Where to answer.
        reply: oneshot::Sender<PlaceOutcome>,
    },
}

/// What placing an order led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOutcome {
    /// The order as recorded (an earlier one if the id was placed before).
    pub order: OrderRecord,
    /// True if this id had been placed before.
    pub existed: bool,
}

/// The order service.
pub struct OrderService {
    config: Config,
    menu: Arc<Menu>,
}

impl OrderService {
    /// A new order service over this menu.
    pub fn new(config: Config, menu: Arc<Menu>) -> Self {
        OrderService { config, menu }
    }

    fn place(
        &self,
        tx: &mut Tx,
        placed: OrderPlaced,
        cause: Option<Uuid>,
    ) -> Result<PlaceOutcome, Rejection> {
        let id = placed.order_id;
        if let Some(order) = tx.get::<OrderRecord>(&order_key(id))? {
            return Ok(PlaceOutcome {
                order,
                existed: true,
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
        let mut order = OrderRecord {
            order_id: id,
            status: Status::Created,
            customer: customer.clone(),
            lines: Vec::new(),
            total_cents: 0,
            reason: None,
            paid: false,
            reserved: false,
            history: Vec::new(),
            created: None,
            refund_confirmed: false,
            release_confirmed: false,
            timer: None,
        };
        match priced {
            Ok(p) => {
                order.lines = p.lines.clone();
                order.total_cents = p.total_cents;
                let data = OrderCreated {
                    order_id: id,
                    lines: p.lines,
                    total_cents: p.total_cents,
                    ingredients: p.ingredients,
                    customer,
                };
                tx.publish(&tx.event(id, cause, data.clone()))?;
                order.created = Some(data);
                self.set_timer(tx, &mut order, Some((Step::Answers, 0)));
                info!(order_id = %id, total_cents = order.total_cents, "Order created.");
                set_status(tx, &mut order, Status::Created, None);
            }
            Err(reason) => {
                let data = OrderRejected {
                    order_id: id,
                    reason: reason.clone(),
                };
                tx.publish(&tx.event(id, cause, data))?;
                info!(order_id = %id, %reason, "Order rejected.");
                set_status(tx, &mut order, Status::Rejected, Some(reason));
            }
        }
        Ok(PlaceOutcome {
            order,
            existed: false,
        })
    }

    /// Applies a payment or stock outcome; publishes `orders/ready` or `orders/failed`.
    fn settle(
        &self,
        tx: &mut Tx,
        id: Uuid,
        cause: Uuid,
        outcome: Outcome,
    ) -> Result<(), Rejection> {
        let Some(mut order) = tx.get::<OrderRecord>(&order_key(id))? else {
            warn!(order_id = %id, "Outcome for an order this service does not know; ignored.");
            return Ok(());
        };
        if order.status != Status::Created {
            return Ok(());
        }
        match outcome {
            Outcome::Paid => order.paid = true,
            Outcome::Reserved => order.reserved = true,
            Outcome::Failed(reason) => {
                tx.publish(&tx.event(
                    id,
                    Some(cause),
                    OrderFailed {
                        order_id: id,
                        reason: reason.clone(),
                    },
                ))?;
                info!(order_id = %id, %reason, "Order failed.");
                set_status(tx, &mut order, Status::Failed, Some(reason));
                return Ok(());
            }
        }
        if order.paid && order.reserved {
            let data = OrderReady {
                order_id: id,
                lines: order.lines.clone(),
                customer: order.customer.clone(),
            };
            tx.publish(&tx.event(id, Some(cause), data))?;
            info!(order_id = %id, "Order ready to make.");
            self.set_timer(tx, &mut order, Some((Step::Prepared, 0)));
            set_status(tx, &mut order, Status::Ready, None);
        } else {
            tx.put(&order_key(id), &order);
        }
        Ok(())
    }

    /// Payment or inventory confirmed its part of a failed order's compensation.
    fn confirmed(&self, tx: &mut Tx, id: Uuid, payment: bool) -> Result<(), Rejection> {
        let Some(mut order) = tx.get::<OrderRecord>(&order_key(id))? else {
            return Ok(());
        };
        if payment {
            order.refund_confirmed = true;
        } else {
            order.release_confirmed = true;
        }
        let step = order.timer.as_ref().map(|t| t.step);
        if order.refund_confirmed && order.release_confirmed && step == Some(Step::Compensate) {
            self.set_timer(tx, &mut order, None);
        }
        tx.put(&order_key(id), &order);
        Ok(())
    }

    fn prepared(&self, tx: &mut Tx, id: Uuid) -> Result<(), Rejection> {
        let Some(mut order) = tx.get::<OrderRecord>(&order_key(id))? else {
            warn!(order_id = %id, "Prepared an order this service does not know; ignored.");
            return Ok(());
        };
        if order.status == Status::Ready {
            info!(order_id = %id, "Order prepared.");
            self.set_timer(tx, &mut order, None);
            set_status(tx, &mut order, Status::Prepared, None);
        }
        Ok(())
    }

    fn fail(
        &self,
        tx: &mut Tx,
        order: &mut OrderRecord,
        cause: Option<Uuid>,
        reason: String,
    ) -> Result<(), Rejection> {
        let id = order.order_id;
        let data = OrderFailed {
            order_id: id,
            reason: reason.clone(),
        };
        tx.publish(&tx.event(id, cause, data))?;
        info!(order_id = %id, %reason, "Order failed.");
        self.set_timer(tx, order, Some((Step::Compensate, 0)));
        set_status(tx, order, Status::Failed, Some(reason));
        Ok(())
    }
}

enum Outcome {
    Paid,
    Reserved,
    Failed(String),
}

/// Moves an order to `status`, keeping the status index and history.
fn set_status(tx: &mut Tx, order: &mut OrderRecord, status: Status, reason: Option<String>) {
    if !order.history.is_empty() {
        tx.remove(&format!(
            "{}{}",
            status_prefix(order.status),
            order.order_id
        ));
    }
    order.status = status;
    if reason.is_some() {
        order.reason = reason;
    }
    order.history.push(StatusChange {
        status,
        at: OffsetDateTime::now_utc(),
    });
    tx.put(&format!("{}{}", status_prefix(status), order.order_id), &());
    tx.put(&order_key(order.order_id), order);
}

impl Service for OrderService {
    type Command = Command;

    fn name(&self) -> String {
        "order".into()
    }

    fn subscriptions(&self) -> Vec<String> {
        [
            topics::ORDERS_PLACED,
            topics::PAYMENTS_COMPLETED,
            topics::PAYMENTS_FAILED,
            topics::INVENTORY_RESERVED,
            topics::INVENTORY_FAILED,
            topics::ORDERS_PREPARED,
            topics::PAYMENTS_REFUNDED,
            topics::INVENTORY_RELEASED,
        ]
        .map(String::from)
        .to_vec()
    }

    fn on_event(&mut self, tx: &mut Tx, topic: &str, env: &RawEnvelope) -> Result<(), Rejection> {
        let cause = env.id;
        match topic {
            topics::ORDERS_PLACED => {
                self.place(tx, env.decode::<OrderPlaced>()?, Some(cause))?;
            }
            topics::PAYMENTS_COMPLETED => {
                let e = env.decode::<PaymentCompleted>()?;
                self.settle(tx, e.order_id, cause, Outcome::Paid)?;
            }
            topics::PAYMENTS_FAILED => {
                let e = env.decode::<PaymentFailed>()?;
                let reason = format!("payment declined: {}", e.reason);
                self.settle(tx, e.order_id, cause, Outcome::Failed(reason))?;
            }
            topics::INVENTORY_RESERVED => {
                let e = env.decode::<InventoryReserved>()?;
                self.settle(tx, e.order_id, cause, Outcome::Reserved)?;
            }
            topics::INVENTORY_FAILED => {
                let e = env.decode::<InventoryFailed>()?;
                self.settle(tx, e.order_id, cause, Outcome::Failed(e.reason))?;
            }
            topics::ORDERS_PREPARED => {
                self.prepared(tx, env.decode::<OrderPrepared>()?.order_id)?;
            }
            topics::PAYMENTS_REFUNDED => {
                self.confirmed(tx, env.decode::<PaymentRefunded>()?.order_id, true)?;
            }
            topics::INVENTORY_RELEASED => {
                self.confirmed(tx, env.decode::<InventoryReleased>()?.order_id, false)?;
            }
            _ => return Err(env.unexpected().into()),
        }
        Ok(())
    }

    fn on_start(&mut self, _store: &Store, commands: &Commands<Command>) -> Result<(), Rejection> {
        let (commands, every) = (commands.clone(), self.config.retry.tick_ms.max(10));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(every));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                if !commands.send(Command::Tick).await {
                    break;
                }
            }
        });
        Ok(())
    }

    fn on_command(&mut self, tx: &mut Tx, cmd: Command) -> Result<(), Rejection> {
        match cmd {
            Command::Tick => self.tick(tx)?,
            Command::Place { placed, reply } => {
                let outcome = self.place(tx, placed, None)?;
                tx.after_commit(move || {
                    let _ = reply.send(outcome);
                });
            }
        }
        Ok(())
    }
}
