use super::*;

const MENU: &str = r#"
    [ingredients]
    beans_g = "beans"
    whole_milk_ml = "whole milk"
    oat_milk_ml = "oat milk"
    vanilla_ml = "vanilla"
    [milks.whole]
    ingredient = "whole_milk_ml"
    [milks.oat]
    ingredient = "oat_milk_ml"
    [modifiers.vanilla]
    name = "Vanilla"
    recipe = { vanilla_ml = 15 }
    [modifiers.extra_shot]
    name = "Extra shot"
    recipe = { beans_g = 9 }
    [items.latte]
    name = "Latte"
    default_size = "small"
    default_milk = "whole"
    modifiers = ["vanilla", "extra_shot"]
    [items.latte.sizes.small]
    price_cents = 400
    recipe = { beans_g = 18, milk_ml = 200 }
    [items.latte.sizes.large]
    price_cents = 500
    recipe = { beans_g = 27, milk_ml = 300 }
    [items.espresso]
    name = "Espresso"
    default_size = "single"
    [items.espresso.sizes.single]
    price_cents = 250
    recipe = { beans_g = 9 }
"#;

fn ing(pairs: &[(&str, u64)]) -> Ingredients {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

fn tracker(stock: &[(&str, u64)], thresholds: &[(&str, u64)]) -> Tracker {
    let menu = Menu::from_toml(MENU).unwrap();
    Tracker::new(&menu, &ing(thresholds), &ing(stock))
}

#[test]
fn an_item_is_out_with_its_default_milk_but_sold_with_another() {
    let t = tracker(
        &[
            ("beans_g", 100),
            ("whole_milk_ml", 0),
            ("oat_milk_ml", 250),
            ("vanilla_ml", 100),
        ],
        &[],
    );
    let a = t.snapshot();
    let latte = &a.items["latte"];
    assert!(!latte.available);
    assert_eq!(latte.reason.as_deref(), Some("out of whole_milk_ml"));
    assert!(latte.milks["oat"]);
    assert!(!latte.milks["whole"]);
    // Sizes and modifiers are with the default milk: none of them can be made.
    assert!(!latte.sizes["small"]);
    assert!(!latte.modifiers["vanilla"]);
    // Espresso takes no milk: no milk options, available.
    assert!(a.items["espresso"].available && a.items["espresso"].milks.is_empty());
    assert_eq!(a.out, ["whole_milk_ml"]);
    assert_eq!(a.stock["oat_milk_ml"], 250);
}

#[test]
fn a_modifier_or_a_size_can_be_out_alone() {
    let mut t = tracker(
        &[
            ("beans_g", 100),
            ("whole_milk_ml", 250),
            ("oat_milk_ml", 0),
            ("vanilla_ml", 10),
        ],
        &[],
    );
    let a = t.snapshot();
    let latte = &a.items["latte"];
    assert!(latte.available && latte.reason.is_none());
    assert!(!latte.modifiers["vanilla"]);
    assert!(latte.modifiers["extra_shot"]);
    assert!(!latte.sizes["large"]);
    assert!(latte.sizes["small"]);
    // 20 g of beans: a small latte (18) but not with an extra shot (27).
    let stock = ing(&[("beans_g", 20), ("whole_milk_ml", 250), ("vanilla_ml", 10)]);
    let change = t.update(&stock, &["beans_g".to_owned()]);
    assert!(change.options && change.crossings.is_empty());
    let a = t.snapshot();
    let latte = &a.items["latte"];
    assert!(latte.available);
    assert!(!latte.modifiers["extra_shot"]);
    // Down to 10 g: the reason names how much is left.
    let change = t.update(&ing(&[("beans_g", 10)]), &["beans_g".to_owned()]);
    assert!(change.options);
    let reason = t.snapshot().items["latte"].reason.clone().unwrap();
    assert_eq!(reason, "not enough beans_g (10 left, 18 needed)");
}

#[test]
fn stock_only_changes_are_not_visible_and_unchanged_names_are_not_looked_at() {
    let mut t = tracker(&[("beans_g", 1000), ("whole_milk_ml", 1000)], &[]);
    let change = t.update(&ing(&[("beans_g", 982)]), &["beans_g".to_owned()]);
    assert!(!change.visible());
    assert_eq!(t.snapshot().stock["beans_g"], 982);
    // Only the named ingredients are taken: milk changed but was not named.
    t.update(&ing(&[("beans_g", 982), ("whole_milk_ml", 0)]), &[]);
    assert_eq!(t.snapshot().stock["whole_milk_ml"], 1000);
    // A resync takes everything.
    let change = t.resync(&ing(&[("beans_g", 982), ("whole_milk_ml", 0)]));
    assert!(change.options && change.visible());
    assert_eq!(
        t.snapshot().out,
        ["oat_milk_ml", "vanilla_ml", "whole_milk_ml"]
    );
}

#[test]
fn low_stock_crosses_low_out_and_ok_once_each() {
    let oat = "oat_milk_ml".to_owned();
    let mut t = tracker(&[("oat_milk_ml", 1000)], &[("oat_milk_ml", 500)]);
    let mut seen = Vec::new();
    for left in [800, 600, 400, 300, 100, 0, 0, 300, 200, 2000, 1500] {
        let change = t.update(&ing(&[("oat_milk_ml", left)]), [&oat]);
        seen.extend(change.crossings.into_iter().map(|c| (c.level, c.remaining)));
    }
    assert_eq!(
        seen,
        [
            (StockLevel::Low, 400),
            (StockLevel::Out, 0),
            (StockLevel::Low, 300),
            (StockLevel::Ok, 2000),
        ]
    );
    let a = t.snapshot();
    assert!(a.low.is_empty() && !a.out.contains(&oat));
    t.update(&ing(&[("oat_milk_ml", 499)]), [&oat]);
    assert_eq!(t.snapshot().low, [oat]);
}

#[test]
fn levels_follow_the_threshold() {
    assert_eq!(level(0, 0), StockLevel::Out);
    assert_eq!(level(5, 0), StockLevel::Ok);
    assert_eq!(level(499, 500), StockLevel::Low);
    assert_eq!(level(500, 500), StockLevel::Ok);
}
