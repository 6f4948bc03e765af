//! Stock and the inventory handlers, shared by both saga modes: only the
//! topics that trigger them differ.
//!
//! | trigger (choreography / orchestration)            | handler      |
//! |---------------------------------------------------|--------------|
//! | `orders/created` / `commands/inventory/reserve`   | reserve      |
//! | `orders/failed` / `commands/inventory/release`    | release      |
//! | `orders/prepared` (both)                          | prepared     |
//! | `commands/inventory/restock` (both)               | restock      |
//! | `tickets/returned` (both)                         | wasted       |

use std::sync::Arc;

use milo_bus::{Alarm, Commands, Rejection, Service, Store, StoreError, Tx};
use milo_contracts::bar::TicketReturned;
use milo_contracts::counter::RestockRequested;
use milo_contracts::events::{
    Ingredients, InventoryReleased, OrderCreated, OrderFailed, OrderPrepared,
};
use milo_contracts::saga::{ReleaseStock, ReserveStock};
use milo_contracts::{topics, Menu, RawEnvelope, SagaMode};
use tracing::info;
use uuid::Uuid;

use crate::availability::Tracker;
use crate::publish::Command;
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

/// Topics taken in both modes: restocking and what the bar threw away.
const ALWAYS: [&str; 2] = [topics::COMMANDS_INVENTORY_RESTOCK, topics::TICKETS_RETURNED];

/// The inventory service.
pub struct InventoryService {
    pub(crate) config: Config,
    mode: SagaMode,
    pub(crate) menu: Arc<Menu>,
    /// What can be sold, kept up to date with every stock change.
    pub(crate) tracker: Tracker,
    /// The stock changed since the availability was last published.
    pub(crate) dirty: bool,
    /// When the coalesced availability is due.
    pub(crate) alarm: Alarm,
}

impl InventoryService {
    /// A new inventory service over `menu`, triggered as saga `mode` says.
    pub fn new(config: Config, mode: SagaMode, menu: Arc<Menu>) -> Self {
        let tracker = Tracker::new(&menu, &config.low_stock, &config.stock);
        InventoryService {
            config,
            mode,
            menu,
            tracker,
            dirty: false,
            alarm: Alarm::default(),
        }
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
        &mut self,
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
                (have < *need).then(|| (ing.clone(), need.saturating_sub(have)))
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
        let reserved = r.missing.is_empty();
        if reserved {
            for (ing, need) in &r.ingredients {
                if let Some(have) = stock.get_mut(ing) {
                    *have = have.saturating_sub(*need);
                }
            }
        } else {
            let short: Vec<String> = r.missing.keys().cloned().collect();
            r.state = ReservationState::Failed;
            r.reason = Some(format!("out of stock: {}", short.join(", ")));
            info!(order_id = %r.order_id, short = %short.join(","), "Stock short.");
        }
        announce(tx, &mut r)?;
        tx.put(&resv_key(r.order_id), &r);
        if reserved {
            self.stock_changed(tx, &stock, r.ingredients.keys(), order_id, cause)?;
        }
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
        &mut self,
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
        let mut stock = None;
        if r.state == ReservationState::Reserved {
            let (returned, used) = split(&r.ingredients, consumed);
            let mut s = self.stock(tx)?;
            for (ing, units) in &returned {
                let have = s.entry(ing.clone()).or_default();
                *have = have.saturating_add(*units);
            }
            stock = Some(s);
            r.state = ReservationState::Released;
            r.consumed = used;
            back = returned;
            info!(order_id = %order_id, "Reservation released.");
        }
        let asked = r.cause;
        tx.answer(&mut r.compensated, order_id, Some(asked), || {
            InventoryReleased {
                order_id,
                ingredients: back.clone(),
            }
        })?;
        tx.put(&resv_key(order_id), &r);
        if let Some(stock) = stock {
            self.stock_changed(tx, &stock, back.keys(), order_id, cause)?;
        }
        Ok(())
    }
}

impl Service for InventoryService {
    type Command = Command;

    fn name(&self) -> String {
        "inventory".into()
    }

    fn subscriptions(&self) -> Vec<String> {
        triggers(self.mode)
            .into_iter()
            .chain(ALWAYS)
            .map(String::from)
            .collect()
    }

    fn on_start(&mut self, store: &Store, commands: &Commands<Command>) -> Result<(), Rejection> {
        let stock = store
            .get::<Ingredients>(STOCK_KEY)?
            .unwrap_or_else(|| self.config.stock.clone());
        // Levels as they stand: nothing crossed while the service was away.
        self.tracker = Tracker::new(&self.menu, &self.config.low_stock, &stock);
        self.spawn_ticks(commands);
        Ok(())
    }

    fn on_command(&mut self, tx: &mut Tx, cmd: Command) -> Result<(), Rejection> {
        match cmd {
            Command::Tick => self.tick(tx),
            Command::Republish => self.republish(tx),
        }
    }

    fn on_event(&mut self, tx: &mut Tx, topic: &str, env: &RawEnvelope) -> Result<(), Rejection> {
        match (self.mode, topic) {
            (_, topics::ORDERS_PREPARED) => {
                self.prepared(tx, env.decode::<OrderPrepared>()?.order_id)
            }
            (_, topics::COMMANDS_INVENTORY_RESTOCK) => {
                self.restock(tx, env.decode::<RestockRequested>()?, env)
            }
            (_, topics::TICKETS_RETURNED) => self.wasted(tx, env.decode::<TicketReturned>()?, env),
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
