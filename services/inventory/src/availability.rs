//! What the shop can sell from the stock left (86'ing), and how low each ingredient is.
//!
//! Every item's default (size and milk), each of its sizes, milks and modifiers is a
//! *variant*: one drink's recipe over dense ingredient indexes. Each ingredient knows the
//! variants that use it, so a stock change re-checks only those (a reservation touches three
//! or four ingredients: a few hundred array reads, nothing allocated). The published
//! [`MenuAvailability`] is built from the variants only when it is published.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use milo_contracts::counter::{ItemAvailability, MenuAvailability, StockLevel, StockLow};
use milo_contracts::events::{Ingredients, PricedLine};
use milo_contracts::Menu;

/// Which option of an item a variant stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Choice {
    /// The default size with the default milk.
    Default,
    /// A size, with the default milk.
    Size(String),
    /// A milk, in the default size.
    Milk(String),
    /// A modifier on the default size and milk.
    Modifier(String),
}

/// One drink's recipe, as (ingredient index, units).
#[derive(Debug, Clone)]
struct Variant {
    item: String,
    choice: Choice,
    recipe: Vec<(usize, u64)>,
}

/// The level of an ingredient with `remaining` units and a low-stock `threshold` (0: none).
pub fn level(remaining: u64, threshold: u64) -> StockLevel {
    if remaining == 0 {
        StockLevel::Out
    } else if remaining < threshold {
        StockLevel::Low
    } else {
        StockLevel::Ok
    }
}

/// What one stock change changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// An item or one of its options became sellable, or stopped being.
    pub options: bool,
    /// Ingredients whose level changed (so the low and out lists did), once per crossing.
    pub crossings: Vec<StockLow>,
}

impl Change {
    /// True when what can be sold or the low/out lists changed: publish at once.
    pub fn visible(&self) -> bool {
        self.options || !self.crossings.is_empty()
    }
}

/// Stock, levels and availability of every variant, kept up to date change by change.
#[derive(Debug, Clone)]
pub struct Tracker {
    names: Vec<String>,
    index: HashMap<String, usize>,
    variants: Vec<Variant>,
    /// Ingredient index → the variants whose recipe uses it.
    users: Vec<Vec<usize>>,
    stock: Vec<u64>,
    thresholds: Vec<u64>,
    levels: Vec<StockLevel>,
    sellable: Vec<bool>,
}

impl Tracker {
    /// A tracker over `menu` with low-stock `thresholds`, at `stock` (levels as they stand:
    /// nothing has crossed yet).
    pub fn new(menu: &Menu, thresholds: &Ingredients, stock: &Ingredients) -> Tracker {
        let names: Vec<String> = menu
            .ingredients
            .keys()
            .chain(stock.keys())
            .chain(thresholds.keys())
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let index: HashMap<String, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        let variants = variants(menu, &index);
        let mut users = vec![Vec::new(); names.len()];
        for (v, variant) in variants.iter().enumerate() {
            for (i, _) in &variant.recipe {
                users[*i].push(v);
            }
        }
        let units = |n: &String, map: &Ingredients| map.get(n).copied().unwrap_or(0);
        let stock: Vec<u64> = names.iter().map(|n| units(n, stock)).collect();
        let thresholds: Vec<u64> = names.iter().map(|n| units(n, thresholds)).collect();
        let levels = stock
            .iter()
            .zip(&thresholds)
            .map(|(s, t)| level(*s, *t))
            .collect();
        let mut tracker = Tracker {
            names,
            index,
            sellable: vec![false; variants.len()],
            variants,
            users,
            stock,
            thresholds,
            levels,
        };
        for v in 0..tracker.variants.len() {
            tracker.sellable[v] = tracker.can_make(v);
        }
        tracker
    }

    fn can_make(&self, v: usize) -> bool {
        self.variants[v]
            .recipe
            .iter()
            .all(|(i, need)| self.stock[*i] >= *need)
    }

