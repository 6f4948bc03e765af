//! The menu as the counter shows it: items with their sizes and prices, the milks and
//! extras, with what the shop cannot make now marked 86'd; and the refusal said when one
//! of those is asked for anyway.

use milo_contracts::counter::MenuAvailability;
use milo_contracts::events::OrderLine;
use milo_contracts::menu::Item;
use milo_contracts::Menu;

use crate::update::money;

/// The modifier the dialogue asks about as "extra shots".
pub const EXTRA_SHOT: &str = "extra_shot";
/// The modifier the dialogue asks about as "iced".
pub const ICED: &str = "iced";

/// What the shop can sell, as far as the counter knows (everything when unknown).
///
/// Every check is `MenuAvailability::refusal` on a line: an option is 86'd when no drink
/// of that item with it can be made from the stock left, whatever else is chosen.
#[derive(Debug, Clone, Copy)]
pub struct Stock<'a> {
    menu: &'a Menu,
    avail: Option<&'a MenuAvailability>,
}

impl<'a> Stock<'a> {
    /// The shop's stock as `avail` says; everything can be made when it is `None`.
    pub fn new(menu: &'a Menu, avail: Option<&'a MenuAvailability>) -> Self {
        Stock { menu, avail }
    }

    /// This exact line can be made.
    pub fn can(&self, line: &OrderLine) -> bool {
        self.avail
            .is_none_or(|a| a.refusal(self.menu, std::slice::from_ref(line)).is_none())
    }

    /// Some drink of `item` (one, with `modifier` if given) can be made in `size` (any if
    /// `None`) with `milk` (any if `None`).
    fn any(
        &self,
        item: &str,
        size: Option<&str>,
        milk: Option<&str>,
        modifier: Option<&str>,
    ) -> bool {
        let Some(it) = self.menu.items.get(item) else {
            return true;
        };
        let sizes: Vec<&str> = match size {
            Some(s) => vec![s],
            None => it.sizes.keys().map(String::as_str).collect(),
        };
        let milks: Vec<Option<&str>> = match (milk, &it.default_milk) {
            (Some(m), _) => vec![Some(m)],
            (None, Some(_)) => self.menu.milks.keys().map(|m| Some(m.as_str())).collect(),
            (None, None) => vec![None],
        };
        sizes.iter().any(|s| {
            milks.iter().any(|m| {
                self.can(&OrderLine {
                    item: item.to_owned(),
                    size: Some((*s).to_owned()),
                    milk: m.map(str::to_owned),
                    qty: 1,
                    modifiers: modifier.map(str::to_owned).into_iter().collect(),
                })
            })
        })
    }

    /// No drink of the item can be made.
    pub fn item_out(&self, item: &str) -> bool {
        !self.any(item, None, None, None)
    }

    /// No drink of the item can be made in this size, whatever the milk.
    pub fn size_out(&self, item: &str, size: &str) -> bool {
        !self.any(item, Some(size), None, None)
    }

    /// No drink of the item can be made with this milk, whatever the size.
    pub fn milk_out(&self, item: &str, milk: &str) -> bool {
        !self.any(item, None, Some(milk), None)
    }

    /// No drink of the item can be made with this modifier.
    pub fn modifier_out(&self, item: &str, modifier: &str) -> bool {
        !self.any(item, None, None, Some(modifier))
    }

    /// Why the item cannot be made, as inventory says (e.g. "out of whole_milk_ml").
    fn reason(&self, item: &str) -> Option<&'a str> {
        self.avail?.items.get(item)?.reason.as_deref()
    }

    /// What the counter says when `line` cannot be made: `MenuAvailability::refusal`'s
    /// message (with the item's defaults for what is not chosen yet).
    pub fn why(&self, line: &OrderLine) -> String {
        let lines = std::slice::from_ref(line);
        if let Some(why) = self.avail.and_then(|a| a.refusal(self.menu, lines)) {
            return why;
        }
        let name = self
            .menu
            .items
            .get(&line.item)
            .map_or(line.item.as_str(), |i| &i.name);
        match self.reason(&line.item) {
            Some(reason) => format!("sorry, we cannot make {name} right now: {reason}"),
            None => format!("sorry, we cannot make {name} that way right now"),
        }
    }
}

