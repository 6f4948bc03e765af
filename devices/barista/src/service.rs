//! Tickets, the worker that makes them, and the device's handlers.
//!
//! Handlers only record tickets; a worker task makes them one after another, in arrival
//! order, and reports each finished drink back as a [`Command::Done`], which records it and
//! publishes `orders/prepared`. A ticket seen again is answered with the recorded outcome.

use std::sync::Arc;
use std::time::Instant;

use milo_bus::{Commands, Published, Rejection, Service, Shutdown, Store, Tx};
use milo_contracts::events::{OrderPrepared, PricedLine, TicketAssigned};
use milo_contracts::{topics, Menu, RawEnvelope};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::info;
use uuid::Uuid;

use crate::display::{Display, Frame};
use crate::machine::EspressoMachine;

/// A ticket at this station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The order.
    pub order_id: Uuid,
    /// What to make.
    pub lines: Vec<PricedLine>,
    /// Name to call out.
    pub customer: Option<String>,
    /// Milliseconds at the machine, once made.
    pub prep_ms: Option<u64>,
    /// The ticket event.
    pub cause: Uuid,
    /// `orders/prepared` as announced, to answer a repeated ticket with the same event.
    #[serde(default)]
    pub announced: Option<Published>,
}

fn job_key(id: Uuid) -> String {
    format!("job/{id}")
}

/// Work reported back by the worker.
#[derive(Debug)]
pub enum Command {
    /// A ticket's drinks are made.
    Done {
        /// Order.
        order_id: Uuid,
        /// Milliseconds at the machine.
        prep_ms: u64,
    },
}

/// The barista device.
pub struct DeviceService<M, D> {
    station: String,
    menu: Arc<Menu>,
    hardware: Option<(M, D)>,
    work: Option<mpsc::UnboundedSender<Job>>,
    shutdown: Shutdown,
}

impl<M: EspressoMachine, D: Display> DeviceService<M, D> {
    /// A device at `station` with its machine and display.
    pub fn new(
        station: String,
        menu: Arc<Menu>,
        machine: M,
        display: D,
        shutdown: Shutdown,
    ) -> Self {
        DeviceService {
            station,
            menu,
            hardware: Some((machine, display)),
            work: None,
            shutdown,
        }
    }

    fn ticket(&mut self, tx: &mut Tx, t: TicketAssigned, cause: Uuid) -> Result<(), Rejection> {
        if t.station != self.station {
            return Err(Rejection::Invalid(format!(
                "ticket for station {:?} arrived at {:?}",
                t.station, self.station
            )));
        }
        if let Some(mut job) = tx.get::<Job>(&job_key(t.order_id))? {
            // Made already: answer the repeat with the very same `orders/prepared`.
            if let Some(ms) = job.prep_ms {
                self.announce(tx, &mut job, ms)?;
            }
            return Ok(());
        }
        let job = Job {
            order_id: t.order_id,
            lines: t.lines,
            customer: t.customer,
            prep_ms: None,
            cause,
            announced: None,
        };
        tx.put(&job_key(job.order_id), &job);
        tx.put(&format!("queued/{}", job.order_id), &());
        if let Some(work) = self.work.clone() {
            tx.after_commit(move || {
                let _ = work.send(job);
            });
        }
        Ok(())
    }

    fn announce(&self, tx: &mut Tx, job: &mut Job, prep_ms: u64) -> Result<(), Rejection> {
        let (id, cause, station) = (job.order_id, Some(job.cause), self.station.clone());
        tx.answer(&mut job.announced, id, cause, || OrderPrepared {
            order_id: id,
            station,
            prep_ms,
        })?;
        Ok(())
    }
}

impl<M: EspressoMachine, D: Display> Service for DeviceService<M, D> {
    type Command = Command;

    fn name(&self) -> String {
        crate::service_name(&self.station)
    }

    fn subscriptions(&self) -> Vec<String> {
        vec![topics::device_tickets(&self.station)]
    }

