//! The device's handlers: tickets and withdrawals from `devices/<id>/tickets`, and the
//! worker's requests.
//!
//! Handlers only record tickets; the worker makes them one after another, in arrival order.
//! Before each job it asks [`Command::Start`]: the first yes records the job started and
//! announces `orders/started`, so from then on a withdrawal is refused. A finished job comes
//! back as [`Command::Done`] (`orders/prepared`), a machine fault as [`Command::Failed`]
//! (`tickets/failed`). A ticket or withdrawal seen again is answered with the recorded outcome.

use std::sync::Arc;

use milo_bus::{Commands, Rejection, Service, Shutdown, Store, Tx};
use milo_contracts::events::{Ingredients, OrderPrepared, TicketAssigned};
use milo_contracts::saga::{OrderStarted, TicketFailed, TicketWithdrawn, WithdrawTicket};
use milo_contracts::{topics, Menu, RawEnvelope};
use tokio::sync::mpsc;
use tracing::{info, warn};
use uuid::Uuid;

use crate::display::Display;
use crate::job::{job_key, queued_key, Command, Job, JobState};
use crate::machine::EspressoMachine;
use crate::worker::Worker;

/// The barista device.
pub struct DeviceService<M, D> {
    station: String,
    menu: Arc<Menu>,
    hardware: Option<(M, D)>,
    work: Option<mpsc::UnboundedSender<Job>>,
    shutdown: Shutdown,
}

