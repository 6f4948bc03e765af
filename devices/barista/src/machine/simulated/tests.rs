//! The simulated machine: faults, consumables, refills and the boiler, on paused time.

use super::*;

fn stages(names: &[&str]) -> Vec<Stage> {
    names
        .iter()
        .map(|n| Stage {
            name: (*n).into(),
            secs: 1.0,
        })
        .collect()
}

fn config(edit: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config {
        speed: 0.0,
        water_ml: 100,
        beans_g: 40,
        milk_ml: 500,
        ..Config::default()
    };
    edit(&mut c);
    c
}

const LATTE: Levels = Levels {
    water_ml: 0,
    beans_g: 18,
    milk_ml: 200,
};

#[test]
fn the_fault_plan_is_deterministic_for_a_seed() {
    let plans = |seed| {
        let mut m = SimulatedMachine::new(&config(|c| (c.fault_rate, c.seed) = (0.5, seed)));
        (0..64).map(|_| m.plan(3)).collect::<Vec<_>>()
    };
    let a = plans(7);
    assert_eq!(a, plans(7));
    let faults = a.iter().filter(|p| p.is_some()).count();
    assert!((10..=54).contains(&faults), "{faults} of 64 at rate 0.5");
    assert!(a.iter().flatten().all(|(at, _)| *at == 1));
    let mut never = SimulatedMachine::new(&config(|_| {}));
    assert!((0..64).all(|_| never.plan(3).is_none()));
    let mut nan = SimulatedMachine::new(&config(|c| c.fault_rate = f64::NAN));
    assert!(nan.plan(3).is_none());
}

#[tokio::test]
async fn rate_one_faults_every_drink_at_its_second_stage_and_goes_on() {
    let mut m = SimulatedMachine::new(&config(|c| c.fault_rate = 1.0));
    let drink = stages(&["grind", "tamp", "extract"]);
    for _ in 0..2 {
        m.begin_drink(&drink, &Levels::default());
        assert_eq!(m.run_stage(&drink[0]).await, Ok(()));
        let fault = m.run_stage(&drink[1]).await.unwrap_err();
        assert!(fault.reason.ends_with("during tamp"), "{fault}");
        assert!(!fault.stops, "a seeded fault is transient");
        assert_eq!(m.status().condition, Condition::Ready);
    }
    let single = stages(&["prepare"]);
    m.begin_drink(&single, &Levels::default());
    assert!(m.run_stage(&single[0]).await.is_err());
}

#[tokio::test]
async fn drinks_deplete_the_tanks_and_count_shots() {
    let mut m = SimulatedMachine::new(&config(|_| {}));
    let drink = stages(&["grind", "extract", "steam"]);
    assert_eq!(m.can_make(&LATTE), Ok(()));
    m.begin_drink(&drink, &LATTE);
    for s in &drink {
        assert_eq!(m.run_stage(s).await, Ok(()));
    }
    let status = m.status();
    assert_eq!(status.shots, 1);
    let left = Levels {
        water_ml: 100,
        beans_g: 22,
        milk_ml: 300,
    };
    assert_eq!(status.levels, left);
    assert_eq!(status.condition, Condition::Ready);
}

#[test]
fn a_short_consumable_refuses_the_drinks_and_stops_until_refilled() {
    let mut m = SimulatedMachine::new(&config(|c| c.auto_refill = false));
    let two = LATTE.plus(LATTE);
    let three = two.plus(LATTE);
    // 40 g of beans: two lattes fit, three do not.
    assert_eq!(m.can_make(&two), Ok(()));
    let refused = m.can_make(&three).unwrap_err();
    assert_eq!(refused.reason, "empty hopper");
    assert!(refused.stops);
    let stopped = Condition::Stopped(Stop::Out(Consumable::Beans));
    assert_eq!(m.status().condition, stopped);
    // Stopped: nothing else is made either, and nobody refills by themselves.
    assert_eq!(
        m.can_make(&Levels::default()).unwrap_err().reason,
        "empty hopper"
    );
    assert_eq!(m.advance(), None);
    assert_eq!(m.status().condition, stopped);
    m.maintain(Maintenance::Refill(Consumable::Beans, Some(5)));
    assert_eq!(m.status().levels.beans_g, 40, "capped at the hopper's size");
    assert_eq!(m.status().condition, Condition::Ready);
    assert_eq!(m.can_make(&three).unwrap_err().reason, "empty hopper");
}

