//! Stock, reservations and the inventory handlers.

use milo_bus::{Rejection, Service, StoreError, Tx};
use milo_contracts::events::{
    Ingredients, InventoryFailed, InventoryReleased, InventoryReserved, OrderCreated, OrderFailed,
    OrderPrepared,
};
use milo_contracts::{topics, RawEnvelope};
use serde::{Deserialize, Serialize};
use tracing::info;
use uuid::Uuid;

use crate::Config;

/// Key of the current stock (ingredient → units available, reservations deducted).
pub const STOCK_KEY: &str = "stock";

/// Where a reservation stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReservationState {
    /// Set aside.
    Reserved,
    /// Could not be set aside.
    Failed,
    /// Used by a prepared drink.
    Consumed,
    /// Given back to stock.
    Released,
}

/// One order's reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The order.
    pub order_id: Uuid,
    /// What the order needs.
    pub ingredients: Ingredients,
    /// Where it stands.
    pub state: ReservationState,
    /// Why it failed.
    pub reason: Option<String>,
    /// What was short.
    pub missing: Ingredients,
    /// The `orders/created` event that asked.
    pub cause: Uuid,
}

fn resv_key(order_id: Uuid) -> String {
    format!("resv/{order_id}")
}

/// The inventory service.
pub struct InventoryService {
    config: Config,
}

impl InventoryService {
    /// A new inventory service.
    pub fn new(config: Config) -> Self {
        InventoryService { config }
    }

    /// Current stock: the stored one, or the opening stock before the first change.
    pub fn stock(&self, tx: &Tx) -> Result<Ingredients, StoreError> {
        Ok(tx
            .get(STOCK_KEY)?
            .unwrap_or_else(|| self.config.stock.clone()))
    }

    fn created(&self, tx: &mut Tx, e: OrderCreated, cause: Uuid) -> Result<(), Rejection> {
        if let Some(r) = tx.get::<Reservation>(&resv_key(e.order_id))? {
            return announce(tx, &r);
        }
        let mut stock = self.stock(tx)?;
        let missing: Ingredients = e
            .ingredients
            .iter()
            .filter_map(|(ing, need)| {
                let have = stock.get(ing).copied().unwrap_or(0);
                (have < *need).then(|| (ing.clone(), need - have))
            })
            .collect();
        let mut r = Reservation {
            order_id: e.order_id,
            ingredients: e.ingredients,
            state: ReservationState::Reserved,
            reason: None,
            missing,
            cause,
        };
        if r.missing.is_empty() {
            for (ing, need) in &r.ingredients {
                if let Some(have) = stock.get_mut(ing) {
                    *have -= need;
                }
            }
            tx.put(STOCK_KEY, &stock);
        } else {
            let short: Vec<String> = r.missing.keys().cloned().collect();
            r.state = ReservationState::Failed;
            r.reason = Some(format!("out of stock: {}", short.join(", ")));
            info!(order_id = %r.order_id, short = %short.join(","), "Stock short.");
        }
        announce(tx, &r)?;
        tx.put(&resv_key(r.order_id), &r);
        Ok(())
    }

    fn settle(&self, tx: &mut Tx, order_id: Uuid, prepared: bool) -> Result<(), Rejection> {
        let Some(mut r) = tx.get::<Reservation>(&resv_key(order_id))? else {
            return Ok(());
        };
        if r.state != ReservationState::Reserved {
            return Ok(());
        }
        if prepared {
            r.state = ReservationState::Consumed;
        } else {
            let mut stock = self.stock(tx)?;
            for (ing, units) in &r.ingredients {
                *stock.entry(ing.clone()).or_default() += units;
            }
            tx.put(STOCK_KEY, &stock);
            r.state = ReservationState::Released;
            let data = InventoryReleased {
                order_id,
                ingredients: r.ingredients.clone(),
            };
            tx.publish(&tx.event(order_id, Some(r.cause), data))?;
            info!(order_id = %order_id, "Reservation released.");
        }
        tx.put(&resv_key(order_id), &r);
        Ok(())
    }
}

/// Publishes a reservation's outcome.
fn announce(tx: &mut Tx, r: &Reservation) -> Result<(), Rejection> {
    let id = r.order_id;
    if r.state == ReservationState::Failed {
        let data = InventoryFailed {
            order_id: id,
            reason: r.reason.clone().unwrap_or_default(),
            missing: r.missing.clone(),
        };
        tx.publish(&tx.event(id, Some(r.cause), data))?;
    } else {
        let data = InventoryReserved {
            order_id: id,
            ingredients: r.ingredients.clone(),
        };
        tx.publish(&tx.event(id, Some(r.cause), data))?;
    }
    Ok(())
}

impl Service for InventoryService {
    type Command = ();

    fn name(&self) -> String {
        "inventory".into()
    }

    fn subscriptions(&self) -> Vec<String> {
        [
            topics::ORDERS_CREATED,
            topics::ORDERS_PREPARED,
            topics::ORDERS_FAILED,
        ]
        .map(String::from)
        .to_vec()
    }

    fn on_event(&mut self, tx: &mut Tx, topic: &str, env: &RawEnvelope) -> Result<(), Rejection> {
        match topic {
            topics::ORDERS_CREATED => self.created(tx, env.decode()?, env.id),
            topics::ORDERS_PREPARED => {
                self.settle(tx, env.decode::<OrderPrepared>()?.order_id, true)
            }
            topics::ORDERS_FAILED => self.settle(tx, env.decode::<OrderFailed>()?.order_id, false),
            _ => Err(env.unexpected().into()),
        }
    }
}
