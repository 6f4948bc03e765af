//! A ticket at this station ([`Job`]), its lifecycle ([`JobState`]), and the worker's
//! requests to the service loop ([`Command`]).
//!
//! Store layout: `job/<order>` the job; `queued/<order>` jobs still to make (resumed, oldest
//! first, after a restart).

use milo_bus::Published;
use milo_contracts::events::{Ingredients, PricedLine};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use uuid::Uuid;

/// Where a job stands. The device is the authority on whether a drink is started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for the machine; can still be withdrawn.
    #[default]
    Queued,
    /// At the machine (announced on `orders/started`); can no longer be withdrawn.
    Started,
    /// Made (announced on `orders/prepared`).
    Made,
    /// The machine could not make it (announced on `tickets/failed`).
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
    /// Why the machine could not make it.
    #[serde(default)]
    pub failure: Option<String>,
    /// `orders/started` as announced.
    #[serde(default)]
    pub started: Option<Published>,
    /// `tickets/failed` as announced, to answer a repeated ticket with the same event.
    #[serde(default)]
    pub failed: Option<Published>,
    /// `tickets/withdrawn` as answered, to answer a repeated withdrawal with the same event.
    #[serde(default)]
    pub withdrawal: Option<Published>,
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
        if self.prep_ms.is_some() {
            self.state = JobState::Made;
        }
        self
    }
}

/// `job/<order>`.
pub(crate) fn job_key(id: Uuid) -> String {
    format!("job/{id}")
}

/// `queued/<order>`.
pub(crate) fn queued_key(id: Uuid) -> String {
    format!("queued/{id}")
}

/// Requests of the worker to the service loop.
#[derive(Debug)]
pub enum Command {
    /// May the worker start this job? The loop answers true unless the job is withdrawn,
    /// failed, made or unknown; the first time it records the job started and announces
    /// `orders/started`, and answers only once that is durable.
    Start {
        /// Order.
        order_id: Uuid,
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
    /// The machine stopped part-way: the job cannot be made.
    Failed {
        /// Order.
        order_id: Uuid,
        /// Why, from the machine.
        reason: String,
        /// Ingredients of the drinks finished and of the one in progress (poured away).
        consumed: Ingredients,
    },
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
}
