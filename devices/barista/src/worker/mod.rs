//! The worker: drives the machine through the jobs one after another, shows progress on the
//! display, and reports each job and the machine's state back to the service loop.
//!
//! Jobs wait while the machine warms up or is stopped. Before a job the worker checks that
//! the machine can make all of it (a short consumable stops the machine and the job is
//! handed back before it starts); before each drink it asks [`Command::Begin`] and skips the
//! job on a no (withdrawn, moved or handed back meanwhile). A fault mid-drink ends the job:
//! [`Command::Stopped`]. Every change of the machine's condition is reported at once
//! ([`Command::Status`]), and the state again every `telemetry_secs`. The display is
//! redrawn at least once a second, so ticket ages move.

mod panel;

use std::sync::Arc;
use std::time::Duration;

use milo_bus::{Commands, Shutdown};
use milo_contracts::events::PricedLine;
use milo_contracts::menu::Stage;
use milo_contracts::Menu;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tracing::{info, warn};

use crate::config::{Ageing, Config};
use crate::display::Display;
use crate::job::{Command, Job, ToWorker};
use crate::machine::{Condition, EspressoMachine, Levels, MachineFault};
use panel::{AtMachine, Panel};

/// How a job ended at the machine.
enum Outcome {
    Done,
    /// Stopped by the machine, with the stages the drink at the machine finished (`None`:
    /// refused before a drink began).
    Stopped(MachineFault, Option<u32>),
    /// Not to be made here any more (the service loop said no).
    Skipped,
    /// The device is stopping.
    Exit,
}

/// One drink of a job, planned.
struct Drink {
    stages: Vec<Stage>,
    draw: Levels,
    label: String,
}

/// What the worker waits on besides the machine.
pub(crate) struct Inputs {
    /// Messages from the service loop.
    pub inbox: mpsc::UnboundedReceiver<ToWorker>,
    /// The device stops.
    pub shutdown: Shutdown,
    /// Once a second: redraw and telemetry.
    tick: Interval,
}

impl Inputs {
    pub(crate) fn new(inbox: mpsc::UnboundedReceiver<ToWorker>, shutdown: Shutdown) -> Self {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Inputs {
            inbox,
            shutdown,
            tick,
        }
    }
}

/// Makes the jobs of one station.
pub(crate) struct Worker<M, D> {
    machine: M,
    panel: Panel<D>,
}

impl<M: EspressoMachine, D: Display> Worker<M, D> {
    pub(crate) fn new(
        config: &Config,
        ageing: Ageing,
        menu: Arc<Menu>,
        machine: M,
        display: D,
        commands: Commands<Command>,
    ) -> Self {
        Worker {
            machine,
            panel: Panel::new(config, ageing, menu, display, commands),
        }
    }

    pub(crate) async fn run(mut self, mut io: Inputs) {
        loop {
            // Everything already sent first: a job dropped meanwhile is not asked about.
            while let Ok(msg) = io.inbox.try_recv() {
                self.panel.take(msg);
            }
            for action in self.panel.held.drain(..) {
                self.machine.maintain(action);
            }
            let wake = self.machine.advance();
            let status = self.machine.status();
            let ready = status.condition == Condition::Ready;
            if !self.panel.observe(status).await {
                return;
            }
            if let Some(job) = ready.then(|| self.panel.pending.pop_front()).flatten() {
                if !self.make(job, &mut io).await {
                    return;
                }
                continue;
            }
            self.panel.show_machine();
            tokio::select! {
                _ = io.shutdown.wait() => return,
                msg = io.inbox.recv() => match msg {
                    Some(msg) => self.panel.take(msg),
                    None => return,
                },
                _ = sleep_until(wake) => {}
                _ = io.tick.tick() => if !self.panel.heartbeat().await { return },
            }
        }
    }

