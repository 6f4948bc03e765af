//! Commands to the device (`devices/<id>/commands`): bump and recall on the rail, and the
//! operator's machine actions (inject a fault, clear, refill), which go to the worker.
//!
//! A made ticket is bumped at once with `auto_bump`, or waits on the rail for a `bump`
//! (oldest first). Its first bump announces `orders/prepared`; `recall` takes the last
//! bumped ticket back onto the rail (`tickets/recalled`), and bumping it again announces
//! `tickets/bumped`.

use milo_bus::{Rejection, Tx};
use milo_contracts::bar::{DeviceCommand, TicketBumped, TicketRecalled};
use milo_contracts::events::OrderPrepared;
use tracing::info;
use uuid::Uuid;

use super::{load, DeviceService};
use crate::display::Display;
use crate::job::{job_key, Job, JobState, ToWorker, LAST_BUMPED};
use crate::machine::{EspressoMachine, Maintenance};

impl<M: EspressoMachine, D: Display> DeviceService<M, D> {
    pub(super) fn command(
        &mut self,
        tx: &mut Tx,
        cmd: DeviceCommand,
        cause: Uuid,
    ) -> Result<(), Rejection> {
        let action = match cmd {
            DeviceCommand::Bump => return self.bump(tx, cause),
            DeviceCommand::Recall => return self.recall(tx, cause),
            DeviceCommand::Fault { kind } => Maintenance::Fault(kind),
            DeviceCommand::Clear => Maintenance::Clear,
            DeviceCommand::Refill { consumable, amount } => Maintenance::Refill(consumable, amount),
        };
        info!(station = %self.station(), ?action, "Machine command.");
        self.tell(tx, ToWorker::Maintain(action));
        Ok(())
    }

    /// Bumps the oldest ticket on the rail.
    fn bump(&self, tx: &mut Tx, cause: Uuid) -> Result<(), Rejection> {
        let Some((key, id)) = tx.scan::<Uuid>("rail/", 1)?.into_iter().next() else {
            info!(station = %self.station(), "Bump with nothing on the rail.");
            return Ok(());
        };
        let Some(mut job) = load(tx, id)?.filter(|j| j.state == JobState::Rail) else {
            tx.remove(&format!("rail/{key}"));
            return Ok(());
        };
        self.bump_job(tx, &mut job, Some(cause))?;
        tx.put(&job_key(id), &job);
        self.refresh(tx);
        Ok(())
    }

    /// Marks a made job bumped: `orders/prepared` the first time (recorded), `tickets/bumped`
    /// after a recall. The caller writes the job.
    pub(super) fn bump_job(
        &self,
        tx: &mut Tx,
        job: &mut Job,
        cause: Option<Uuid>,
    ) -> Result<(), Rejection> {
        let (order_id, station) = (job.order_id, self.station().to_owned());
        tx.remove(&job.rail_key());
        tx.put(LAST_BUMPED, &order_id);
        job.state = JobState::Made;
        if job.announced.is_some() {
            info!(%order_id, station = %station, "Recalled ticket bumped again.");
            let event = tx.event(order_id, cause, TicketBumped { order_id, station });
            tx.publish(&event)?;
            return Ok(());
        }
        info!(%order_id, station = %station, "Ticket bumped: ready for pickup.");
        let prep_ms = job.prep_ms.unwrap_or_default();
        tx.answer(&mut job.announced, order_id, Some(job.cause), || {
            OrderPrepared {
                order_id,
                station,
                prep_ms,
            }
        })?;
        Ok(())
    }

    /// Takes the last bumped ticket back onto the rail.
    fn recall(&self, tx: &mut Tx, cause: Uuid) -> Result<(), Rejection> {
        let last = tx.get::<Uuid>(LAST_BUMPED)?;
        let Some(mut job) = last.map(|id| load(tx, id)).transpose()?.flatten() else {
            info!(station = %self.station(), "Recall with nothing bumped.");
            return Ok(());
        };
        tx.remove(LAST_BUMPED);
        if job.state != JobState::Made {
            return Ok(());
        }
        let (order_id, station) = (job.order_id, self.station().to_owned());
        info!(%order_id, station = %station, "Ticket recalled onto the rail.");
        job.state = JobState::Rail;
        tx.put(&job.rail_key(), &order_id);
        tx.put(&job_key(order_id), &job);
        let event = tx.event(order_id, Some(cause), TicketRecalled { order_id, station });
        tx.publish(&event)?;
        self.refresh(tx);
        Ok(())
    }
}
