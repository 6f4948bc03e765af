//! The worker at a machine that faults, and a job withdrawn before it starts.

use std::time::Duration;

use milo_bus::ShutdownTrigger;
use milo_contracts::menu::Stage;
use uuid::Uuid;

use super::*;
use crate::display::MemoryDisplay;
use crate::machine::{MachineFault, SimulatedMachine, StageRun};

const MENU: &str = r#"
    [ingredients]
    beans_g = "espresso beans"
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
    stages = [{ name = "grind", secs = 1 }, { name = "extract", secs = 1 }]
    [items.espresso.sizes.single]
    price_cents = 250
    recipe = { beans_g = 9 }
"#;

/// Faults at the `n`th stage it runs, counting across drinks.
struct FaultAt(usize);

impl EspressoMachine for FaultAt {
    fn run_stage<'a>(&'a mut self, stage: &'a Stage) -> StageRun<'a> {
        let fault = self.0 == 0;
        self.0 = self.0.wrapping_sub(1);
        let reason = format!("group head fault during {}", stage.name);
        Box::pin(async move {
            match fault {
                true => Err(MachineFault { reason }),
                false => Ok(()),
            }
        })
    }
}

fn line(item: &str, size: &str, milk: Option<&str>, qty: u32) -> PricedLine {
    PricedLine {
        item: item.into(),
        size: size.into(),
        milk: milk.map(Into::into),
        qty,
        unit_price_cents: 0,
        modifiers: Vec::new(),
    }
}

fn job() -> Job {
    let lines = vec![
        line("latte", "small", Some("whole"), 2),
        line("espresso", "single", None, 1),
    ];
    Job::new(Uuid::now_v7(), lines, Some("Ada".into()), Uuid::now_v7())
}

async fn next(rx: &mut mpsc::Receiver<Command>) -> Command {
    let cmd = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
    cmd.ok().flatten().expect("a command")
}

/// Runs one job (started) then a second one (refused) and returns the first's outcome.
async fn run_one<M: EspressoMachine>(machine: M, display: MemoryDisplay) -> Command {
    let menu = Arc::new(Menu::from_toml(MENU).unwrap());
    let (commands, mut rx) = Commands::channel();
    let (trigger, shutdown) = ShutdownTrigger::new();
    let worker = Worker::new("bar-1".into(), menu, machine, display, commands);
    let (work, jobs) = mpsc::unbounded_channel();
    let (first, second) = (job(), job());
    let (first_id, second_id) = (first.order_id, second.order_id);
    work.send(first).unwrap();
    work.send(second).unwrap();
    let task = tokio::spawn(worker.run(jobs, shutdown));
    let Command::Start { order_id, reply } = next(&mut rx).await else {
        panic!("the first job is asked to start")
    };
    assert_eq!(order_id, first_id);
    reply.send(true).unwrap();
    let outcome = next(&mut rx).await;
    // The second job is withdrawn meanwhile: refused, skipped, and nothing else follows.
    let Command::Start { order_id, reply } = next(&mut rx).await else {
        panic!("the second job is asked to start")
    };
    assert_eq!(order_id, second_id);
    reply.send(false).unwrap();
    trigger.trigger();
    task.await.unwrap();
    assert!(rx.try_recv().is_err());
    outcome
}

#[tokio::test]
async fn a_fault_stops_the_job_consuming_the_drinks_begun() {
    let display = MemoryDisplay::default();
    // Latte: stages 0..3; second latte: 3, 4 faults (its extract).
    let outcome = run_one(FaultAt(4), display.clone()).await;
    let Command::Failed {
        reason, consumed, ..
    } = outcome
    else {
        panic!("expected a failure, got {outcome:?}")
    };
    assert_eq!(reason, "group head fault during extract");
    let expected = Ingredients::from([("beans_g".into(), 36), ("whole_milk_ml".into(), 400)]);
    assert_eq!(consumed, expected, "two lattes begun, the espresso not");
    let frames = display.frames.lock().unwrap().clone();
    let fault = frames
        .iter()
        .position(|f| f.0[0].trim_end() == "bar-1 FAULT")
        .expect("a fault frame");
    assert_eq!(frames[fault].0[1].trim_end(), "group head fault");
    assert_eq!(frames[fault].0[2].trim_end(), "during extract");
    assert!(frames[fault].0[3].contains("2/3 Ada"));
    assert_eq!(frames[fault + 1].0[0].trim_end(), "bar-1 ready");
    assert_eq!(
        frames
            .iter()
            .filter(|f| f.0[0].contains("espresso"))
            .count(),
        0
    );
}

#[tokio::test]
async fn a_job_without_faults_is_done() {
    let display = MemoryDisplay::default();
    let machine = SimulatedMachine::new(0.0).with_faults(0.0, 7);
    let outcome = run_one(machine, display.clone()).await;
    assert!(matches!(outcome, Command::Done { .. }), "{outcome:?}");
    let frames = display.frames.lock().unwrap().clone();
    assert!(frames.iter().all(|f| !f.0[0].contains("FAULT")));
    // 2 lattes × 3 stages + 1 espresso × 2 stages, between idle frames.
    assert_eq!(frames.iter().filter(|f| f.0[2].starts_with('#')).count(), 8);
}

#[tokio::test]
async fn rate_one_fails_the_first_drink_at_its_second_stage() {
    let machine = SimulatedMachine::new(0.0).with_faults(1.0, 7);
    let outcome = run_one(machine, MemoryDisplay::default()).await;
    let Command::Failed {
        reason, consumed, ..
    } = outcome
    else {
        panic!("expected a failure, got {outcome:?}")
    };
    assert!(reason.ends_with("during extract"), "{reason}");
    let one_latte = Ingredients::from([("beans_g".into(), 18), ("whole_milk_ml".into(), 200)]);
    assert_eq!(consumed, one_latte);
}
