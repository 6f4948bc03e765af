//! A ticket at this station ([`Job`]), its lifecycle ([`JobState`]), the worker's requests
//! to the service loop ([`Command`]) and what the loop tells the worker ([`ToWorker`]).
//!
//! Store layout: `job/<order>` the job; `queued/<order>` jobs queued or started (handed back
//! after a restart); `rail/<made ms>/<order>` made tickets waiting for a bump, oldest first;
//! `last_bumped` the ticket a recall takes back.

use milo_bus::Published;
use milo_contracts::events::PricedLine;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::machine::{MachineStatus, Maintenance};

/// Where a job stands. The device is the authority on whether a drink is started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for the machine; can still be withdrawn, moved or handed back.
    #[default]
    Queued,
    /// At the machine (announced on `orders/started`); can no longer be withdrawn.
    Started,
    /// Made, waiting on the rail for a bump (`device.auto_bump = false`, or recalled).
    Rail,
    /// Made and bumped (announced on `orders/prepared`).
    Made,
    /// Handed back (announced on `tickets/returned`).
    Returned,
    /// Taken off this station by the barista service (`TicketMoved`) before it started.
    Moved,
    /// Could not be made, announced on `tickets/failed` by an earlier version of the device;
    /// kept to answer a repeat the same way.
    Failed,
    /// Taken back before it was started, or withdrawn before its ticket arrived (a tombstone:
    /// the ticket is then ignored).
    Withdrawn,
}

/// A ticket at this station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The order.
    pub order_id: Uuid,
    /// What to make (empty on a tombstone).
    pub lines: Vec<PricedLine>,
    /// Name to call out.
    pub customer: Option<String>,
    /// Milliseconds at the machine, once made.
    pub prep_ms: Option<u64>,
    /// The ticket event (the withdrawal, for a tombstone).
    pub cause: Uuid,
    /// `orders/prepared` as announced, to answer a repeated ticket with the same event.
    #[serde(default)]
    pub announced: Option<Published>,
    /// Where it stands (records from before this field: see [`Job::normalized`]).
    #[serde(default)]
    pub state: JobState,
    /// Why an earlier version could not make it.
    #[serde(default)]
    pub failure: Option<String>,
    /// `orders/started` as announced.
    #[serde(default)]
    pub started: Option<Published>,
    /// `tickets/failed` as an earlier version announced it.
    #[serde(default)]
    pub failed: Option<Published>,
    /// `tickets/withdrawn` as answered, to answer a repeated withdrawal with the same event.
    #[serde(default)]
    pub withdrawal: Option<Published>,
    /// The hand-out this job is (`TicketAssigned::attempt`).
    #[serde(default)]
    pub attempt: u32,
    /// When the ticket was first queued (for its age on the display).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub queued_at: Option<OffsetDateTime>,
    /// Drinks begun so far (made, or at the machine).
    #[serde(default)]
    pub begun: u32,
    /// `tickets/returned` as announced, to answer a repeated ticket with the same event.
    #[serde(default)]
    pub returned: Option<Published>,
    /// When it was made, ms since the epoch (its place on the rail).
    #[serde(default)]
    pub made_ms: Option<u64>,
}

impl Job {
    /// A new job, queued.
    pub fn new(
        order_id: Uuid,
        lines: Vec<PricedLine>,
        customer: Option<String>,
        cause: Uuid,
    ) -> Job {
        Job {
            order_id,
            lines,
            customer,
            prep_ms: None,
            cause,
            announced: None,
            state: JobState::Queued,
            failure: None,
            started: None,
            failed: None,
            withdrawal: None,
            attempt: 0,
            queued_at: None,
            begun: 0,
            returned: None,
            made_ms: None,
        }
    }

    /// A withdrawn job for a ticket not seen yet: the ticket is ignored if it arrives later.
    pub fn tombstone(order_id: Uuid, cause: Uuid) -> Job {
        Job {
            state: JobState::Withdrawn,
            ..Job::new(order_id, Vec::new(), None, cause)
        }
    }

    /// The job with its state made consistent: a record written before [`JobState`] existed
    /// and holding `prep_ms` is made.
    pub fn normalized(mut self) -> Job {
        if self.prep_ms.is_some() && self.state == JobState::Queued {
            self.state = JobState::Made;
        }
        self
    }

