//! Which stage of a drink uses which ingredient, so that a drink lost part-way is booked as
//! waste only for what its finished stages used.
//!
//! | ingredient | used by the stage |
//! |---|---|
//! | beans (`beans_g`) | `grind` |
//! | water (`water_ml`) | `extract` |
//! | the cup (`cups`) | `extract`: the shot is pulled into it |
//! | milk (any of the menu's milks) | `steam` |
//! | anything else (syrups, cocoa, ice) | the drink's last stage, where it is finished |
//!
//! An ingredient whose stage the drink does not have is used by its last stage. A stage uses
//! its ingredients once it is done: the stage a fault stops used nothing (the machine faults
//! a stage before running it). So a fault during the grind wastes nothing, during the tamp or
//! the extract the beans, during the steam the beans, the water and the cup, during the pour
//! all but what is added last.

use milo_contracts::events::Ingredients;
use milo_contracts::menu::{Stage, MILK_PLACEHOLDER};
use milo_contracts::Menu;

/// The stage that grinds the beans.
pub const GRIND: &str = "grind";
/// The stage that pulls the shot (water through the beans, into the cup).
pub const EXTRACT: &str = "extract";
/// The stage that steams the milk.
pub const STEAM: &str = "steam";

/// The name of the stage that uses `ingredient`; `None`: the drink's last stage.
fn stage_of(menu: &Menu, ingredient: &str) -> Option<&'static str> {
    let is_milk =
        ingredient == MILK_PLACEHOLDER || menu.milks.values().any(|m| m.ingredient == ingredient);
    match ingredient {
        "beans_g" => Some(GRIND),
        "water_ml" | "cups" => Some(EXTRACT),
        _ if is_milk => Some(STEAM),
        _ => None,
    }
}

/// The index in `stages` of the stage that uses `ingredient` (see the module's table).
pub fn stage_using(menu: &Menu, ingredient: &str, stages: &[Stage]) -> usize {
    let last = stages.len().saturating_sub(1);
    stage_of(menu, ingredient)
        .and_then(|name| stages.iter().position(|s| s.name == name))
        .unwrap_or(last)
}

/// What one drink of `recipe` made in `stages` used once its first `done` stages were done.
pub fn used(menu: &Menu, recipe: &Ingredients, stages: &[Stage], done: usize) -> Ingredients {
    recipe
        .iter()
        .filter(|(ingredient, _)| stage_using(menu, ingredient, stages) < done)
        .map(|(ingredient, units)| (ingredient.clone(), *units))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vanilla latte in the shipped menu's five stages, and a drink with no stages.
    const MENU: &str = r#"
        [ingredients]
        beans_g = "beans"
        water_ml = "water"
        oat_milk_ml = "oat milk"
        vanilla_ml = "vanilla"
        cups = "cups"
        [milks.oat]
        ingredient = "oat_milk_ml"
        [modifiers.vanilla]
        name = "Vanilla"
        recipe = { vanilla_ml = 15 }
        [items.latte]
        name = "Latte"
        default_size = "m"
        default_milk = "oat"
        modifiers = ["vanilla"]
        stages = [{ name = "grind", secs = 4 }, { name = "tamp", secs = 2 }, { name = "extract", secs = 25 }, { name = "steam", secs = 20 }, { name = "pour", secs = 6 }]
        [items.latte.sizes.m]
        price_cents = 430
        recipe = { beans_g = 18, water_ml = 30, milk_ml = 280, cups = 1 }
        [items.tea]
        name = "Tea"
        default_size = "m"
        [items.tea.sizes.m]
        price_cents = 200
        recipe = { water_ml = 250, cups = 1 }
    "#;

    fn recipe(menu: &Menu, item: &str, modifiers: &[&str]) -> Ingredients {
        let line = milo_contracts::events::PricedLine {
            item: item.into(),
            size: "m".into(),
            milk: menu.items[item].default_milk.clone(),
            qty: 1,
            unit_price_cents: 0,
            modifiers: modifiers.iter().map(|m| (*m).to_owned()).collect(),
        };
        menu.recipe(&line).unwrap()
    }

    fn of(pairs: &[(&str, u64)]) -> Ingredients {
        pairs.iter().map(|(i, u)| ((*i).to_owned(), *u)).collect()
    }

    #[test]
    fn a_drink_lost_at_each_stage_used_what_the_stages_before_it_did() {
        let menu = Menu::from_toml(MENU).unwrap();
        let latte = recipe(&menu, "latte", &["vanilla"]);
        let stages = menu.stages("latte");
        let ground = [("beans_g", 18)];
        let pulled = [("beans_g", 18), ("water_ml", 30), ("cups", 1)];
        let steamed = [
            ("beans_g", 18),
            ("water_ml", 30),
            ("cups", 1),
            ("oat_milk_ml", 280),
        ];
        // The stage the fault stops, and what the drink used by then.
        let cases: [(&str, &[(&str, u64)]); 5] = [
            ("grind", &[]),
            ("tamp", &ground),
            ("extract", &ground),
            ("steam", &pulled),
            ("pour", &steamed),
        ];
        for (at, expected) in cases {
            let done = stages.iter().position(|s| s.name == at).unwrap();
            let got = used(&menu, &latte, &stages, done);
            assert_eq!(got, of(expected), "a fault during {at}");
        }
        // Finished: all of it, the syrup added last included.
        assert_eq!(used(&menu, &latte, &stages, stages.len()), latte);
    }

    #[test]
    fn a_drink_without_a_stage_uses_its_ingredients_at_its_last_stage() {
        let menu = Menu::from_toml(MENU).unwrap();
        let tea = recipe(&menu, "tea", &[]);
        // The menu's one generic stage.
        let stages = menu.stages("tea");
        assert_eq!(stage_using(&menu, "water_ml", &stages), 0);
        assert!(used(&menu, &tea, &stages, 0).is_empty());
        assert_eq!(used(&menu, &tea, &stages, 1), tea);
        assert_eq!(stage_using(&menu, "cups", &[]), 0, "no stages at all");
    }
}
