//! Jobs that wait or go back: tanks too low, a stopped machine, the boiler warming up;
//! redraws and telemetry meanwhile.

use milo_contracts::bar::{Consumable, FaultKind};

use super::*;

#[tokio::test]
async fn a_job_the_tanks_cannot_cover_is_handed_back_before_it_starts() {
    // 300 ml of milk: one latte fits, two do not. Refills are instant at speed 0.
    let c = config(|c| c.milk_ml = 300);
    let mut rig = Rig::start(SimulatedMachine::new(&c), MemoryDisplay::default(), c);
    let two = job(vec![line("latte", "small", Some("whole"), 2)]);
    rig.send(&two);
    match rig.work().await {
        Command::Stopped {
            order_id,
            reason,
            station_down,
            stages_done,
        } => assert_eq!(
            (order_id, reason.as_str(), station_down, stages_done),
            (two.order_id, "out of milk", true, None)
        ),
        other => panic!("expected Stopped before any Begin, got {other:?}"),
    }
    // Down, then refilled: both reported.
    let down = rig.status().await;
    assert_eq!(
        down.status.condition,
        Condition::Stopped(Stop::Out(Consumable::Milk))
    );
    let up = rig.status().await;
    assert_eq!(up.status.condition, Condition::Ready);
    assert_eq!(up.status.levels.milk_ml, 300);
    let one = job(vec![line("latte", "small", Some("whole"), 1)]);
    rig.send(&one);
    rig.begin(one.order_id, 0, true).await;
}

#[tokio::test]
async fn a_stopped_machine_makes_nothing_until_refilled() {
    let c = config(|c| (c.auto_refill, c.inject) = (false, vec![FaultKind::LowWater]));
    let mut rig = Rig::start(SimulatedMachine::new(&c), MemoryDisplay::default(), c);
    let first = rig.status().await;
    assert_eq!(
        first.status.condition,
        Condition::Stopped(Stop::Out(Consumable::Water))
    );
    let espresso = job(vec![line("espresso", "single", None, 1)]);
    rig.send(&espresso);
    // Nothing made for 300 ms (status reports are no work: telemetry may come meanwhile).
    let work = async {
        loop {
            match rig.rx.recv().await {
                Some(Command::Status(_)) => {}
                other => return other,
            }
        }
    };
    let waited = tokio::time::timeout(Duration::from_millis(300), work).await;
    assert!(waited.is_err(), "nothing while stopped: {waited:?}");
    let refill = Maintenance::Refill(Consumable::Water, None);
    rig.to.send(ToWorker::Maintain(refill)).unwrap();
    assert_eq!(rig.status().await.status.condition, Condition::Ready);
    rig.begin(espresso.order_id, 0, true).await;
}

#[tokio::test(start_paused = true)]
async fn jobs_wait_for_the_boiler_and_the_display_moves_every_second() {
    let c = config(|c| (c.speed, c.warmup_secs, c.telemetry_secs) = (1.0, 10.0, 2));
    let display = Every::default();
    let mut rig = Rig::start(SimulatedMachine::new(&c), display.clone(), c);
    let espresso = job(vec![line("espresso", "single", None, 1)]);
    rig.send(&espresso);
    let warming = rig.status().await;
    assert_eq!(warming.status.condition, Condition::Warming);
    let t0 = Instant::now();
    rig.begin(espresso.order_id, 0, true).await;
    assert!(
        t0.elapsed() >= Duration::from_secs(9),
        "began after {:?}",
        t0.elapsed()
    );
    let ready = rig
        .statuses
        .iter()
        .find(|r| r.status.condition == Condition::Ready);
    assert!(
        ready.is_some(),
        "warm reported before the drink: {:?}",
        rig.statuses
    );
    // Periodic telemetry while warming: every 2 s.
    let warm_reports = rig
        .statuses
        .iter()
        .filter(|r| r.status.condition == Condition::Warming)
        .count();
    assert!(warm_reports >= 4, "{warm_reports} reports while warming");
    let t1 = Instant::now();
    assert!(matches!(rig.work().await, Command::Done { .. }));
    assert!(t1.elapsed() >= Duration::from_secs(6));
    // The 5 s extract was redrawn at least once a second.
    let frames = display.0.lock().unwrap().clone();
    let extract = frames
        .iter()
        .filter(|f| f.0[1].starts_with("extract"))
        .count();
    assert!(extract >= 5, "{extract} redraws of a 5 s stage");
}