fn load(tx: &Tx, order_id: Uuid) -> Result<Option<Job>, Rejection> {
    Ok(tx.get::<Job>(&job_key(order_id))?.map(Job::normalized))
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
        if let Some(mut job) = load(tx, t.order_id)? {
            // Seen already: answer the repeat with the very event announced (a lost answer).
            match job.state {
                JobState::Made => self.announce(tx, &mut job)?,
                JobState::Failed => {
                    let reason = job.failure.clone().unwrap_or_default();
                    self.fail(tx, &mut job, reason, Ingredients::new())?;
                }
                JobState::Started => self.start(tx, &mut job)?,
                JobState::Queued => return Ok(()),
                JobState::Withdrawn => {
                    info!(order_id = %t.order_id, "Ticket withdrawn; not made.");
                    return Ok(());
                }
            }
            tx.put(&job_key(job.order_id), &job);
            return Ok(());
        }
        let job = Job::new(t.order_id, t.lines, t.customer, cause);
        tx.put(&job_key(job.order_id), &job);
        tx.put(&queued_key(job.order_id), &());
        if let Some(work) = self.work.clone() {
            tx.after_commit(move || {
                let _ = work.send(job);
            });
        }
        Ok(())
    }

    fn withdraw(&mut self, tx: &mut Tx, order_id: Uuid, cause: Uuid) -> Result<(), Rejection> {
        let mut job = load(tx, order_id)?.unwrap_or_else(|| {
            info!(%order_id, "Withdrawn before its ticket arrived; it will be ignored.");
            Job::tombstone(order_id, cause)
        });
        let (withdrawn, reason) = match job.state {
            JobState::Queued | JobState::Withdrawn => (true, None),
            JobState::Started => (false, Some("the drink is already being made".to_owned())),
            JobState::Made => (false, Some("already made".to_owned())),
            JobState::Failed => {
                let why = job.failure.as_deref().unwrap_or("machine fault");
                (false, Some(format!("the drink could not be made: {why}")))
            }
        };
        if job.withdrawal.is_none() && withdrawn && job.state == JobState::Queued {
            info!(%order_id, station = %self.station, "Ticket withdrawn.");
            job.state = JobState::Withdrawn;
            tx.remove(&queued_key(order_id));
        }
        tx.answer(&mut job.withdrawal, order_id, Some(cause), || {
            TicketWithdrawn {
                order_id,
                withdrawn,
                reason,
            }
        })?;
        tx.put(&job_key(order_id), &job);
        Ok(())
    }

    /// `orders/prepared` (recorded).
    fn announce(&self, tx: &mut Tx, job: &mut Job) -> Result<(), Rejection> {
        let (id, cause, station) = (job.order_id, Some(job.cause), self.station.clone());
        let prep_ms = job.prep_ms.unwrap_or_default();
        tx.answer(&mut job.announced, id, cause, || OrderPrepared {
            order_id: id,
            station,
            prep_ms,
        })?;
        Ok(())
    }

    /// `orders/started` (recorded).
    fn start(&self, tx: &mut Tx, job: &mut Job) -> Result<(), Rejection> {
        let (id, cause, station) = (job.order_id, Some(job.cause), self.station.clone());
        tx.answer(&mut job.started, id, cause, || OrderStarted {
            order_id: id,
            station,
        })?;
        Ok(())
    }

    /// `tickets/failed` (recorded).
    fn fail(
        &self,
        tx: &mut Tx,
        job: &mut Job,
        reason: String,
        consumed: Ingredients,
    ) -> Result<(), Rejection> {
        let (id, cause, station) = (job.order_id, Some(job.cause), self.station.clone());
        tx.answer(&mut job.failed, id, cause, || TicketFailed {
            order_id: id,
            station,
            reason,
            consumed,
        })?;
        Ok(())
    }

    /// The worker may start the job unless it was withdrawn, failed, made or is unknown. A
    /// job started before a restart is started again (made again from the beginning).
    fn may_start(&self, tx: &mut Tx, order_id: Uuid) -> Result<bool, Rejection> {
        let Some(mut job) = load(tx, order_id)? else {
            return Ok(false);
        };
        match job.state {
            JobState::Queued => {
                info!(%order_id, station = %self.station, "Drink started.");
                job.state = JobState::Started;
                self.start(tx, &mut job)?;
                tx.put(&job_key(order_id), &job);
                Ok(true)
            }
            JobState::Started => Ok(true),
            JobState::Made | JobState::Failed | JobState::Withdrawn => Ok(false),
        }
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
        if env.is::<TicketAssigned>() {
            self.ticket(tx, env.decode()?, env.id)
        } else if env.is::<WithdrawTicket>() {
            let order_id = env.decode::<WithdrawTicket>()?.order_id;
            self.withdraw(tx, order_id, env.id)
        } else {
            Err(env.unexpected().into())
        }
    }

    fn on_command(&mut self, tx: &mut Tx, cmd: Command) -> Result<(), Rejection> {
        match cmd {
            Command::Start { order_id, reply } => {
                let go = self.may_start(tx, order_id)?;
                // "Started" is durable before the drink begins.
                tx.after_commit(move || {
                    let _ = reply.send(go);
                });
            }
            Command::Done { order_id, prep_ms } => {
                let Some(mut job) = load(tx, order_id)? else {
                    return Ok(());
                };
                if !matches!(job.state, JobState::Queued | JobState::Started) {
                    return Ok(());
                }
                info!(order_id = %order_id, station = %self.station, prep_ms, "Drink made.");
                job.state = JobState::Made;
                job.prep_ms = Some(prep_ms);
                self.announce(tx, &mut job)?;
                tx.put(&job_key(order_id), &job);
                tx.remove(&queued_key(order_id));
            }
            Command::Failed {
                order_id,
                reason,
                consumed,
            } => {
                let Some(mut job) = load(tx, order_id)? else {
                    return Ok(());
                };
                if !matches!(job.state, JobState::Queued | JobState::Started) {
                    return Ok(());
                }
                warn!(order_id = %order_id, station = %self.station, %reason, "Drink could not be made.");
                job.state = JobState::Failed;
                job.failure = Some(reason.clone());
                self.fail(tx, &mut job, reason, consumed)?;
                tx.put(&job_key(order_id), &job);
                tx.remove(&queued_key(order_id));
            }
        }
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
            let worker = Worker::new(
                self.station.clone(),
                self.menu.clone(),
                machine,
                display,
                commands.clone(),
            );
            tokio::spawn(worker.run(jobs, self.shutdown.clone()));
        }
        self.work = Some(work);
        Ok(())
    }
}
