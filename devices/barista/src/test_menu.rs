//! The small menu the device's tests make drinks from.

/// A latte (three stages, milk) and an espresso (two stages, water), one second a stage but
/// the espresso's five-second extraction.
pub(crate) const MENU: &str = r#"
    [ingredients]
    beans_g = "espresso beans"
    water_ml = "water"
    whole_milk_ml = "whole milk"
    [milks.whole]
    ingredient = "whole_milk_ml"
    [items.latte]
    name = "Latte"
    default_size = "small"
    default_milk = "whole"
    stages = [{ name = "grind", secs = 1 }, { name = "extract", secs = 1 }, { name = "steam", secs = 1 }]
    [items.latte.sizes.small]
    price_cents = 400
    recipe = { beans_g = 18, milk_ml = 200 }
    [items.espresso]
    name = "Espresso"
    default_size = "single"
    stages = [{ name = "grind", secs = 1 }, { name = "extract", secs = 5 }]
    [items.espresso.sizes.single]
    price_cents = 250
    recipe = { beans_g = 9, water_ml = 30 }
"#;
