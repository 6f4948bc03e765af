//! The worker: makes the jobs one after another at the machine, showing progress on the
//! display, and reports each back to the service loop.
//!
//! Before a job it asks [`Command::Start`] and skips the job on a no (withdrawn meanwhile).
//! If the machine faults, the job stops there: the drinks finished and the one in progress
//! are consumed, the display shows a fault frame, and [`Command::Failed`] reports it.

use std::sync::Arc;
use std::time::Instant;

use milo_bus::{Commands, Shutdown};
use milo_contracts::events::{Ingredients, PricedLine};
use milo_contracts::Menu;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::display::{Display, Frame};
use crate::job::{Command, Job};
use crate::machine::EspressoMachine;

/// A job the machine stopped part-way.
struct Stopped {
    reason: String,
    consumed: Ingredients,
}

/// Makes the jobs of one station.
pub(crate) struct Worker<M, D> {
    station: String,
    menu: Arc<Menu>,
    machine: M,
    display: D,
    commands: Commands<Command>,
}

impl<M: EspressoMachine, D: Display> Worker<M, D> {
    pub(crate) fn new(
        station: String,
        menu: Arc<Menu>,
        machine: M,
        display: D,
        commands: Commands<Command>,
    ) -> Self {
        Worker {
            station,
            menu,
            machine,
            display,
            commands,
        }
    }

    pub(crate) async fn run(
        mut self,
        mut jobs: mpsc::UnboundedReceiver<Job>,
        mut shutdown: Shutdown,
    ) {
        self.idle(0);
        loop {
            let job = tokio::select! {
                _ = shutdown.wait() => return,
                job = jobs.recv() => match job { Some(j) => j, None => return },
            };
            let order_id = job.order_id;
            let (reply, answer) = oneshot::channel();
            if !self.commands.send(Command::Start { order_id, reply }).await {
                return;
            }
            let go = tokio::select! {
                _ = shutdown.wait() => return,
                go = answer => go.unwrap_or(false),
            };
            if !go {
                info!(%order_id, station = %self.station, "Ticket withdrawn; skipped.");
                self.idle(jobs.len());
                continue;
            }
            let started = Instant::now();
            let made = tokio::select! {
                _ = shutdown.wait() => return,
                made = self.make(&job, jobs.len()) => made,
            };
            let cmd = match made {
                Ok(()) => {
                    let prep_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    Command::Done { order_id, prep_ms }
                }
                Err(Stopped { reason, consumed }) => Command::Failed {
                    order_id,
                    reason,
                    consumed,
                },
            };
            if !self.commands.send(cmd).await {
                return;
            }
            self.idle(jobs.len());
        }
    }

    async fn make(&mut self, job: &Job, queued: usize) -> Result<(), Stopped> {
        let drinks: Vec<&PricedLine> = job
            .lines
            .iter()
            .flat_map(|l| std::iter::repeat_n(l, l.qty as usize))
            .collect();
        let short: String = job.order_id.simple().to_string().chars().skip(26).collect();
        let who = job.customer.clone().unwrap_or_default();
        let mut consumed = Ingredients::new();
        for (n, line) in drinks.iter().enumerate() {
            // A drink begun is used up, made or poured away.
            self.consume(&mut consumed, line);
            let stages = self.menu.stages(&line.item);
            let drink = format!(
                "{} {} {}",
                line.item,
                line.size,
                line.milk.as_deref().unwrap_or("")
            );
            let order = format!("#{short} {}/{} {who}", n + 1, drinks.len());
            self.machine.begin_drink(&stages);
            for (i, stage) in stages.iter().enumerate() {
                let top = format!("{} {}", self.station, drink);
                let progress = format!("{:<8}{}", stage.name, Frame::bar(i, stages.len(), 12));
                let queue = format!("queue {queued}");
                self.display
                    .show(&Frame::new([&top, &progress, &order, &queue]));
                if let Err(fault) = self.machine.run_stage(stage).await {
                    self.display
                        .show(&Frame::fault(&self.station, &fault.reason, &order));
                    return Err(Stopped {
                        reason: fault.reason,
                        consumed,
                    });
                }
            }
        }
        Ok(())
    }

    /// Adds one drink of `line` to `consumed`.
    fn consume(&self, consumed: &mut Ingredients, line: &PricedLine) {
        match self.menu.recipe(line) {
            Ok(recipe) => {
                for (ingredient, amount) in recipe {
                    let total = consumed.entry(ingredient).or_default();
                    *total = total.saturating_add(amount);
                }
            }
            Err(e) => warn!(item = %line.item, error = %e, "No recipe for a drink at the bar."),
        }
    }

    fn idle(&mut self, queued: usize) {
        let top = format!("{} ready", self.station);
        let queue = format!("queue {queued}");
        self.display
            .show(&Frame::new([&top, "", "waiting for tickets", &queue]));
    }
}

#[cfg(test)]
mod tests;