    /// Makes one job and reports how it ended; false once the device is stopping.
    async fn make(&mut self, job: Job, io: &mut Inputs) -> bool {
        let (order_id, started) = (job.order_id, Instant::now());
        let cmd = match self.run_job(&job, io).await {
            Outcome::Exit => return false,
            Outcome::Skipped => {
                info!(%order_id, "Ticket no longer here; skipped.");
                return true;
            }
            Outcome::Done => {
                let prep_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                Command::Done { order_id, prep_ms }
            }
            Outcome::Stopped(fault, stages_done) => {
                let (reason, station_down) = (&fault.reason, fault.stops);
                warn!(%order_id, %reason, station_down, "Ticket stopped at the machine.");
                Command::Stopped {
                    order_id,
                    reason: fault.reason,
                    station_down: fault.stops,
                    stages_done,
                }
            }
        };
        // The machine's state right after the job is reported before it changes by itself
        // (at speed 0 a refill is instant): a station that handed a ticket back as down says
        // it was down.
        self.panel.send(cmd).await && self.panel.observe(self.machine.status()).await
    }

    async fn run_job(&mut self, job: &Job, io: &mut Inputs) -> Outcome {
        let drinks: Vec<Drink> = job.drinks().map(|l| self.plan(l)).collect();
        let total = drinks
            .iter()
            .fold(Levels::default(), |sum, d| sum.plus(d.draw));
        if let Err(fault) = self.machine.can_make(&total) {
            return Outcome::Stopped(fault, None);
        }
        for (n, drink) in drinks.iter().enumerate() {
            if n > 0 {
                if let Err(fault) = self.machine.can_make(&drink.draw) {
                    return Outcome::Stopped(fault, None);
                }
            }
            match self.begin(job, n, io).await {
                None => return Outcome::Exit,
                Some(false) => return Outcome::Skipped,
                Some(true) => {}
            }
            self.machine.begin_drink(&drink.stages, &drink.draw);
            for (step, stage) in drink.stages.iter().enumerate() {
                self.panel.show_making(AtMachine {
                    job: job.clone(),
                    drink: drink.label.clone(),
                    n: n + 1,
                    m: drinks.len(),
                    stage: stage.name.clone(),
                    step,
                    steps: drink.stages.len(),
                });
                match self.stage(stage, io).await {
                    None => return Outcome::Exit,
                    Some(Ok(())) => {}
                    Some(Err(fault)) => {
                        self.panel.show_lost(&fault.reason);
                        let done = u32::try_from(step).unwrap_or(u32::MAX);
                        return Outcome::Stopped(fault, Some(done));
                    }
                }
            }
        }
        Outcome::Done
    }

    /// Stages, draw and label of one drink of `line`.
    fn plan(&self, line: &PricedLine) -> Drink {
        let menu = self.panel.menu();
        let draw = match menu.recipe(line) {
            Ok(recipe) => Levels::of_recipe(menu, &recipe),
            Err(e) => {
                warn!(item = %line.item, error = %e, "No recipe for a drink at the bar.");
                Levels::default()
            }
        };
        Drink {
            stages: menu.stages(&line.item),
            draw,
            label: self.panel.label(line),
        }
    }

    /// Asks the service loop whether drink `n` of `job` may begin (durably recorded when it
    /// answers); `None` once the device is stopping.
    async fn begin(&mut self, job: &Job, n: usize, io: &mut Inputs) -> Option<bool> {
        let (reply, answer) = oneshot::channel();
        let drink = u32::try_from(n).unwrap_or(u32::MAX);
        let order_id = job.order_id;
        let asked = Command::Begin {
            order_id,
            drink,
            reply,
        };
        if !self.panel.send(asked).await {
            return None;
        }
        tokio::select! {
            _ = io.shutdown.wait() => None,
            go = answer => Some(go.unwrap_or(false)),
        }
    }

    /// Runs one stage, redrawing and reporting meanwhile; operator actions that arrive
    /// during it apply once it is done. `None` once the device is stopping.
    async fn stage(&mut self, stage: &Stage, io: &mut Inputs) -> Option<Result<(), MachineFault>> {
        let result = {
            let mut run = self.machine.run_stage(stage);
            loop {
                tokio::select! {
                    r = &mut run => break r,
                    _ = io.shutdown.wait() => return None,
                    msg = io.inbox.recv() => match msg {
                        Some(msg) => self.panel.take(msg),
                        None => return None,
                    },
                    _ = io.tick.tick() => if !self.panel.heartbeat().await { return None },
                }
            }
        };
        for action in self.panel.held.drain(..) {
            self.machine.maintain(action);
        }
        Some(result)
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
