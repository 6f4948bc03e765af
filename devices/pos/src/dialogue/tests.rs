//! The dialogue driven by scripted input.

use std::io::Cursor;

use milo_contracts::counter::MenuAvailability;
use milo_contracts::events::{Ingredients, OrderLine};
use milo_contracts::payments::PaymentMethod;
use milo_contracts::Menu;

use super::{session, Counter};
use crate::Request;

const MENU: &str = r#"
    [ingredients]
    beans_g = "beans"
    water_ml = "water"
    whole_milk_ml = "whole milk"
    oat_milk_ml = "oat milk"
    vanilla_ml = "vanilla"
    caramel_ml = "caramel"
    ice_g = "ice"
    [modifiers.extra_shot]
    name = "Extra shot"
    price_cents = 70
    recipe = { beans_g = 9 }
    [modifiers.vanilla]
    name = "Vanilla syrup"
    price_cents = 50
    recipe = { vanilla_ml = 15 }
    [modifiers.caramel]
    name = "Caramel syrup"
    price_cents = 50
    recipe = { caramel_ml = 15 }
    [modifiers.iced]
    name = "Iced"
    recipe = { ice_g = 120 }
    [milks.whole]
    ingredient = "whole_milk_ml"
    [milks.oat]
    ingredient = "oat_milk_ml"
    price_cents = 60
    [items.espresso]
    name = "Espresso"
    modifiers = ["extra_shot"]
    default_size = "single"
    [items.espresso.sizes.single]
    price_cents = 250
    recipe = { beans_g = 9, water_ml = 30 }
    [items.espresso.sizes.double]
    price_cents = 320
    recipe = { beans_g = 18, water_ml = 60 }
    [items.latte]
    name = "Latte"
    modifiers = ["extra_shot", "vanilla", "caramel", "iced"]
    default_size = "medium"
    default_milk = "whole"
    [items.latte.sizes.medium]
    price_cents = 420
    recipe = { beans_g = 18, milk_ml = 250 }
    [items.latte.sizes.large]
    price_cents = 460
    recipe = { beans_g = 18, milk_ml = 350 }
"#;

#[derive(Default)]
struct Scripted {
    avail: Option<MenuAvailability>,
    placed: Vec<Request>,
    cards_offline: bool,
    cards_note: Option<String>,
}

impl Counter for Scripted {
    fn availability(&self) -> Option<MenuAvailability> {
        self.avail.clone()
    }
    fn place(&mut self, request: Request) -> Result<String, String> {
        let text = format!("order {} placed", request.order_id);
        self.placed.push(request);
        Ok(text)
    }
    fn cards_offline(&self) -> bool {
        self.cards_offline
    }
    fn cards_note(&self) -> Option<String> {
        self.cards_note.clone()
    }
}

/// Runs a session over `script`; returns orders placed, the counter and the output.
fn run(counter: &mut Scripted, script: &str) -> (usize, String) {
    let menu = Menu::from_toml(MENU).unwrap();
    let mut out = Vec::new();
    let n = session(&menu, counter, Cursor::new(script.to_owned()), &mut out).unwrap();
    (n, String::from_utf8(out).unwrap())
}

fn line(item: &str, size: &str, milk: Option<&str>, qty: i64, mods: &[&str]) -> OrderLine {
    OrderLine {
        item: item.into(),
        size: Some(size.into()),
        milk: milk.map(Into::into),
        qty,
        modifiers: mods.iter().map(|m| m.to_string()).collect(),
    }
}

#[test]
fn a_full_order_with_modifiers_is_placed_with_its_total() {
    let mut counter = Scripted::default();
    let script = "latte\nlarge\noat\n2\nvanilla, caramel\ny\n2\ny\n\
                  1\ndouble\n1\n\nn\nAda\ny\n";
    let (placed, out) = run(&mut counter, script);
    assert_eq!(placed, 1, "{out}");
    let order = &counter.placed[0];
    assert_eq!(order.customer.as_deref(), Some("Ada"));
    let mods = ["extra_shot", "extra_shot", "vanilla", "caramel", "iced"];
    assert_eq!(
        order.items,
        vec![
            line("latte", "large", Some("oat"), 2, &mods),
            line("espresso", "double", None, 1, &["extra_shot"]),
        ]
    );
    // 2 × (460 + 60 oat + 2 × 70 + 50 + 50) + (320 + 70)
    assert!(out.contains("total 19.10: place this order?"), "{out}");
    assert!(out.contains("Latte"), "the menu is shown: {out}");
    assert!(out.contains("oat +0.60"), "{out}");
    assert!(out.contains(&format!("order {} placed", order.order_id)));
    assert!(out.ends_with("session ended: 1 placed\n"), "{out}");
}

#[test]
fn bad_answers_are_asked_again_with_the_reason() {
    let mut counter = Scripted::default();
    let script = "unicorn\n9\nespresso\nhuge\n\nseven\n0\n0\nabc\n21\n3\nmaybe\nn\n\ny\n";
    let (placed, out) = run(&mut counter, script);
    assert_eq!(placed, 1, "{out}");
    assert!(
        out.contains("\"unicorn\" is not one of espresso, latte"),
        "{out}"
    );
    assert!(out.contains("\"9\" is not one of"), "{out}");
    assert!(
        out.contains("\"huge\" is not one of single, double"),
        "{out}"
    );
    assert!(
        out.contains("\"seven\": type a number from 0 to 6"),
        "{out}"
    );
    assert!(out.contains("\"0\": type a number from 1 to 20"), "{out}");
    assert!(out.contains("\"21\": type a number from 1 to 20"), "{out}");
    assert!(out.contains("\"maybe\": please answer y or n"), "{out}");
    let order = &counter.placed[0];
    assert_eq!(order.items, vec![line("espresso", "single", None, 3, &[])]);
    assert_eq!(order.customer, None);
}

