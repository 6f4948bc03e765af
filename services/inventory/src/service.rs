//! Stock and the inventory handlers, shared by both saga modes: only the
//! topics that trigger them differ.
//!
//! | trigger (choreography / orchestration)            | handler      |
//! |---------------------------------------------------|--------------|
//! | `orders/created` / `commands/inventory/reserve`   | reserve      |
//! | `orders/failed` / `commands/inventory/release`    | release      |
//! | `orders/prepared` (both)                          | prepared     |

use milo_bus::{Rejection, Service, StoreError, Tx};
use milo_contracts::events::{
    Ingredients, InventoryReleased, OrderCreated, OrderFailed, OrderPrepared,
};
use milo_contracts::saga::{ReleaseStock, ReserveStock};
use milo_contracts::{topics, RawEnvelope, SagaMode};
use tracing::info;
use uuid::Uuid;

use crate::reservation::{announce, resv_key, split, Reservation, ReservationState};
use crate::Config;

/// Key of the current stock (ingredient → units available, reservations deducted).
pub const STOCK_KEY: &str = "stock";

/// The topics the inventory service takes in `mode`: (reserve, release, consume).
fn triggers(mode: SagaMode) -> [&'static str; 3] {
    match mode {
        SagaMode::Choreography => [
            topics::ORDERS_CREATED,
            topics::ORDERS_FAILED,
            topics::ORDERS_PREPARED,
        ],
        SagaMode::Orchestration => [
            topics::COMMANDS_INVENTORY_RESERVE,
            topics::COMMANDS_INVENTORY_RELEASE,
            topics::ORDERS_PREPARED,
        ],
    }
}

/// The inventory service.
pub struct InventoryService {
    config: Config,
    mode: SagaMode,
}

impl InventoryService {
    /// A new inventory service, triggered as saga `mode` says.
    pub fn new(config: Config, mode: SagaMode) -> Self {
        InventoryService { config, mode }
    }

    /// Current stock: the stored one, or the opening stock before the first change.
    pub fn stock(&self, tx: &Tx) -> Result<Ingredients, StoreError> {
        Ok(tx
            .get(STOCK_KEY)?
            .unwrap_or_else(|| self.config.stock.clone()))
    }

    /// Sets an order's ingredients aside (`orders/created`, `commands/inventory/reserve`), or
    /// fails naming what is short. A repeat is answered with the recorded outcome.
    fn reserve(
        &self,
        tx: &mut Tx,
        order_id: Uuid,
        ingredients: Ingredients,
        cause: Uuid,
    ) -> Result<(), Rejection> {
        if let Some(mut r) = tx.get::<Reservation>(&resv_key(order_id))? {
            announce(tx, &mut r)?;
            tx.put(&resv_key(order_id), &r);
            return Ok(());
        }
        let mut stock = self.stock(tx)?;
        let missing: Ingredients = ingredients
            .iter()
            .filter_map(|(ing, need)| {
                let have = stock.get(ing).copied().unwrap_or(0);
                (have < *need).then(|| (ing.clone(), need - have))
            })
            .collect();
        let mut r = Reservation {
            order_id,
            ingredients,
            state: ReservationState::Reserved,
            reason: None,
            missing,
            cause,
            announced: None,
            compensated: None,
            consumed: Ingredients::new(),
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

    /// The order failed (`orders/failed`, `commands/inventory/release`): give back what the
    /// bar did not use and say what went back, maybe nothing (a made drink, a failed
    /// reservation): the flow owner asks until it hears. A failed order never seen gets a
    /// released record, so a late reserve request cannot reserve for it.
    fn release(
        &self,
        tx: &mut Tx,
        order_id: Uuid,
        consumed: &Ingredients,
        cause: Uuid,
    ) -> Result<(), Rejection> {
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
                consumed: Ingredients::new(),
            });
        let mut back = Ingredients::new();
        if r.state == ReservationState::Reserved {
            let (returned, used) = split(&r.ingredients, consumed);
            let mut stock = self.stock(tx)?;
            for (ing, units) in &returned {
                let have = stock.entry(ing.clone()).or_default();
                *have = have.saturating_add(*units);
            }
            tx.put(STOCK_KEY, &stock);
            r.state = ReservationState::Released;
            r.consumed = used;
            back = returned;
            info!(order_id = %order_id, "Reservation released.");
        }
        let cause = Some(r.cause);
        tx.answer(&mut r.compensated, order_id, cause, || InventoryReleased {
            order_id,
            ingredients: back,
        })?;
        tx.put(&resv_key(order_id), &r);
        Ok(())
    }
}

impl Service for InventoryService {
    type Command = ();

    fn name(&self) -> String {
        "inventory".into()
    }

    fn subscriptions(&self) -> Vec<String> {
        triggers(self.mode).map(String::from).to_vec()
    }

    fn on_event(&mut self, tx: &mut Tx, topic: &str, env: &RawEnvelope) -> Result<(), Rejection> {
        match (self.mode, topic) {
            (_, topics::ORDERS_PREPARED) => {
                self.prepared(tx, env.decode::<OrderPrepared>()?.order_id)
            }
            (SagaMode::Choreography, topics::ORDERS_CREATED) => {
                let e: OrderCreated = env.decode()?;
                self.reserve(tx, e.order_id, e.ingredients, env.id)
            }
            (SagaMode::Choreography, topics::ORDERS_FAILED) => {
                let e: OrderFailed = env.decode()?;
                self.release(tx, e.order_id, &e.consumed, env.id)
            }
            (SagaMode::Orchestration, topics::COMMANDS_INVENTORY_RESERVE) => {
                let c: ReserveStock = env.decode()?;
                self.reserve(tx, c.order_id, c.ingredients, env.id)
            }
            (SagaMode::Orchestration, topics::COMMANDS_INVENTORY_RELEASE) => {
                let c: ReleaseStock = env.decode()?;
                self.release(tx, c.order_id, &c.consumed, env.id)
            }
            (mode, _) => Err(Rejection::Invalid(format!(
                "inventory does not take {topic} in {} mode",
                mode.as_str()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_takes_its_own_triggers_and_consumption_in_both() {
        let [reserve, release, consume] = triggers(SagaMode::Orchestration);
        assert_eq!(
            (reserve, release, consume),
            (
                topics::COMMANDS_INVENTORY_RESERVE,
                topics::COMMANDS_INVENTORY_RELEASE,
                topics::ORDERS_PREPARED
            )
        );
        assert_eq!(
            triggers(SagaMode::Choreography),
            [
                topics::ORDERS_CREATED,
                topics::ORDERS_FAILED,
                topics::ORDERS_PREPARED
            ]
        );
    }
}
