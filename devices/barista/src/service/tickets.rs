//! Tickets (`TicketAssigned`), moves (`TicketMoved`) and withdrawals (`WithdrawTicket`).
//!
//! A ticket is identified by its order and its hand-out (`attempt`): the same attempt again
//! is a repeat, answered with what was recorded; a newer attempt of an order whose job here
//! was handed back or moved is a new job; an older one is stale and ignored.

use milo_bus::{Rejection, Tx};
use milo_contracts::bar::TicketMoved;
use milo_contracts::events::TicketAssigned;
use milo_contracts::saga::TicketWithdrawn;
use tracing::info;
use uuid::Uuid;

use super::{load, DeviceService};
use crate::display::Display;
use crate::job::{job_key, queued_key, Job, JobState, ToWorker};
use crate::machine::EspressoMachine;

impl<M: EspressoMachine, D: Display> DeviceService<M, D> {
    pub(super) fn ticket(
        &mut self,
        tx: &mut Tx,
        t: TicketAssigned,
        cause: Uuid,
    ) -> Result<(), Rejection> {
        self.ours(&t.station, "ticket")?;
        let order_id = t.order_id;
        if let Some(mut job) = load(tx, order_id)? {
            if t.attempt < job.attempt {
                let (attempt, current) = (t.attempt, job.attempt);
                info!(%order_id, attempt, current, "Stale hand-out; ignored.");
                return Ok(());
            }
            let newer = t.attempt > job.attempt;
            match job.state {
                JobState::Returned | JobState::Moved if newer => {}
                JobState::Withdrawn => {
                    info!(%order_id, "Ticket withdrawn; not made.");
                    return Ok(());
                }
                _ => {
                    // Seen already: answer with the very event announced (a lost answer).
                    job.attempt = t.attempt;
                    self.repeat(tx, &mut job)?;
                    tx.put(&job_key(order_id), &job);
                    return Ok(());
                }
            }
        }
        let mut job = Job::new(order_id, t.lines, t.customer, cause);
        job.attempt = t.attempt;
        job.queued_at = t.queued_at;
        if let Some(reason) = self.down.clone() {
            // The machine is stopped: hand the ticket straight back.
            return self.hand_back(tx, &mut job, reason, true, None);
        }
        info!(%order_id, attempt = job.attempt, station = %self.station(), "Ticket queued.");
        tx.put(&job_key(order_id), &job);
        tx.put(&queued_key(order_id), &());
        self.tell(tx, ToWorker::Job(job));
        self.refresh(tx);
        Ok(())
    }

    /// Answers a repeated ticket with what was announced for it.
    fn repeat(&self, tx: &mut Tx, job: &mut Job) -> Result<(), Rejection> {
        let recorded = match job.state {
            JobState::Made => job.announced.as_ref(),
            JobState::Started => job.started.as_ref(),
            JobState::Returned => job.returned.as_ref(),
            JobState::Failed => job.failed.as_ref(),
            JobState::Queued | JobState::Rail | JobState::Moved | JobState::Withdrawn => None,
        };
        if let Some(published) = recorded {
            tx.republish(published)?;
        }
        Ok(())
    }

    /// The barista service gave the ticket to another station: a queued job is dropped, a
    /// started one is finished (its `orders/prepared` still counts).
    pub(super) fn moved(&mut self, tx: &mut Tx, m: TicketMoved) -> Result<(), Rejection> {
        self.ours(&m.station, "move")?;
        let order_id = m.order_id;
        let Some(mut job) = load(tx, order_id)? else {
            info!(%order_id, "Moved before its ticket arrived; nothing to drop.");
            return Ok(());
        };
        if m.attempt < job.attempt {
            info!(%order_id, attempt = m.attempt, current = job.attempt, "Stale move; ignored.");
            return Ok(());
        }
        match job.state {
            JobState::Queued => {
                let station = self.station();
                info!(%order_id, %station, "Ticket moved to another station; dropped.");
                job.state = JobState::Moved;
                tx.remove(&queued_key(order_id));
                tx.put(&job_key(order_id), &job);
                self.tell(tx, ToWorker::Drop(order_id));
                self.refresh(tx);
            }
            JobState::Started => {
                info!(%order_id, "Ticket moved while its drink is being made; finishing it.");
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) fn withdraw(
        &mut self,
        tx: &mut Tx,
        order_id: Uuid,
        cause: Uuid,
    ) -> Result<(), Rejection> {
        let mut job = load(tx, order_id)?.unwrap_or_else(|| {
            info!(%order_id, "Withdrawn before its ticket arrived; it will be ignored.");
            Job::tombstone(order_id, cause)
        });
        let (withdrawn, reason) = match job.state {
            // Not at this station's machine, and never will be.
            JobState::Queued | JobState::Withdrawn | JobState::Returned | JobState::Moved => {
                (true, None)
            }
            JobState::Started => (false, Some("the drink is already being made".to_owned())),
            JobState::Rail | JobState::Made => (false, Some("already made".to_owned())),
            JobState::Failed => {
                let why = job.failure.as_deref().unwrap_or("machine fault");
                (false, Some(format!("the drink could not be made: {why}")))
            }
        };
        if job.withdrawal.is_none() && job.state == JobState::Queued {
            info!(%order_id, station = %self.station(), "Ticket withdrawn.");
            job.state = JobState::Withdrawn;
            tx.remove(&queued_key(order_id));
            self.tell(tx, ToWorker::Drop(order_id));
            self.refresh(tx);
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
}