    /// Takes the new `stock` of the `changed` ingredients (others are not looked at) and
    /// re-checks the variants that use them.
    pub fn update<'a>(
        &mut self,
        stock: &Ingredients,
        changed: impl IntoIterator<Item = &'a String>,
    ) -> Change {
        let mut change = Change::default();
        for name in changed {
            let Some(&i) = self.index.get(name) else {
                continue;
            };
            let now = stock.get(name).copied().unwrap_or(0);
            if now == self.stock[i] {
                continue;
            }
            self.stock[i] = now;
            let lvl = level(now, self.thresholds[i]);
            if lvl != self.levels[i] {
                self.levels[i] = lvl;
                change.crossings.push(StockLow {
                    ingredient: name.clone(),
                    remaining: now,
                    threshold: self.thresholds[i],
                    level: lvl,
                });
            }
            for k in 0..self.users[i].len() {
                let v = self.users[i][k];
                let ok = self.can_make(v);
                if ok != self.sellable[v] {
                    self.sellable[v] = ok;
                    change.options = true;
                }
            }
        }
        change
    }

    /// Takes the whole `stock` again (a periodic check that memory and store agree).
    pub fn resync(&mut self, stock: &Ingredients) -> Change {
        let names = self.names.clone();
        self.update(stock, &names)
    }

    /// What the shop can sell, as published on `menu/availability`.
    pub fn snapshot(&self) -> MenuAvailability {
        let mut items: BTreeMap<String, ItemAvailability> = BTreeMap::new();
        for (v, variant) in self.variants.iter().enumerate() {
            let ok = self.sellable[v];
            let item = items.entry(variant.item.clone()).or_default();
            match &variant.choice {
                Choice::Default => {
                    item.available = ok;
                    item.reason = (!ok).then(|| self.why(v));
                }
                Choice::Size(k) => {
                    item.sizes.insert(k.clone(), ok);
                }
                Choice::Milk(k) => {
                    item.milks.insert(k.clone(), ok);
                }
                Choice::Modifier(k) => {
                    item.modifiers.insert(k.clone(), ok);
                }
            }
        }
        let named = |want: StockLevel| -> Vec<String> {
            self.names
                .iter()
                .zip(&self.levels)
                .filter(|(_, l)| **l == want)
                .map(|(n, _)| n.clone())
                .collect()
        };
        MenuAvailability {
            items,
            stock: self.names.iter().cloned().zip(self.stock.clone()).collect(),
            low: named(StockLevel::Low),
            out: named(StockLevel::Out),
        }
    }

    /// Why variant `v` cannot be made: each short ingredient.
    fn why(&self, v: usize) -> String {
        let short: Vec<String> = self.variants[v]
            .recipe
            .iter()
            .filter(|(i, need)| self.stock[*i] < *need)
            .map(|(i, need)| match self.stock[*i] {
                0 => format!("out of {}", self.names[*i]),
                left => format!("not enough {} ({left} left, {need} needed)", self.names[*i]),
            })
            .collect();
        short.join(", ")
    }
}

/// Every variant of every item, with recipes resolved by the menu (milk placeholder and
/// modifiers included).
fn variants(menu: &Menu, index: &HashMap<String, usize>) -> Vec<Variant> {
    let mut out = Vec::new();
    for (key, item) in &menu.items {
        let mut choices = vec![Choice::Default];
        choices.extend(item.sizes.keys().cloned().map(Choice::Size));
        if item.default_milk.is_some() {
            choices.extend(menu.milks.keys().cloned().map(Choice::Milk));
        }
        choices.extend(item.modifiers.iter().cloned().map(Choice::Modifier));
        for choice in choices {
            let mut line = PricedLine {
                item: key.clone(),
                size: item.default_size.clone(),
                milk: item.default_milk.clone(),
                qty: 1,
                unit_price_cents: 0,
                modifiers: Vec::new(),
            };
            match &choice {
                Choice::Default => {}
                Choice::Size(s) => line.size = s.clone(),
                Choice::Milk(m) => line.milk = Some(m.clone()),
                Choice::Modifier(m) => line.modifiers = vec![m.clone()],
            }
            // A validated menu prices every one of these; anything else is left out.
            let Ok(recipe) = menu.recipe(&line) else {
                continue;
            };
            let recipe = recipe
                .iter()
                .filter_map(|(ing, units)| index.get(ing).map(|i| (*i, *units)))
                .collect();
            out.push(Variant {
                item: key.clone(),
                choice,
                recipe,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;