#[test]
fn a_drink_that_empties_a_tank_stops_the_machine_after_it() {
    let mut m = SimulatedMachine::new(&config(|c| (c.auto_refill, c.milk_ml) = (false, 200)));
    assert_eq!(m.can_make(&LATTE), Ok(()));
    m.begin_drink(&stages(&["steam"]), &LATTE);
    let stopped = Condition::Stopped(Stop::Out(Consumable::Milk));
    assert_eq!(m.status().condition, stopped);
    assert_eq!(
        m.can_make(&Levels::default()).unwrap_err().reason,
        "out of milk"
    );
}

#[tokio::test(start_paused = true)]
async fn the_barista_refills_after_refill_secs_times_speed() {
    let mut m = SimulatedMachine::new(&config(|c| {
        (c.speed, c.warmup_secs, c.refill_secs) = (0.5, 0.0, 60.0);
        c.inject = vec![FaultKind::LowWater];
    }));
    let stopped = Condition::Stopped(Stop::Out(Consumable::Water));
    assert_eq!(m.status().condition, stopped);
    assert_eq!(m.status().levels.water_ml, 0);
    let due = m.advance().expect("a refill under way");
    assert_eq!(due - Instant::now(), Duration::from_secs(30));
    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(m.advance(), Some(due));
    assert_eq!(m.status().condition, stopped);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(m.advance(), None);
    assert_eq!(m.status().condition, Condition::Ready);
    assert_eq!(m.status().levels.water_ml, 100);
}

#[test]
fn at_speed_zero_warm_up_and_refills_are_instant() {
    let mut m = SimulatedMachine::new(&config(|c| c.inject = vec![FaultKind::EmptyHopper]));
    assert_eq!(m.status().boiler_c, BREW_C);
    let due = m.advance();
    assert_eq!(due, None, "the refill was due at once and is done");
    assert_eq!(m.status().condition, Condition::Ready);
    assert_eq!(m.status().levels.beans_g, 40);
}

#[tokio::test]
async fn an_injected_group_fault_loses_the_next_drink_and_stops_until_cleared() {
    let mut m = SimulatedMachine::new(&config(|c| c.inject = vec![FaultKind::GroupFault]));
    // Pending: the machine looks fine until the next drink.
    assert_eq!(m.status().condition, Condition::Ready);
    let drink = stages(&["grind", "extract"]);
    m.begin_drink(&drink, &LATTE);
    let fault = m.run_stage(&drink[0]).await.unwrap_err();
    assert_eq!(fault.reason, "group head fault during grind");
    assert!(fault.stops);
    let stopped = Condition::Stopped(Stop::GroupFault);
    assert_eq!(m.status().condition, stopped);
    assert_eq!(m.can_make(&LATTE).unwrap_err().reason, "group head fault");
    // A refill does not fix a group head.
    m.maintain(Maintenance::Refill(Consumable::Milk, None));
    assert_eq!(m.status().condition, stopped);
    m.maintain(Maintenance::Clear);
    assert_eq!(m.status().condition, Condition::Ready);
    assert_eq!(m.can_make(&LATTE), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn the_boiler_warms_linearly_over_warmup_secs_times_speed() {
    let mut m = SimulatedMachine::new(&config(|c| (c.speed, c.warmup_secs) = (0.5, 200.0)));
    let status = m.status();
    assert_eq!(status.condition, Condition::Warming);
    assert_eq!(status.boiler_c, AMBIENT_C);
    let warm_at = m.advance().expect("warming");
    assert_eq!(warm_at - Instant::now(), Duration::from_secs(100));
    tokio::time::advance(Duration::from_secs(50)).await;
    assert!(
        (m.status().boiler_c - 56.5).abs() < 1e-9,
        "{}",
        m.status().boiler_c
    );
    assert_eq!(m.status().condition, Condition::Warming);
    tokio::time::advance(Duration::from_secs(50)).await;
    assert_eq!(m.status().boiler_c, BREW_C);
    assert_eq!(m.status().condition, Condition::Ready);
    assert_eq!(m.advance(), None);
}
