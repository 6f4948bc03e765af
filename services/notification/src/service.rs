//! Customers, the pickup board and the notification handlers.

use milo_bus::{Rejection, Service, Tx};
use milo_contracts::events::{
    BoardEntry, CustomerNotified, OrderCanceled, OrderCreated, OrderPrepared, OrderRejected,
    PickupBoard,
};
use milo_contracts::{topics, RawEnvelope};
use tracing::info;
use uuid::Uuid;

use crate::Config;

const BOARD_KEY: &str = "board";

/// The notification service.
pub struct NotificationService {
    config: Config,
}

impl NotificationService {
    /// A new notification service.
    pub fn new(config: Config) -> Self {
        NotificationService { config }
    }

    fn notify(
        &self,
        tx: &mut Tx,
        order_id: Uuid,
        cause: Uuid,
        entry: (&str, Option<String>),
    ) -> Result<(), Rejection> {
        let done_key = format!("told/{order_id}");
        if tx.get::<bool>(&done_key)?.is_some() {
            return Ok(());
        }
        let customer: Option<String> = tx.get(&format!("customer/{order_id}"))?.flatten();
        let who = customer
            .clone()
            .unwrap_or_else(|| format!("order {}", short(order_id)));
        let (state, reason) = entry;
        let message = match (state, &reason) {
            (_, None) => format!("{who}, your order is ready for pickup."),
            ("canceled", Some(r)) => format!("Sorry {who}, your order was canceled: {r}."),
            (_, Some(r)) => format!("Sorry {who}, your order could not be made: {r}."),
        };
        info!(order_id = %order_id, customer = %who, "{message}");
        let data = CustomerNotified {
            order_id,
            customer: customer.clone(),
            message,
        };
        tx.publish(&tx.event(order_id, Some(cause), data))?;
        let mut board: PickupBoard = tx.get(BOARD_KEY)?.unwrap_or_default();
        board.entries.retain(|e| e.order_id != order_id);
        board.entries.insert(
            0,
            BoardEntry {
                order_id,
                customer,
                state: state.into(),
                reason,
            },
        );
        board.entries.truncate(self.config.board_size);
        tx.publish_retained(&tx.event(order_id, Some(cause), board.clone()))?;
        tx.put(BOARD_KEY, &board);
        tx.put(&done_key, &true);
        tx.remove(&format!("customer/{order_id}"));
        Ok(())
    }
}

fn short(id: Uuid) -> String {
    id.simple()
        .to_string()
        .chars()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

impl Service for NotificationService {
    type Command = ();

    fn name(&self) -> String {
        "notification".into()
    }

    /// Off the critical path: gather bigger groups, spare the disk.
    fn linger(&self) -> std::time::Duration {
        std::time::Duration::from_millis(100)
    }

    fn subscriptions(&self) -> Vec<String> {
        [
            topics::ORDERS_CREATED,
            topics::ORDERS_PREPARED,
            topics::ORDERS_CANCELED,
            topics::ORDERS_REJECTED,
        ]
        .map(String::from)
        .to_vec()
    }

    fn on_event(&mut self, tx: &mut Tx, topic: &str, env: &RawEnvelope) -> Result<(), Rejection> {
        match topic {
            topics::ORDERS_CREATED => {
                let e: OrderCreated = env.decode()?;
                if tx.get::<bool>(&format!("told/{}", e.order_id))?.is_none() {
                    tx.put(&format!("customer/{}", e.order_id), &e.customer);
                }
                Ok(())
            }
            topics::ORDERS_PREPARED => {
                let e: OrderPrepared = env.decode()?;
                self.notify(tx, e.order_id, env.id, ("ready", None))
            }
            topics::ORDERS_CANCELED => {
                let e: OrderCanceled = env.decode()?;
                self.notify(tx, e.order_id, env.id, ("canceled", Some(e.reason)))
            }
            topics::ORDERS_REJECTED => {
                let e: OrderRejected = env.decode()?;
                self.notify(tx, e.order_id, env.id, ("failed", Some(e.reason)))
            }
            _ => Err(env.unexpected().into()),
        }
    }
}
