//! The counter's vocabulary: what the shop can still sell (86'ing), low-stock alerts,
//! restocking, and the customer collecting an order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::Event;
use crate::events::{Ingredients, OrderLine};
use crate::menu::Menu;
use crate::topics;

macro_rules! event {
    ($ty:ty, $name:literal, $topic:expr) => {
        impl Event for $ty {
            const TYPE: &'static str = $name;
            const VERSION: u32 = 1;
            const TOPIC: &'static str = $topic;
        }
    };
}

/// Whether one menu item can be made, and which of its options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ItemAvailability {
    /// The item in its default size (and default milk) can be made.
    pub available: bool,
    /// Why not, when not (e.g. "out of whole_milk_ml").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Size key → can be made (with the default milk).
    #[serde(default)]
    pub sizes: BTreeMap<String, bool>,
    /// Milk key → the default size can be made with it.
    #[serde(default)]
    pub milks: BTreeMap<String, bool>,
    /// Modifier key → the default size can be made with it.
    #[serde(default)]
    pub modifiers: BTreeMap<String, bool>,
}

/// What the shop can sell right now (retained on `menu/availability`), from stock minus
/// reservations. Published by inventory when it changes (at most about once a second) and
/// periodically, so that a restarted broker has it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MenuAvailability {
    /// Item key → availability.
    pub items: BTreeMap<String, ItemAvailability>,
    /// Stock left for new orders (reservations deducted), per ingredient.
    pub stock: Ingredients,
    /// Ingredients below their low-stock threshold.
    #[serde(default)]
    pub low: Vec<String>,
    /// Ingredients with nothing left.
    #[serde(default)]
    pub out: Vec<String>,
}
event!(
    MenuAvailability,
    "MenuAvailability",
    topics::MENU_AVAILABILITY
);

impl MenuAvailability {
    /// Why an order with `lines` cannot be sold now, or `None` if it can. The check is exact:
    /// each line's ingredients by the menu's recipes against the stock left. Lines the menu
    /// itself refuses are left to the order service, which rejects them with the menu's
    /// reason.
    pub fn refusal(&self, menu: &Menu, lines: &[OrderLine]) -> Option<String> {
        let priced = menu.price(lines).ok()?;
        let short: Vec<&String> = priced
            .ingredients
            .iter()
            .filter(|(ing, need)| self.stock.get(*ing).copied().unwrap_or(0) < **need)
            .map(|(ing, _)| ing)
            .collect();
        if short.is_empty() {
            return None;
        }
        let what: Vec<String> = priced
            .lines
            .iter()
            .map(|l| {
                let name = menu.items.get(&l.item).map_or(l.item.as_str(), |i| &i.name);
                match &l.milk {
                    Some(m) => format!("{name} ({}, {m} milk)", l.size),
                    None => format!("{name} ({})", l.size),
                }
            })
            .collect();
        let short: Vec<&str> = short.iter().map(|s| s.as_str()).collect();
        Some(format!(
            "sorry, we cannot make {} right now: not enough {}",
            what.join(", "),
            short.join(", ")
        ))
    }
}

/// How low an ingredient is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StockLevel {
    /// Above its threshold again (after a restock).
    Ok,
    /// Below its low-stock threshold.
    Low,
    /// Nothing left.
    Out,
}

/// An ingredient crossed its low-stock threshold (`inventory/low`), either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLow {
    /// The ingredient.
    pub ingredient: String,
    /// Units left for new orders.
    pub remaining: u64,
    /// The configured threshold.
    pub threshold: u64,
    /// Low, out, or ok again.
    pub level: StockLevel,
}
event!(StockLow, "StockLow", topics::INVENTORY_LOW);

/// Operator → inventory: add stock (`commands/inventory/restock`). The envelope id is the
/// idempotency key: sending the same command again adds nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestockRequested {
    /// The ingredient (a key of the menu's `[ingredients]`).
    pub ingredient: String,
    /// Units to add (1 to inventory's `max_restock`).
    pub amount: u64,
}
event!(
    RestockRequested,
    "RestockRequested",
    topics::COMMANDS_INVENTORY_RESTOCK
);

/// Stock was added (`inventory/restocked`), or the request was refused (`refused` says why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockRestocked {
    /// The ingredient.
    pub ingredient: String,
    /// Units added.
    pub amount: u64,
    /// Units available afterwards.
    pub stock: u64,
    /// Why nothing was added, if refused (unknown ingredient, zero amount, above
    /// `max_restock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}
event!(
    StockRestocked,
    "StockRestocked",
    topics::INVENTORY_RESTOCKED
);

/// The customer picked the order up (`orders/collected`, from `milo pos pickup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderCollected {
    /// The order.
    pub order_id: Uuid,
}
event!(OrderCollected, "OrderCollected", topics::ORDERS_COLLECTED);

#[cfg(test)]
mod tests {
    use super::*;

    const MENU: &str = r#"
        [ingredients]
        beans_g = "beans"
        whole_milk_ml = "whole milk"
        oat_milk_ml = "oat milk"
        [milks.whole]
        ingredient = "whole_milk_ml"
        [milks.oat]
        ingredient = "oat_milk_ml"
        [items.latte]
        name = "Latte"
        default_size = "small"
        default_milk = "whole"
        [items.latte.sizes.small]
        price_cents = 400
        recipe = { beans_g = 18, milk_ml = 200 }
    "#;

    fn line(milk: Option<&str>, qty: i64) -> OrderLine {
        OrderLine {
            item: "latte".into(),
            size: None,
            milk: milk.map(Into::into),
            qty,
            modifiers: Vec::new(),
        }
    }

    #[test]
    fn refuses_exactly_what_stock_cannot_cover() {
        let menu = Menu::from_toml(MENU).unwrap();
        let avail = MenuAvailability {
            stock: Ingredients::from([
                ("beans_g".into(), 40),
                ("whole_milk_ml".into(), 400),
                ("oat_milk_ml".into(), 100),
            ]),
            ..Default::default()
        };
        assert_eq!(avail.refusal(&menu, &[line(None, 2)]), None);
        let why = avail.refusal(&menu, &[line(Some("oat"), 1)]).unwrap();
        assert!(why.contains("Latte (small, oat milk)"), "{why}");
        assert!(why.ends_with("not enough oat_milk_ml"), "{why}");
        let why = avail.refusal(&menu, &[line(None, 3)]).unwrap();
        assert!(why.contains("beans_g, whole_milk_ml"), "{why}");
        // What the menu refuses is the order service's to reject.
        assert_eq!(avail.refusal(&menu, &[line(Some("soy"), 1)]), None);
    }
}