    fn on_event(&mut self, tx: &mut Tx, _topic: &str, env: &RawEnvelope) -> Result<(), Rejection> {
        if !env.is::<TicketAssigned>() {
            return Err(env.unexpected().into());
        }
        self.ticket(tx, env.decode()?, env.id)
    }

    fn on_command(&mut self, tx: &mut Tx, cmd: Command) -> Result<(), Rejection> {
        let Command::Done { order_id, prep_ms } = cmd;
        let Some(mut job) = tx.get::<Job>(&job_key(order_id))? else {
            return Ok(());
        };
        if job.prep_ms.is_some() {
            return Ok(());
        }
        info!(order_id = %order_id, station = %self.station, prep_ms, "Drink made.");
        job.prep_ms = Some(prep_ms);
        self.announce(tx, &mut job, prep_ms)?;
        tx.put(&job_key(order_id), &job);
        tx.remove(&format!("queued/{order_id}"));
        Ok(())
    }

    fn on_start(&mut self, store: &Store, commands: &Commands<Command>) -> Result<(), Rejection> {
        let (work, jobs) = mpsc::unbounded_channel();
        // Resume tickets a restart interrupted, oldest first (order ids are UUID v7).
        for (id, ()) in store.scan::<()>("queued/", None, usize::MAX)? {
            if let Some(job) = store.get::<Job>(&format!("job/{id}"))? {
                let _ = work.send(job);
            }
        }
        if let Some((machine, display)) = self.hardware.take() {
            let worker = Worker {
                station: self.station.clone(),
                menu: self.menu.clone(),
                machine,
                display,
                commands: commands.clone(),
            };
            tokio::spawn(worker.run(jobs, self.shutdown.clone()));
        }
        self.work = Some(work);
        Ok(())
    }
}

struct Worker<M, D> {
    station: String,
    menu: Arc<Menu>,
    machine: M,
    display: D,
    commands: Commands<Command>,
}

impl<M: EspressoMachine, D: Display> Worker<M, D> {
    async fn run(mut self, mut jobs: mpsc::UnboundedReceiver<Job>, mut shutdown: Shutdown) {
        self.idle(0);
        loop {
            let job = tokio::select! {
                _ = shutdown.wait() => return,
                job = jobs.recv() => match job { Some(j) => j, None => return },
            };
            let started = Instant::now();
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = self.make(&job, jobs.len()) => {}
            }
            let prep_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let order_id = job.order_id;
            if !self
                .commands
                .send(Command::Done { order_id, prep_ms })
                .await
            {
                return;
            }
            self.idle(jobs.len());
        }
    }

    async fn make(&mut self, job: &Job, queued: usize) {
        let drinks: Vec<&PricedLine> = job
            .lines
            .iter()
            .flat_map(|l| std::iter::repeat_n(l, l.qty as usize))
            .collect();
        let short: String = job.order_id.simple().to_string().chars().skip(26).collect();
        let who = job.customer.clone().unwrap_or_default();
        for (n, line) in drinks.iter().enumerate() {
            let stages = self.menu.stages(&line.item);
            let drink = format!(
                "{} {} {}",
                line.item,
                line.size,
                line.milk.as_deref().unwrap_or("")
            );
            for (i, stage) in stages.iter().enumerate() {
                let top = format!("{} {}", self.station, drink);
                let progress = format!("{:<8}{}", stage.name, Frame::bar(i, stages.len(), 12));
                let order = format!("#{short} {}/{} {who}", n + 1, drinks.len());
                let queue = format!("queue {queued}");
                self.display
                    .show(&Frame::new([&top, &progress, &order, &queue]));
                self.machine.run_stage(stage).await;
            }
        }
    }

    fn idle(&mut self, queued: usize) {
        let top = format!("{} ready", self.station);
        let queue = format!("queue {queued}");
        self.display
            .show(&Frame::new([&top, "", "waiting for tickets", &queue]));
    }
}
