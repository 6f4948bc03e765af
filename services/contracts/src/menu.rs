//! The menu: items, sizes with prices in integer cents, recipes in ingredient units, milks,
//! and the barista stages of each drink. Loaded from `config/menu.toml` and validated once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::events::{Ingredients, OrderLine, PricedLine};

/// Recipe key replaced by the chosen milk's ingredient.
pub const MILK_PLACEHOLDER: &str = "milk_ml";

/// The whole menu.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Menu {
    /// Ingredient key → what it is (unit in the name: `_g`, `_ml`, `_pcs`).
    pub ingredients: BTreeMap<String, String>,
    /// Milk key → the ingredient it uses and its surcharge.
    #[serde(default)]
    pub milks: BTreeMap<String, Milk>,
    /// Modifier key → what it adds (price, ingredients).
    #[serde(default)]
    pub modifiers: BTreeMap<String, Modifier>,
    /// Item key → item.
    pub items: BTreeMap<String, Item>,
    /// Most lines one order may have.
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
    /// Most of one line one order may have.
    #[serde(default = "default_max_qty")]
    pub max_qty: u32,
}

fn default_max_lines() -> usize {
    20
}
fn default_max_qty() -> u32 {
    20
}

/// A milk choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Milk {
    /// Ingredient used in place of `milk_ml` in recipes.
    pub ingredient: String,
    /// Surcharge per drink, in cents.
    #[serde(default)]
    pub price_cents: u64,
}

/// A modifier: an extra shot, a syrup, ice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Modifier {
    /// Name shown to people.
    pub name: String,
    /// Surcharge per drink, in cents.
    #[serde(default)]
    pub price_cents: u64,
    /// Ingredients it adds to one drink.
    #[serde(default)]
    pub recipe: Ingredients,
}

/// Most modifiers on one line.
pub const MAX_MODIFIERS: usize = 6;

/// A menu item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Name shown to people.
    pub name: String,
    /// Size used when an order names none.
    pub default_size: String,
    /// Milk used when an order names none; absent for drinks without milk.
    #[serde(default)]
    pub default_milk: Option<String>,
    /// Size key → price and recipe.
    pub sizes: BTreeMap<String, Size>,
    /// Modifier keys this item takes.
    #[serde(default)]
    pub modifiers: Vec<String>,
    /// What the barista device does, in order.
    #[serde(default)]
    pub stages: Vec<Stage>,
}

/// One size of an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Size {
    /// Price in cents.
    pub price_cents: u64,
    /// Ingredient → units for one drink.
    pub recipe: Ingredients,
}

/// One stage at the espresso machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// e.g. `grind`, `extract`, `steam`.
    pub name: String,
    /// Duration at speed factor 1.
    pub secs: f64,
}

/// An order after pricing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedOrder {
    /// Lines with every choice resolved.
    pub lines: Vec<PricedLine>,
    /// Sum in cents.
    pub total_cents: u64,
    /// Ingredients needed.
    pub ingredients: Ingredients,
}

/// Why a menu or an order does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MenuError {
    /// The menu file itself is wrong.
    #[error("invalid menu: {0}")]
    Invalid(String),
    /// The order names an item not on the menu.
    #[error("unknown item {0:?}")]
    UnknownItem(String),
    /// The order names a size the item does not come in.
    #[error("{item} has no size {size:?}")]
    UnknownSize {
        /// Item key.
        item: String,
        /// Size asked for.
        size: String,
    },
    /// The order names a milk not on the menu, or milk for a drink without milk.
    #[error("{item} cannot be made with milk {milk:?}")]
    UnknownMilk {
        /// Item key.
        item: String,
        /// Milk asked for.
        milk: String,
    },
    /// The order names a modifier the item does not take.
    #[error("{item} cannot have {modifier:?}")]
    UnknownModifier {
        /// Item key.
        item: String,
        /// Modifier asked for.
        modifier: String,
    },
    /// Quantity below 1 or above the limit.
    #[error("quantity {qty} of {item} is not between 1 and {max}")]
    BadQuantity {
        /// Item key.
        item: String,
        /// Quantity asked for.
        qty: i64,
        /// The limit.
        max: u32,
    },
    /// No lines, or more lines than the limit.
    #[error("an order needs between 1 and {max} lines, got {lines}")]
    BadLineCount {
        /// Lines given.
        lines: usize,
        /// The limit.
        max: usize,
    },
}

impl Menu {
    /// Parses and validates a menu from TOML text.
    pub fn from_toml(text: &str) -> Result<Menu, MenuError> {
        let menu: Menu = toml::from_str(text).map_err(|e| MenuError::Invalid(e.to_string()))?;
        menu.validate()?;
        Ok(menu)
    }

