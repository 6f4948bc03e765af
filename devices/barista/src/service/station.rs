//! The worker's reports (a drink begun, a job made or stopped, the machine's state), the
//! hand-back of tickets (`tickets/returned`), and telemetry.

use milo_bus::retry::now_ms;
use milo_bus::{Rejection, Tx};
use milo_contracts::bar::{DeviceState, Telemetry, TicketReturned};
use milo_contracts::events::Ingredients;
use milo_contracts::saga::OrderStarted;
use milo_contracts::topics;
use time::OffsetDateTime;
use tracing::{info, warn};
use uuid::Uuid;

use super::{load, DeviceService};
use crate::display::Display;
use crate::job::{job_key, queued_key, Job, JobState, Report, ToWorker};
use crate::machine::{usage, Condition, EspressoMachine};

/// The reason given for jobs handed back at start-up.
const RESTARTED: &str = "station restarted";

impl<M: EspressoMachine, D: Display> DeviceService<M, D> {
    /// May drink `drink` of the job begin? See [`crate::Command::Begin`].
    pub(super) fn begin(&self, tx: &mut Tx, order_id: Uuid, drink: u32) -> Result<bool, Rejection> {
        let Some(mut job) = load(tx, order_id)? else {
            return Ok(false);
        };
        match (job.state, drink) {
            (JobState::Queued, 0) => {
                info!(%order_id, station = %self.station(), "Drink started.");
                job.state = JobState::Started;
                let (cause, station) = (Some(job.cause), self.station().to_owned());
                tx.answer(&mut job.started, order_id, cause, || OrderStarted {
                    order_id,
                    station,
                })?;
            }
            (JobState::Started, _) => {}
            _ => return Ok(false),
        }
        job.begun = job.begun.max(drink.saturating_add(1));
        tx.put(&job_key(order_id), &job);
        Ok(true)
    }

    pub(super) fn done(&self, tx: &mut Tx, order_id: Uuid, prep_ms: u64) -> Result<(), Rejection> {
        let Some(mut job) = load(tx, order_id)? else {
            return Ok(());
        };
        if job.state != JobState::Started {
            return Ok(());
        }
        info!(%order_id, station = %self.station(), prep_ms, "Drink made.");
        job.prep_ms = Some(prep_ms);
        job.made_ms = Some(u64::try_from(now_ms()).unwrap_or_default());
        tx.remove(&queued_key(order_id));
        if self.config.auto_bump {
            self.bump_job(tx, &mut job, None)?;
        } else {
            job.state = JobState::Rail;
            tx.put(&job.rail_key(), &order_id);
        }
        tx.put(&job_key(order_id), &job);
        self.refresh(tx);
        Ok(())
    }

    /// The machine stopped the job; `stages_done` of the drink at the machine, if any (see
    /// [`crate::Command::Stopped`]).
    pub(super) fn stopped(
        &self,
        tx: &mut Tx,
        order_id: Uuid,
        reason: String,
        station_down: bool,
        stages_done: Option<u32>,
    ) -> Result<(), Rejection> {
        let Some(mut job) = load(tx, order_id)? else {
            return Ok(());
        };
        if !matches!(job.state, JobState::Queued | JobState::Started) {
            return Ok(());
        }
        self.hand_back(tx, &mut job, reason, station_down, stages_done)
    }

    /// Hands every job left from before a restart back: the device never resumes them.
    pub(super) fn restarted(&self, tx: &mut Tx, ids: Vec<Uuid>) -> Result<(), Rejection> {
        for id in ids {
            let Some(mut job) = load(tx, id)? else {
                tx.remove(&queued_key(id));
                continue;
            };
            if matches!(job.state, JobState::Queued | JobState::Started) {
                // How far the drink at the machine got is lost with the restart: it counts
                // whole.
                self.hand_back(tx, &mut job, RESTARTED.to_owned(), false, None)?;
            } else {
                tx.remove(&queued_key(id));
            }
        }
        self.refresh(tx);
        Ok(())
    }