    /// Its drinks one by one (a line of 2 is two drinks).
    pub fn drinks(&self) -> impl Iterator<Item = &PricedLine> {
        self.lines
            .iter()
            .flat_map(|l| std::iter::repeat_n(l, l.qty as usize))
    }

    /// Seconds since it was queued (0 if unknown or in the future).
    pub fn age_secs(&self, now: OffsetDateTime) -> u64 {
        self.queued_at.map_or(0, |at| {
            u64::try_from((now - at).whole_seconds()).unwrap_or(0)
        })
    }

    /// Its key on the rail.
    pub(crate) fn rail_key(&self) -> String {
        rail_key(self.made_ms.unwrap_or_default(), self.order_id)
    }
}

/// `job/<order>`.
pub fn job_key(id: Uuid) -> String {
    format!("job/{id}")
}

/// `queued/<order>`.
pub(crate) fn queued_key(id: Uuid) -> String {
    format!("queued/{id}")
}

/// `rail/<made ms>/<order>`.
pub(crate) fn rail_key(made_ms: u64, id: Uuid) -> String {
    format!("rail/{made_ms:016}/{id}")
}

/// The key of the ticket a recall takes back.
pub(crate) const LAST_BUMPED: &str = "last_bumped";

/// What the worker reports about the machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The machine.
    pub status: MachineStatus,
    /// A drink is at the machine.
    pub making: bool,
}

/// Requests of the worker to the service loop (and the loop's own, at start).
#[derive(Debug)]
pub enum Command {
    /// May the worker begin drink `drink` (0-based) of this job? The loop answers once its
    /// answer is durable: for the first drink, true only for a queued job, which it records
    /// started (`orders/started`); for a later one, true while the job is started. It
    /// records the drinks begun, for the waste if the job is handed back.
    Begin {
        /// Order.
        order_id: Uuid,
        /// Which drink, from 0.
        drink: u32,
        /// The answer.
        reply: oneshot::Sender<bool>,
    },
    /// A ticket's drinks are made.
    Done {
        /// Order.
        order_id: Uuid,
        /// Milliseconds at the machine.
        prep_ms: u64,
    },
    /// The job cannot be made here: the machine faulted mid-drink, or refused it before it
    /// started. It is handed back with what the drinks begun used as waste.
    Stopped {
        /// Order.
        order_id: Uuid,
        /// Why, from the machine.
        reason: String,
        /// The machine stays stopped until someone acts.
        station_down: bool,
        /// Stages the drink at the machine finished before the fault (its last one begun);
        /// `None` when no drink was at the machine (refused before it began).
        stages_done: Option<u32>,
    },
    /// The machine's state: published as telemetry; a stopped machine hands its queue back.
    Status(Report),
    /// The device started again: these jobs (queued or started before) are handed back.
    Restarted(Vec<Uuid>),
}

/// What the display shows besides the machine: the queue and the rail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Board {
    /// Tickets waiting (the one being made included).
    pub queue: u32,
    /// Made tickets waiting for a bump.
    pub rail: u32,
    /// The oldest of them.
    pub next: Option<Job>,
}

/// What the service loop tells the worker.
#[derive(Debug)]
pub enum ToWorker {
    /// A job to make (in arrival order).
    Job(Job),
    /// The queue and the rail changed.
    Board(Board),
    /// An operator's action on the machine.
    Maintain(Maintenance),
    /// This job left the queue without being made (handed back, moved, withdrawn): skip it.
    Drop(Uuid),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_job_from_before_the_state_field_is_made() {
        let mut job = Job::new(Uuid::now_v7(), Vec::new(), None, Uuid::now_v7());
        assert_eq!(job.clone().normalized().state, JobState::Queued);
        job.prep_ms = Some(1200);
        assert_eq!(job.normalized().state, JobState::Made);
        let tomb = Job::tombstone(Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(tomb.state, JobState::Withdrawn);
        assert!(tomb.lines.is_empty());
    }

    #[test]
    fn rail_keys_sort_by_when_made() {
        let id = Uuid::now_v7();
        assert!(rail_key(999, id) < rail_key(1000, id));
        let mut job = Job::new(id, Vec::new(), None, id);
        // One "now": reading the clock twice, a stall between the reads would age the job.
        let now = OffsetDateTime::now_utc();
        job.queued_at = Some(now - time::Duration::seconds(75));
        assert_eq!(job.age_secs(now), 75);
        job.queued_at = Some(now + time::Duration::seconds(75));
        assert_eq!(job.age_secs(now), 0);
    }
}