#[test]
fn an_unknown_syrup_or_too_many_extras_are_asked_again() {
    let mut counter = Scripted::default();
    let script = "latte\n\n\n4\nmaple\nvanilla, caramel, vanilla\nvanilla\nn\n\nn\nBo\nn\n";
    let (placed, out) = run(&mut counter, script);
    assert_eq!(placed, 0, "{out}");
    assert!(
        out.contains("\"maple\" is not one of vanilla, caramel"),
        "{out}"
    );
    assert!(out.contains("at most 6 extras on one drink"), "{out}");
    assert!(out.contains("order dropped"), "{out}");
    assert!(counter.placed.is_empty());
}

/// Stock with no whole milk and ice for one drink: lattes only with oat, and iced once.
fn short_of_whole_milk() -> MenuAvailability {
    MenuAvailability {
        stock: Ingredients::from([
            ("beans_g".into(), 1000),
            ("water_ml".into(), 1000),
            ("whole_milk_ml".into(), 0),
            ("oat_milk_ml".into(), 1000),
            ("vanilla_ml".into(), 100),
            ("caramel_ml".into(), 0),
            ("ice_g".into(), 0),
        ]),
        ..Default::default()
    }
}

#[test]
fn what_the_shop_cannot_make_is_marked_and_refused_with_its_message() {
    let avail = short_of_whole_milk();
    let menu = Menu::from_toml(MENU).unwrap();
    let mut counter = Scripted {
        avail: Some(avail.clone()),
        ..Default::default()
    };
    // Whole milk refused, oat taken; caramel refused, vanilla taken; iced refused, then no.
    let script = "latte\n\nwhole\noat\n0\ncaramel\nvanilla\ny\nn\n\nn\nCy\ny\n";
    let (placed, out) = run(&mut counter, script);
    assert_eq!(placed, 1, "{out}");
    assert!(out.contains("(86'd: whole, caramel, iced)"), "{out}");
    let refused = |l: OrderLine| avail.refusal(&menu, &[l]).unwrap();
    let whole = refused(line("latte", "medium", Some("whole"), 1, &[]));
    assert!(out.contains(&whole), "{whole} not in {out}");
    assert!(whole.ends_with("not enough whole_milk_ml"), "{whole}");
    let caramel = refused(line("latte", "medium", Some("oat"), 1, &["caramel"]));
    assert!(out.contains(&caramel), "{out}");
    let iced = refused(line(
        "latte",
        "medium",
        Some("oat"),
        1,
        &["vanilla", "iced"],
    ));
    assert!(out.contains(&iced), "{out}");
    let oat_vanilla = line("latte", "medium", Some("oat"), 1, &["vanilla"]);
    assert_eq!(counter.placed[0].items, vec![oat_vanilla]);
}

#[test]
fn an_86d_item_is_refused_with_the_shops_message() {
    let mut avail = short_of_whole_milk();
    avail.stock.insert("oat_milk_ml".into(), 0);
    let menu = Menu::from_toml(MENU).unwrap();
    let mut counter = Scripted {
        avail: Some(avail.clone()),
        ..Default::default()
    };
    let (placed, out) = run(&mut counter, "latte\nespresso\n\n0\n\nn\n\ny\n");
    assert_eq!(placed, 1, "{out}");
    let latte = OrderLine {
        item: "latte".into(),
        size: None,
        milk: None,
        qty: 1,
        modifiers: Vec::new(),
    };
    let why = avail.refusal(&menu, &[latte]).unwrap();
    assert_eq!(
        why,
        "sorry, we cannot make Latte (medium, whole milk) right now: not enough whole_milk_ml"
    );
    assert!(
        out.contains(&format!("{why}\nitem (1-2 or name): ")),
        "{out}"
    );
    assert!(out.contains("Latte     86'd"), "{out}");
    assert_eq!(
        counter.placed[0].items,
        vec![line("espresso", "single", None, 1, &[])]
    );
}

#[test]
fn end_of_input_ends_the_session_cleanly_mid_order() {
    let mut counter = Scripted::default();
    let (placed, out) = run(&mut counter, "latte\nlarge\n");
    assert_eq!(placed, 0);
    assert!(counter.placed.is_empty());
    assert!(out.ends_with("session ended: 0 placed\n"), "{out}");
    let (placed, out) = run(&mut counter, "");
    assert_eq!(placed, 0);
    assert!(out.contains("Menu"), "{out}");
}

#[test]
fn with_cards_offline_an_order_is_taken_in_cash_or_dropped() {
    let mut counter = Scripted {
        cards_offline: true,
        ..Default::default()
    };
    let one = "espresso\n\n\n\nn\n\ny\n";
    let (placed, out) = run(&mut counter, &format!("{one}y\n{one}n\n"));
    assert_eq!(placed, 1, "{out}");
    assert!(out.contains("card payments offline"), "{out}");
    assert_eq!(counter.placed[0].payment, PaymentMethod::Cash);
    assert!(out.contains("order dropped"), "{out}");
    let mut online = Scripted::default();
    let (placed, out) = run(&mut online, one);
    assert_eq!(placed, 1, "{out}");
    assert!(!out.contains("card payments offline"), "{out}");
    assert_eq!(online.placed[0].payment, PaymentMethod::Card);
    // Taken offline (queue mode): said, and the card order goes on.
    let mut queued = Scripted {
        cards_note: Some("card payments offline: cards are taken offline".into()),
        ..Default::default()
    };
    let (placed, out) = run(&mut queued, one);
    assert_eq!(placed, 1, "{out}");
    assert!(out.contains("cards are taken offline"), "{out}");
    assert_eq!(queued.placed[0].payment, PaymentMethod::Card);
}
