//! Every screen, frame by frame, with exact strings.

use milo_contracts::bar::Consumable;

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
    [modifiers.extra_shot]
    name = "Extra shot"
    recipe = { beans_g = 9 }
    [modifiers.vanilla]
    name = "Vanilla"
    [modifiers.caramel]
    name = "Caramel"
    [items.latte]
    name = "Latte"
    default_size = "medium"
    default_milk = "whole"
    modifiers = ["extra_shot", "vanilla"]
    [items.latte.sizes.medium]
    price_cents = 430
    recipe = { beans_g = 18, milk_ml = 280 }
    [items.flat_white]
    name = "Flat white"
    default_size = "regular"
    default_milk = "whole"
    modifiers = ["caramel"]
    [items.flat_white.sizes.regular]
    price_cents = 420
    recipe = { beans_g = 18, milk_ml = 150 }
    [items.espresso]
    name = "Espresso"
    default_size = "single"
    [items.espresso.sizes.double]
    price_cents = 320
    recipe = { beans_g = 18 }
    [items.espresso.sizes.single]
    price_cents = 250
    recipe = { beans_g = 9 }
"#;

fn order() -> Uuid {
    Uuid::parse_str("01890a5d-ac96-774b-bcce-b302099a4a5b").unwrap()
}

fn ticket(count: &str, customer: &str, age_secs: u64, level: AgeLevel) -> TicketLine {
    TicketLine {
        order_id: order(),
        count: count.into(),
        customer: Some(customer.into()).filter(|c: &String| !c.is_empty()),
        age_secs,
        level,
    }
}

fn view(screen: Screen) -> View {
    View {
        station: "bar-1".into(),
        queue: 0,
        rail: 0,
        boiler_c: 93.0,
        stop: None,
        screen,
    }
}

fn lines(frame: Frame) -> [String; 4] {
    assert!(
        frame.0.iter().all(|l| l.chars().count() == COLS),
        "{frame:?}"
    );
    frame.0
}

#[test]
fn making_a_drink() {
    let making = Making {
        drink: "LATTE M OAT +2SH VAN".into(),
        stage: "extract".into(),
        step: 2,
        steps: 5,
        ticket: ticket("1/2", "Ada", 185, AgeLevel::Warn),
    };
    let v = View {
        queue: 3,
        ..view(Screen::Making(making))
    };
    assert_eq!(
        lines(render(&v)),
        [
            "LATTE M OAT +2SH VAN",
            "extract ####........",
            "#4a5b 1/2 Ada  3:05!",
            "Q3 bar-1         93C",
        ]
    );
}

#[test]
fn a_long_name_gives_way_to_the_age_and_a_long_station_to_the_fault() {
    let making = Making {
        drink: "ESPRESSO S".into(),
        stage: "steaming".into(),
        step: 0,
        steps: 3,
        ticket: ticket("1/1", "Bartholomew Jones", 5, AgeLevel::Fresh),
    };
    let v = View {
        station: "station-number-12".into(),
        queue: 10,
        stop: Some(Stop::GroupFault),
        ..view(Screen::Making(making))
    };
    assert_eq!(
        lines(render(&v)),
        [
            "ESPRESSO S          ",
            "steamin ............",
            "#4a5b 1/1 Barth 0:05",
            "Q10 stat GROUP FAULT",
        ]
    );
}

#[test]
fn idle_and_warming_up() {
    assert_eq!(
        lines(render(&view(Screen::Idle))),
        [
            "READY               ",
            "waiting for tickets ",
            "                    ",
            "Q0 bar-1         93C",
        ]
    );
    let warming = View {
        queue: 2,
        boiler_c: 56.0,
        ..view(Screen::Warming)
    };
    assert_eq!(
        lines(render(&warming)),
        [
            "WARMING UP          ",
            "boiler 56C / 93C    ",
            "#########...........",
            "Q2 bar-1         56C",
        ]
    );
}

#[test]
fn a_stopped_machine_says_what_fixes_it() {
    let stop = Stop::Out(Consumable::Water);
    let v = View {
        stop: Some(stop),
        ..view(Screen::Stopped(stop))
    };
    assert_eq!(
        lines(render(&v)),
        [
            "bar-1 STOPPED       ",
            "LOW WATER - refill  ",
            "tickets handed back ",
            "Q0 bar-1   LOW WATER",
        ]
    );
}

#[test]
fn a_lost_drink_and_a_made_one_waiting_for_its_bump() {
    let lost = Screen::Lost {
        reason: "pump failure during extract".into(),
        ticket: ticket("2/2", "Bo", 30, AgeLevel::Fresh),
    };
    assert_eq!(
        lines(render(&view(lost))),
        [
            "bar-1 FAULT         ",
            "pump failure during ",
            "extract             ",
            "#4a5b 2/2 Bo    0:30",
        ]
    );
    let bump = Screen::Bump {
        drink: "ESPRESSO S".into(),
        ticket: ticket("x2", "Cy", 301, AgeLevel::Late),
    };
    let v = View {
        queue: 1,
        rail: 2,
        ..view(bump)
    };
    assert_eq!(
        lines(render(&v)),
        [
            "made: BUMP          ",
            "ESPRESSO S          ",
            "#4a5b x2 Cy   5:01!!",
            "Q1 R2 bar-1      93C",
        ]
    );
}

#[test]
fn ages_are_minutes_and_seconds_with_marks() {
    assert_eq!(age(0, AgeLevel::Fresh), "0:00");
    assert_eq!(age(185, AgeLevel::Warn), "3:05!");
    assert_eq!(age(3600, AgeLevel::Late), "60:00!!");
}

#[test]
fn drinks_are_abbreviated_as_the_bar_writes_them() {
    let menu = Menu::from_toml(MENU).unwrap();
    let line = |item: &str, size: &str, milk: Option<&str>, mods: &[&str]| PricedLine {
        item: item.into(),
        size: size.into(),
        milk: milk.map(Into::into),
        qty: 1,
        unit_price_cents: 0,
        modifiers: mods.iter().map(|m| m.to_string()).collect(),
    };
    let oat = line(
        "latte",
        "medium",
        Some("oat"),
        &["extra_shot", "vanilla", "extra_shot"],
    );
    assert_eq!(drink_label(&menu, &oat), "LATTE M OAT +2SH VAN");
    let usual = line("latte", "medium", Some("whole"), &["extra_shot"]);
    assert_eq!(drink_label(&menu, &usual), "LATTE M +SH");
    let flat = line(
        "flat_white",
        "regular",
        Some("whole"),
        &["caramel", "caramel"],
    );
    assert_eq!(drink_label(&menu, &flat), "FLAT WHITE R 2CAR");
    assert_eq!(
        drink_label(&menu, &line("espresso", "double", None, &[])),
        "ESPRESSO D"
    );
    assert_eq!(drink_label(&menu, &line("chai", "", None, &[])), "CHAI");
}
