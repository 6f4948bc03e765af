//! The worker against a stand-in service loop: a [`Rig`] runs it with a machine and a
//! display and answers its requests; the tests are in `making` (jobs, faults, operator
//! actions) and `waiting` (refusals, stopped and warming machines, redraws, telemetry).

mod making;
mod waiting;

use std::sync::Mutex;

use milo_bus::ShutdownTrigger;
use uuid::Uuid;

use super::*;
use crate::display::{Frame, MemoryDisplay};
use crate::job::Report;
use crate::machine::{MachineStatus, Maintenance, SimulatedMachine, StageRun, Stop};

use crate::test_menu::MENU;

/// Faults at the `n`th stage it runs, counting across drinks; then stays stopped until
/// cleared.
struct FaultAt(usize, bool);

impl EspressoMachine for FaultAt {
    fn status(&self) -> MachineStatus {
        let condition = match self.1 {
            true => Condition::Stopped(Stop::GroupFault),
            false => Condition::Ready,
        };
        MachineStatus {
            condition,
            boiler_c: 93.0,
            shots: 0,
            levels: Levels::default(),
        }
    }
    fn can_make(&mut self, _: &Levels) -> Result<(), MachineFault> {
        match self.1 {
            true => Err(Stop::GroupFault.fault()),
            false => Ok(()),
        }
    }
    fn begin_drink(&mut self, _: &[Stage], _: &Levels) {}
    fn run_stage<'a>(&'a mut self, stage: &'a Stage) -> StageRun<'a> {
        let fault = self.0 == 0;
        self.0 = self.0.wrapping_sub(1);
        self.1 |= fault;
        let reason = format!("group head fault during {}", stage.name);
        Box::pin(async move {
            match fault {
                true => Err(MachineFault {
                    reason,
                    stops: true,
                }),
                false => Ok(()),
            }
        })
    }
    fn maintain(&mut self, action: Maintenance) {
        self.1 &= action != Maintenance::Clear;
    }
}

/// Keeps every frame shown, repeats included.
#[derive(Clone, Default)]
struct Every(Arc<Mutex<Vec<Frame>>>);

impl Display for Every {
    fn show(&mut self, frame: &Frame) {
        self.0.lock().unwrap().push(frame.clone());
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

fn job(lines: Vec<PricedLine>) -> Job {
    Job::new(Uuid::now_v7(), lines, Some("Ada".into()), Uuid::now_v7())
}

fn two_lattes_and_an_espresso() -> Job {
    job(vec![
        line("latte", "small", Some("whole"), 2),
        line("espresso", "single", None, 1),
    ])
}

fn config(edit: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config {
        speed: 0.0,
        ..Config::default()
    };
    edit(&mut c);
    c
}

/// A running worker and the stand-in service loop's ends.
struct Rig {
    rx: mpsc::Receiver<Command>,
    to: mpsc::UnboundedSender<ToWorker>,
    statuses: Vec<Report>,
    _stop: ShutdownTrigger,
}

impl Rig {
    fn start<M: EspressoMachine, D: Display>(machine: M, display: D, config: Config) -> Rig {
        let menu = Arc::new(Menu::from_toml(MENU).unwrap());
        let (commands, rx) = Commands::channel();
        let (trigger, shutdown) = ShutdownTrigger::new();
        let (to, inbox) = mpsc::unbounded_channel();
        let worker = Worker::new(&config, Ageing::default(), menu, machine, display, commands);
        tokio::spawn(worker.run(Inputs::new(inbox, shutdown)));
        Rig {
            rx,
            to,
            statuses: Vec::new(),
            _stop: trigger,
        }
    }

    /// The next command that is not a status report (those are kept in `statuses`).
    async fn work(&mut self) -> Command {
        loop {
            let cmd = tokio::time::timeout(Duration::from_secs(30), self.rx.recv()).await;
            match cmd.ok().flatten().expect("a command") {
                Command::Status(report) => self.statuses.push(report),
                cmd => return cmd,
            }
        }
    }

    /// The next status report.
    async fn status(&mut self) -> Report {
        loop {
            let cmd = tokio::time::timeout(Duration::from_secs(30), self.rx.recv()).await;
            if let Command::Status(r) = cmd.ok().flatten().expect("a command") {
                return r;
            }
        }
    }

    /// Expects `Begin` of drink `n` of `order` and answers `go`.
    async fn begin(&mut self, order: Uuid, n: u32, go: bool) {
        match self.work().await {
            Command::Begin {
                order_id,
                drink,
                reply,
            } if order_id == order && drink == n => reply.send(go).unwrap(),
            other => panic!("expected Begin {n} of {order}, got {other:?}"),
        }
    }

    fn send(&self, job: &Job) {
        self.to.send(ToWorker::Job(job.clone())).unwrap();
    }
}

fn short(id: Uuid) -> String {
    let s = id.simple().to_string();
    s[s.len() - 4..].to_owned()
}