    fn validate(&self) -> Result<(), MenuError> {
        let bad = |s: String| Err(MenuError::Invalid(s));
        for (key, milk) in &self.milks {
            if !self.ingredients.contains_key(&milk.ingredient) {
                return bad(format!(
                    "milks.{key}.ingredient: unknown {:?}",
                    milk.ingredient
                ));
            }
        }
        for (key, m) in &self.modifiers {
            if let Some(ing) = m.recipe.keys().find(|i| !self.ingredients.contains_key(*i)) {
                return bad(format!("modifiers.{key}.recipe: unknown {ing:?}"));
            }
        }
        for (key, item) in &self.items {
            if let Some(m) = item
                .modifiers
                .iter()
                .find(|m| !self.modifiers.contains_key(*m))
            {
                return bad(format!("items.{key}.modifiers: unknown modifier {m:?}"));
            }
            if !item.sizes.contains_key(&item.default_size) {
                return bad(format!(
                    "items.{key}.default_size: no size {:?}",
                    item.default_size
                ));
            }
            if let Some(m) = &item.default_milk {
                if !self.milks.contains_key(m) {
                    return bad(format!("items.{key}.default_milk: unknown milk {m:?}"));
                }
            }
            for (size, s) in &item.sizes {
                if s.price_cents == 0 {
                    return bad(format!("items.{key}.sizes.{size}.price_cents: must be > 0"));
                }
                for ing in s.recipe.keys() {
                    let milk_ok = ing == MILK_PLACEHOLDER && item.default_milk.is_some();
                    if !milk_ok && !self.ingredients.contains_key(ing) {
                        return bad(format!("items.{key}.sizes.{size}.recipe: unknown {ing:?}"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Prices an order and sums its ingredients, or says what is wrong with it.
    pub fn price(&self, lines: &[OrderLine]) -> Result<PricedOrder, MenuError> {
        if lines.is_empty() || lines.len() > self.max_lines {
            return Err(MenuError::BadLineCount {
                lines: lines.len(),
                max: self.max_lines,
            });
        }
        let mut order = PricedOrder {
            lines: Vec::with_capacity(lines.len()),
            total_cents: 0,
            ingredients: Ingredients::new(),
        };
        for line in lines {
            let (priced, recipe) = self.price_line(line)?;
            order.total_cents += priced.unit_price_cents * u64::from(priced.qty);
            for (ing, units) in recipe {
                *order.ingredients.entry(ing).or_default() += units * u64::from(priced.qty);
            }
            order.lines.push(priced);
        }
        Ok(order)
    }

    /// The ingredients of one drink of a priced line.
    pub fn recipe(&self, line: &PricedLine) -> Result<Ingredients, MenuError> {
        let asked = OrderLine {
            item: line.item.clone(),
            size: Some(line.size.clone()),
            milk: line.milk.clone(),
            qty: 1,
            modifiers: line.modifiers.clone(),
        };
        Ok(self.price_line(&asked)?.1)
    }

    fn price_line(&self, line: &OrderLine) -> Result<(PricedLine, Ingredients), MenuError> {
        let item = self
            .items
            .get(&line.item)
            .ok_or_else(|| MenuError::UnknownItem(line.item.clone()))?;
        if line.qty < 1 || line.qty > i64::from(self.max_qty) {
            return Err(MenuError::BadQuantity {
                item: line.item.clone(),
                qty: line.qty,
                max: self.max_qty,
            });
        }
        let size_key = line
            .size
            .clone()
            .unwrap_or_else(|| item.default_size.clone());
        let size = item
            .sizes
            .get(&size_key)
            .ok_or_else(|| MenuError::UnknownSize {
                item: line.item.clone(),
                size: size_key.clone(),
            })?;
        let milk_key = match (&line.milk, &item.default_milk) {
            (None, default) => default.clone(),
            (Some(m), Some(_)) if self.milks.contains_key(m) => Some(m.clone()),
            (Some(m), _) => {
                return Err(MenuError::UnknownMilk {
                    item: line.item.clone(),
                    milk: m.clone(),
                })
            }
        };
        let milk = milk_key.as_ref().and_then(|m| self.milks.get(m));
        let mut recipe: Ingredients = size
            .recipe
            .iter()
            .map(|(ing, units)| match (ing.as_str(), milk) {
                (MILK_PLACEHOLDER, Some(milk)) => (milk.ingredient.clone(), *units),
                _ => (ing.clone(), *units),
            })
            .collect();
        let mut extra_cents = 0;
        for key in &line.modifiers {
            let modifier = item
                .modifiers
                .contains(key)
                .then(|| self.modifiers.get(key))
                .flatten()
                .filter(|_| line.modifiers.len() <= MAX_MODIFIERS)
                .ok_or_else(|| MenuError::UnknownModifier {
                    item: line.item.clone(),
                    modifier: key.clone(),
                })?;
            extra_cents += modifier.price_cents;
            for (ing, units) in &modifier.recipe {
                *recipe.entry(ing.clone()).or_default() += units;
            }
        }
        let priced = PricedLine {
            item: line.item.clone(),
            size: size_key,
            milk: milk_key,
            // Bounded by max_qty above.
            qty: u32::try_from(line.qty).unwrap_or(u32::MAX),
            unit_price_cents: size.price_cents + milk.map_or(0, |m| m.price_cents) + extra_cents,
            modifiers: line.modifiers.clone(),
        };
        Ok((priced, recipe))
    }

    /// Stages of an item at the machine; a generic sequence for items without any.
    pub fn stages(&self, item: &str) -> Vec<Stage> {
        match self.items.get(item) {
            Some(i) if !i.stages.is_empty() => i.stages.clone(),
            _ => vec![Stage {
                name: "prepare".into(),
                secs: 30.0,
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MENU: &str = r#"
        [ingredients]
        beans_g = "espresso beans"
        whole_milk_ml = "whole milk"
        oat_milk_ml = "oat milk"
        [milks.whole]
        ingredient = "whole_milk_ml"
        [milks.oat]
        ingredient = "oat_milk_ml"
        price_cents = 60
        [modifiers.extra_shot]
        name = "Extra shot"
        price_cents = 70
        recipe = { beans_g = 9 }
        [items.latte]
        name = "Latte"
        default_size = "small"
        default_milk = "whole"
        modifiers = ["extra_shot"]
        [items.latte.sizes.small]
        price_cents = 400
        recipe = { beans_g = 18, milk_ml = 200 }
        [items.espresso]
        name = "Espresso"
        default_size = "single"
        [items.espresso.sizes.single]
        price_cents = 250
        recipe = { beans_g = 9 }
    "#;

    fn line(item: &str, milk: Option<&str>, qty: i64) -> OrderLine {
        OrderLine {
            item: item.into(),
            size: None,
            milk: milk.map(Into::into),
            qty,
            modifiers: Vec::new(),
        }
    }

    #[test]
    fn modifiers_add_price_and_recipe_where_allowed() {
        let menu = Menu::from_toml(MENU).unwrap();
        let mut l = line("latte", None, 1);
        l.modifiers = vec!["extra_shot".into()];
        let order = menu.price(&[l.clone()]).unwrap();
        assert_eq!(order.total_cents, 400 + 70);
        assert_eq!(order.ingredients["beans_g"], 18 + 9);
        assert_eq!(order.lines[0].modifiers, ["extra_shot"]);
        l.item = "espresso".into();
        assert!(matches!(
            menu.price(&[l]),
            Err(MenuError::UnknownModifier { .. })
        ));
    }

    #[test]
    fn prices_with_milk_surcharge_and_sums_recipes() {
        let menu = Menu::from_toml(MENU).unwrap();
        let order = menu
            .price(&[line("latte", Some("oat"), 2), line("espresso", None, 1)])
            .unwrap();
        assert_eq!(order.total_cents, 2 * 460 + 250);
        assert_eq!(order.ingredients["oat_milk_ml"], 400);
        assert_eq!(order.ingredients["beans_g"], 2 * 18 + 9);
        assert!(!order.ingredients.contains_key("milk_ml"));
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let menu = Menu::from_toml(MENU).unwrap();
        let err = |l: OrderLine| menu.price(&[l]).unwrap_err();
        assert!(matches!(
            err(line("tea", None, 1)),
            MenuError::UnknownItem(_)
        ));
        assert!(matches!(
            err(line("latte", None, 0)),
            MenuError::BadQuantity { .. }
        ));
        assert!(matches!(
            err(line("latte", None, -3)),
            MenuError::BadQuantity { .. }
        ));
        assert!(matches!(
            err(line("espresso", Some("oat"), 1)),
            MenuError::UnknownMilk { .. }
        ));
        let many = vec![line("latte", None, 1); 10_000];
        assert!(matches!(
            menu.price(&many),
            Err(MenuError::BadLineCount { .. })
        ));
        assert!(matches!(
            menu.price(&[]),
            Err(MenuError::BadLineCount { .. })
        ));
    }

    #[test]
    fn invalid_menu_names_the_key() {
        let broken = MENU.replace("default_size = \"small\"", "default_size = \"huge\"");
        let err = Menu::from_toml(&broken).unwrap_err().to_string();
        assert!(err.contains("items.latte.default_size"), "{err}");
    }
}
