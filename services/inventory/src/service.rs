//! Stock, reservations and the inventory handlers.

use milo_bus::{Published, Rejection, Service, StoreError, Tx};
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
    /// The outcome as announced, to answer a repeat with the same event.
    #[serde(default)]
    pub announced: Option<Published>,
    /// The answer to `orders/failed` (what went back to stock, maybe nothing), as announced.
    #[serde(default)]
    pub compensated: Option<Published>,
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
        if let Some(mut r) = tx.get::<Reservation>(&resv_key(e.order_id))? {
            announce(tx, &mut r)?;
            tx.put(&resv_key(e.order_id), &r);
            return Ok(());
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
            announced: None,
            compensated: None,
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
        announce(tx, &mut r)?;
        tx.put(&resv_key(r.order_id), &r);
        Ok(())
    }

    fn prepared(&self, tx: &mut Tx, order_id: Uuid) -> Result<(), Rejection> {
        let Some(mut r) = tx.get::<Reservation>(&resv_key(order_id))? else {
            return Ok(());
        };
        if r.state == ReservationState::Reserved {
            r.state = ReservationState::Consumed;
            tx.put(&resv_key(order_id), &r);
        }
        Ok(())
    }

    /// The order failed: give its reservation back and say so; say so too when nothing was
    /// held (the order service asks until it hears). A failed order never seen gets a released
    /// record, so a late `orders/created` cannot reserve for it.
    fn order_failed(&self, tx: &mut Tx, order_id: Uuid, cause: Uuid) -> Result<(), Rejection> {
        let mut r = tx
            .get::<Reservation>(&resv_key(order_id))?
            .unwrap_or(Reservation {
                order_id,
                ingredients: Ingredients::new(),
                state: ReservationState::Released,
                reason: Some("order failed before any reservation".into()),
                missing: Ingredients::new(),
                cause,
                announced: None,
                compensated: None,
            });
        let mut back = Ingredients::new();
        if r.state == ReservationState::Reserved {
            let mut stock = self.stock(tx)?;
            for (ing, units) in &r.ingredients {
                *stock.entry(ing.clone()).or_default() += units;
            }
            tx.put(STOCK_KEY, &stock);
            r.state = ReservationState::Released;
            back = r.ingredients.clone();
            info!(order_id = %order_id, "Reservation released.");
        }
        if r.state != ReservationState::Consumed {
            let cause = Some(r.cause);
            tx.answer(&mut r.compensated, order_id, cause, || InventoryReleased {
                order_id,
                ingredients: back,
            })?;
        }
        tx.put(&resv_key(order_id), &r);
        Ok(())
    }
}

/// Publishes a reservation's outcome; a repeat gets the very same event. The caller writes `r`.
fn announce(tx: &mut Tx, r: &mut Reservation) -> Result<(), Rejection> {
    let (id, cause) = (r.order_id, Some(r.cause));
    match r.state {
        // The order failed before anything was reserved: a late request gets nothing.
        ReservationState::Released if r.announced.is_none() => {}
        ReservationState::Failed => {
            let (reason, missing) = (r.reason.clone().unwrap_or_default(), r.missing.clone());
            tx.answer(&mut r.announced, id, cause, || InventoryFailed {
                order_id: id,
                reason,
                missing,
            })?
        }
        _ => {
            let ingredients = r.ingredients.clone();
            tx.answer(&mut r.announced, id, cause, || InventoryReserved {
                order_id: id,
                ingredients,
            })?
        }
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
            topics::ORDERS_PREPARED => self.prepared(tx, env.decode::<OrderPrepared>()?.order_id),
            topics::ORDERS_FAILED => {
                self.order_failed(tx, env.decode::<OrderFailed>()?.order_id, env.id)
            }
            _ => Err(env.unexpected().into()),
        }
    }
}
