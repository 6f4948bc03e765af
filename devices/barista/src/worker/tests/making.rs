//! Jobs made drink by drink, faults mid-drink, operator actions during a stage.

use milo_contracts::bar::FaultKind;

use super::*;

#[tokio::test]
async fn a_fault_mid_drink_stops_the_job_after_the_drinks_begun() {
    let display = MemoryDisplay::default();
    // Latte 1: stages 0..3; latte 2: 3, and 4 (its extract) faults.
    let mut rig = Rig::start(FaultAt(4, false), display.clone(), config(|_| {}));
    let (first, second) = (
        two_lattes_and_an_espresso(),
        job(vec![line("espresso", "single", None, 1)]),
    );
    rig.send(&first);
    rig.send(&second);
    rig.begin(first.order_id, 0, true).await;
    rig.begin(first.order_id, 1, true).await;
    match rig.work().await {
        Command::Stopped {
            order_id,
            reason,
            station_down,
            stages_done,
        } => {
            assert_eq!(order_id, first.order_id);
            assert_eq!(reason, "group head fault during extract");
            assert!(station_down);
            assert_eq!(stages_done, Some(1), "the second latte's grind was done");
        }
        other => panic!("expected Stopped, got {other:?}"),
    }
    // Reported stopped at once; the second job waits until the group head is cleared.
    let report = rig.status().await;
    assert_eq!(
        report.status.condition,
        Condition::Stopped(Stop::GroupFault)
    );
    let frames = display.shown();
    let lost = frames
        .iter()
        .position(|f| f.0[0].trim_end() == "bar-1 FAULT")
        .expect("a lost-drink frame");
    assert_eq!(frames[lost].0[1].trim_end(), "group head fault");
    assert_eq!(frames[lost].0[2].trim_end(), "during extract");
    assert!(frames[lost].0[3].starts_with(&format!("#{} 2/3 Ada", short(first.order_id))));
    assert!(frames.iter().all(|f| !f.0[0].contains("ESPRESSO")));
    rig.to.send(ToWorker::Maintain(Maintenance::Clear)).unwrap();
    rig.begin(second.order_id, 0, true).await;
    assert!(
        matches!(rig.work().await, Command::Done { order_id, .. } if order_id == second.order_id)
    );
}

#[tokio::test]
async fn a_job_is_made_drink_by_drink_and_one_withdrawn_meanwhile_is_skipped() {
    let display = MemoryDisplay::default();
    let machine = SimulatedMachine::new(&config(|_| {}));
    let mut rig = Rig::start(machine, display.clone(), config(|_| {}));
    let (first, second, third) = (
        two_lattes_and_an_espresso(),
        two_lattes_and_an_espresso(),
        two_lattes_and_an_espresso(),
    );
    for j in [&first, &second, &third] {
        rig.send(j);
    }
    for n in 0..3 {
        rig.begin(first.order_id, n, true).await;
    }
    assert!(
        matches!(rig.work().await, Command::Done { order_id, .. } if order_id == first.order_id)
    );
    // The loop says no: withdrawn (or handed back) meanwhile. Dropped ones never get asked.
    rig.to.send(ToWorker::Drop(third.order_id)).unwrap();
    rig.begin(second.order_id, 0, false).await;
    let late = job(vec![line("espresso", "single", None, 1)]);
    rig.send(&late);
    rig.begin(late.order_id, 0, true).await;
    let frames = display.shown();
    assert!(frames.iter().all(|f| !f.0[0].contains("FAULT")));
    // 2 lattes × 3 stages + 1 espresso × 2 stages, numbered.
    let making = |n: &str| frames.iter().filter(|f| f.0[2].contains(n)).count();
    assert_eq!(
        (making(" 1/3 "), making(" 2/3 "), making(" 3/3 ")),
        (3, 3, 2)
    );
}

#[tokio::test]
async fn a_group_fault_injected_mid_drink_faults_its_next_stage() {
    let c = config(|c| (c.speed, c.warmup_secs) = (0.05, 0.0));
    let mut rig = Rig::start(SimulatedMachine::new(&c), MemoryDisplay::default(), c);
    let espresso = job(vec![line("espresso", "single", None, 1)]);
    rig.send(&espresso);
    rig.begin(espresso.order_id, 0, true).await;
    // During the grind (50 ms): applied when it ends, so the extract faults.
    rig.to
        .send(ToWorker::Maintain(Maintenance::Fault(
            FaultKind::GroupFault,
        )))
        .unwrap();
    match rig.work().await {
        Command::Stopped {
            reason,
            station_down,
            stages_done,
            ..
        } => {
            assert_eq!(reason, "group head fault during extract");
            assert!(station_down);
            assert_eq!(stages_done, Some(1));
        }
        other => panic!("expected Stopped, got {other:?}"),
    }
}
