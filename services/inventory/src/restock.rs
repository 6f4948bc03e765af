//! Stock coming in and going to waste: an operator's restock (`commands/inventory/restock`,
//! answered on `inventory/restocked`) and what the bar threw away (`tickets/returned`).
//!
//! Both keep a running total in the store, so stock can be audited:
//! opening + [`RESTOCKED_KEY`] − what prepared orders used − [`WASTE_KEY`] = stock.

use milo_bus::{Rejection, Tx};
use milo_contracts::bar::TicketReturned;
use milo_contracts::counter::{RestockRequested, StockRestocked};
use milo_contracts::events::Ingredients;
use milo_contracts::{Menu, RawEnvelope};
use tracing::{info, warn};

use crate::service::InventoryService;

/// Key of the units restocked so far, per ingredient.
pub const RESTOCKED_KEY: &str = "restocked";
/// Key of the units thrown away by the bar so far, per ingredient (as taken off stock).
pub const WASTE_KEY: &str = "waste";

/// Why a restock cannot be done, or `None`: the ingredient must be one of the menu's
/// `[ingredients]` and the amount from 1 to `max` (`[inventory] max_restock`). The CLI checks
/// with this too.
pub fn refusal(menu: &Menu, ingredient: &str, amount: u64, max: u64) -> Option<String> {
    if !menu.ingredients.contains_key(ingredient) {
        let known: Vec<&str> = menu.ingredients.keys().map(String::as_str).collect();
        return Some(format!(
            "unknown ingredient {ingredient:?}; the menu's ingredients are: {}",
            known.join(", ")
        ));
    }
    if amount > max {
        return Some(format!(
            "amount {amount} is more than one restock may add: at most {max} \
             (inventory.max_restock)"
        ));
    }
    (amount == 0).then(|| "amount must be at least 1".to_owned())
}

/// Adds `units` to the running total under `key`.
fn add_total(tx: &mut Tx, key: &str, units: &Ingredients) -> Result<(), Rejection> {
    let mut total: Ingredients = tx.get(key)?.unwrap_or_default();
    for (ing, n) in units {
        let t = total.entry(ing.clone()).or_default();
        *t = t.saturating_add(*n);
    }
    tx.put(key, &total);
    Ok(())
}

impl InventoryService {
    /// Adds stock and answers `inventory/restocked` (correlated with the request); an unknown
    /// ingredient, a zero amount or one above `max_restock` is answered with `refused` and
    /// changes nothing.
    pub(crate) fn restock(
        &mut self,
        tx: &mut Tx,
        req: RestockRequested,
        env: &RawEnvelope,
    ) -> Result<(), Rejection> {
        let (correlation, cause) = (env.correlation_id, env.id);
        let mut stock = self.stock(tx)?;
        let have = stock.get(&req.ingredient).copied().unwrap_or(0);
        let max = self.config.max_restock;
        if let Some(why) = refusal(&self.menu, &req.ingredient, req.amount, max) {
            info!(ingredient = %req.ingredient, amount = req.amount, reason = %why, "Restock refused.");
            let answer = StockRestocked {
                ingredient: req.ingredient,
                amount: 0,
                stock: have,
                refused: Some(why),
            };
            tx.publish(&tx.event(correlation, Some(cause), answer))?;
            return Ok(());
        }
        let now = have.saturating_add(req.amount);
        stock.insert(req.ingredient.clone(), now);
        add_total(
            tx,
            RESTOCKED_KEY,
            &Ingredients::from([(req.ingredient.clone(), req.amount)]),
        )?;
        let answer = StockRestocked {
            ingredient: req.ingredient.clone(),
            amount: req.amount,
            stock: now,
            refused: None,
        };
        tx.publish(&tx.event(correlation, Some(cause), answer))?;
        info!(ingredient = %req.ingredient, amount = req.amount, stock = now, "Restocked.");
        self.stock_changed(tx, &stock, [&req.ingredient], correlation, cause)
    }

    /// Takes what the bar threw away off stock (never below zero) and adds what was taken
    /// to the waste total.
    pub(crate) fn wasted(
        &mut self,
        tx: &mut Tx,
        e: TicketReturned,
        env: &RawEnvelope,
    ) -> Result<(), Rejection> {
        if e.wasted.is_empty() {
            return Ok(());
        }
        let mut stock = self.stock(tx)?;
        let mut taken = Ingredients::new();
        for (ing, units) in &e.wasted {
            let have = stock.get(ing).copied().unwrap_or(0);
            let off = (*units).min(have);
            if off < *units {
                warn!(order_id = %e.order_id, ingredient = %ing, wasted = units, stock = have, "Waste above the stock left; stock stops at zero.");
            }
            if off > 0 {
                stock.insert(ing.clone(), have.saturating_sub(off));
                taken.insert(ing.clone(), off);
            }
        }
        add_total(tx, WASTE_KEY, &taken)?;
        info!(order_id = %e.order_id, station = %e.station, "Waste taken off stock.");
        self.stock_changed(tx, &stock, taken.keys(), e.order_id, env.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restock_needs_a_menu_ingredient_and_an_amount() {
        let menu = Menu::from_toml(
            r#"
            [ingredients]
            oat_milk_ml = "oat milk"
            [items.shot]
            name = "Shot"
            default_size = "one"
            [items.shot.sizes.one]
            price_cents = 1
            recipe = { oat_milk_ml = 1 }
            "#,
        )
        .unwrap();
        assert_eq!(refusal(&menu, "oat_milk_ml", 5000, 5000), None);
        let why = refusal(&menu, "gin_ml", 5, 5000).unwrap();
        assert!(why.contains("unknown ingredient \"gin_ml\""), "{why}");
        assert!(why.ends_with("oat_milk_ml"), "{why}");
        assert_eq!(
            refusal(&menu, "oat_milk_ml", 0, 5000).as_deref(),
            Some("amount must be at least 1")
        );
        let why = refusal(&menu, "oat_milk_ml", u64::MAX, 5000).unwrap();
        assert!(
            why.contains("at most 5000 (inventory.max_restock)"),
            "{why}"
        );
    }
}