    /// `tickets/returned` (recorded): the job leaves this station, with what its drinks
    /// begun used as waste (`stages_done` of the last one begun, if the machine stopped it;
    /// all of them otherwise).
    pub(super) fn hand_back(
        &self,
        tx: &mut Tx,
        job: &mut Job,
        reason: String,
        station_down: bool,
        stages_done: Option<u32>,
    ) -> Result<(), Rejection> {
        let (order_id, attempt, begun) = (job.order_id, job.attempt, job.begun);
        let wasted = self.waste(job, stages_done);
        let station = self.station();
        warn!(%order_id, %station, attempt, %reason, station_down, "Ticket handed back.");
        job.state = JobState::Returned;
        let (cause, station) = (Some(job.cause), self.station().to_owned());
        tx.answer(&mut job.returned, order_id, cause, || TicketReturned {
            order_id,
            station,
            attempt,
            reason,
            wasted,
            station_down,
            begun,
        })?;
        tx.remove(&queued_key(order_id));
        tx.put(&job_key(order_id), job);
        self.tell(tx, ToWorker::Drop(order_id));
        self.refresh(tx);
        Ok(())
    }

    /// What the drinks begun on `job` used (see [`usage`]): every stage of each one, but
    /// only the first `stages_done` of the last one begun when the machine stopped it.
    fn waste(&self, job: &Job, stages_done: Option<u32>) -> Ingredients {
        let begun = job.begun as usize;
        let mut wasted = Ingredients::new();
        for (n, line) in job.drinks().take(begun).enumerate() {
            let recipe = match self.menu.recipe(line) {
                Ok(recipe) => recipe,
                Err(e) => {
                    warn!(item = %line.item, error = %e, "No recipe for a wasted drink.");
                    continue;
                }
            };
            let stages = self.menu.stages(&line.item);
            let done = match stages_done {
                Some(done) if n + 1 == begun => done as usize,
                _ => stages.len(),
            };
            for (ingredient, amount) in usage::used(&self.menu, &recipe, &stages, done) {
                let total = wasted.entry(ingredient).or_default();
                *total = total.saturating_add(amount);
            }
        }
        wasted
    }

    /// The machine's state: a stopped machine hands every queued job back; then telemetry.
    pub(super) fn status(&mut self, tx: &mut Tx, report: Report) -> Result<(), Rejection> {
        let down = match report.status.condition {
            Condition::Stopped(stop) => Some(stop.reason().to_owned()),
            _ => None,
        };
        match (&self.down, &down) {
            (None, Some(why)) => {
                let station = self.station();
                warn!(%station, reason = %why, "Station stopped; handing its tickets back.");
            }
            (Some(_), None) => info!(station = %self.station(), "Station ready again."),
            _ => {}
        }
        self.down = down;
        let queue = self.hand_back_queue(tx)?;
        let telemetry = self.telemetry(report, queue);
        let payload = serde_json::to_vec(&telemetry).unwrap_or_default();
        tx.publish_state(&topics::device_telemetry(self.station()), payload)?;
        Ok(())
    }

    /// While the machine is stopped, hands back every job still queued. Returns how many
    /// remain (started ones).
    fn hand_back_queue(&self, tx: &mut Tx) -> Result<u32, Rejection> {
        let mut queue = 0u32;
        for (id, ()) in tx.scan::<()>("queued/", usize::MAX)? {
            let job = id
                .parse()
                .ok()
                .map(|id| load(tx, id))
                .transpose()?
                .flatten();
            match (job, &self.down) {
                (Some(mut job), Some(why)) if job.state == JobState::Queued => {
                    self.hand_back(tx, &mut job, why.clone(), true, None)?;
                }
                _ => queue = queue.saturating_add(1),
            }
        }
        Ok(queue)
    }

    fn telemetry(&self, report: Report, queue: u32) -> Telemetry {
        let s = report.status;
        let state = match s.condition {
            Condition::Warming => DeviceState::Warming,
            Condition::Stopped(_) => DeviceState::Fault,
            Condition::Ready if report.making => DeviceState::Making,
            Condition::Ready => DeviceState::Idle,
        };
        Telemetry {
            station: self.station().to_owned(),
            state,
            fault: self.down.clone(),
            boiler_c: (s.boiler_c * 10.0).round() / 10.0,
            shots: s.shots,
            water_ml: s.levels.water_ml,
            beans_g: s.levels.beans_g,
            milk_ml: s.levels.milk_ml,
            queue,
            at: OffsetDateTime::now_utc(),
        }
    }
}