/// The menu as printed at the start of each order.
pub fn render(menu: &Menu, stock: Stock<'_>) -> String {
    let mut out = String::from("Menu (86'd: cannot be made right now)\n");
    let width = menu.items.values().map(|i| i.name.len()).max().unwrap_or(0);
    for (n, (key, item)) in menu.items.iter().enumerate() {
        let line = if stock.item_out(key) {
            let reason = stock
                .reason(key)
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            format!("86'd{reason}")
        } else {
            item_line(key, item, stock)
        };
        out.push_str(&format!("  {:>2}. {:<width$}  {line}\n", n + 1, item.name));
    }
    let milks: Vec<String> = menu
        .milks
        .iter()
        .map(|(k, m)| priced(k, m.price_cents, ""))
        .collect();
    if !milks.is_empty() {
        out.push_str(&format!("  milks: {}\n", milks.join(", ")));
    }
    let extras: Vec<String> = menu
        .modifiers
        .iter()
        .map(|(k, m)| priced(k, m.price_cents, &format!(" ({})", m.name)))
        .collect();
    if !extras.is_empty() {
        out.push_str(&format!("  extras: {}\n", extras.join(", ")));
    }
    out
}

/// Sizes with prices, the extras it takes, and what of it is 86'd.
fn item_line(key: &str, item: &Item, stock: Stock<'_>) -> String {
    let sizes: Vec<String> = sizes_by_price(item)
        .iter()
        .map(|(s, cents)| format!("{s} {}", money(*cents)))
        .collect();
    let mut line = sizes.join(" | ");
    if !item.modifiers.is_empty() {
        line.push_str(&format!("  [{}]", item.modifiers.join(", ")));
    }
    let mut out: Vec<&str> = Vec::new();
    let sizes = sizes_by_price(item);
    out.extend(
        sizes
            .iter()
            .map(|(s, _)| *s)
            .filter(|s| stock.size_out(key, s)),
    );
    if item.default_milk.is_some() {
        let milks = stock.menu.milks.keys();
        out.extend(milks.filter(|m| stock.milk_out(key, m)).map(String::as_str));
    }
    out.extend(
        item.modifiers
            .iter()
            .filter(|m| stock.modifier_out(key, m))
            .map(String::as_str),
    );
    if !out.is_empty() {
        line.push_str(&format!("  (86'd: {})", out.join(", ")));
    }
    line
}

/// An item's sizes, cheapest first.
pub fn sizes_by_price(item: &Item) -> Vec<(&str, u64)> {
    let mut sizes: Vec<(&str, u64)> = item
        .sizes
        .iter()
        .map(|(k, s)| (k.as_str(), s.price_cents))
        .collect();
    sizes.sort_by_key(|(_, cents)| *cents);
    sizes
}

/// `oat +0.60`, or just `whole` when free.
pub fn priced(key: &str, cents: u64, suffix: &str) -> String {
    match cents {
        0 => format!("{key}{suffix}"),
        c => format!("{key}{suffix} +{}", money(c)),
    }
}

/// The index of `answer` among `keys`: a number from 1, a key or a name (any case).
pub fn pick(answer: &str, keys: &[&str], names: &[&str]) -> Option<usize> {
    let a = answer.trim();
    if let Ok(n) = a.parse::<usize>() {
        return (1..=keys.len()).contains(&n).then(|| n - 1);
    }
    let same = |s: &&str| s.eq_ignore_ascii_case(a);
    keys.iter()
        .position(same)
        .or_else(|| names.iter().position(same))
}

/// One line in words: `2 × Latte (large, oat milk, extra_shot, vanilla)`.
pub fn line_text(menu: &Menu, line: &OrderLine) -> String {
    let Some(item) = menu.items.get(&line.item) else {
        return line.item.clone();
    };
    let mut what = vec![line
        .size
        .clone()
        .unwrap_or_else(|| item.default_size.clone())];
    if let Some(milk) = line.milk.clone().or_else(|| item.default_milk.clone()) {
        what.push(format!("{milk} milk"));
    }
    what.extend(line.modifiers.iter().cloned());
    format!("{} × {} ({})", line.qty, item.name, what.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_by_number_key_or_name() {
        let keys = ["latte", "mocha"];
        let names = ["Latte", "Mocha"];
        assert_eq!(pick("2", &keys, &names), Some(1));
        assert_eq!(pick(" LATTE ", &keys, &names), Some(0));
        assert_eq!(pick("Mocha", &keys, &names), Some(1));
        assert_eq!(pick("3", &keys, &names), None);
        assert_eq!(pick("0", &keys, &names), None);
        assert_eq!(pick("tea", &keys, &names), None);
        assert_eq!(priced("oat", 60, ""), "oat +0.60");
        assert_eq!(priced("whole", 0, ""), "whole");
    }
}
