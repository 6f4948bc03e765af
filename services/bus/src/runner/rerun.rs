//! A part's handlers run again offline, for `milo replay`: events read from the parts' logs
//! are handed to a part built by this Milo, over a scratch store, through the very path a
//! running part takes (the inbox, `on_event` or `on_raw`, dead letters, numbering, the log),
//! with no broker and no relay. What the part published in answer to each event stays in the
//! scratch store's log, each entry naming the event it answers.
//!
//! What runs after a commit (an HTTP reply, a gateway call) is dropped: a replay has no caller
//! and must not charge a card. Timers are not run: the command channel handed to `on_start`
//! has no reader, so a part's timer task stops at its first tick.

use super::group::{Group, Outcome};
use super::marks::Marks;
use super::{Commands, Rejection, Service};
use crate::store::{Store, StoreError};

/// What became of one event handed to [`Rerun::feed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fed {
    /// Handled: its effects and answers are in the scratch store.
    Applied,
    /// Already handled (the same event id and content): no effect.
    Repeat,
    /// Refused, with the dead letter's reason.
    DeadLettered(String),
}

/// A part re-running events over a scratch store.
pub struct Rerun<S: Service> {
    service: S,
    store: Store,
    name: String,
    max_payload: usize,
    marks: Marks,
}

impl<S: Service> Rerun<S> {
    /// Starts `service` over `store` (a scratch store: everything fed is written to it).
    /// Needs a Tokio runtime: `on_start` may spawn the part's timer task, which stops at once.
    pub fn start(mut service: S, store: Store, max_payload: usize) -> Result<Self, Rejection> {
        let (commands, unread) = Commands::channel();
        drop(unread);
        service.on_start(&store, &commands)?;
        let marks = Marks::load(&store)?;
        Ok(Rerun {
            name: service.name(),
            service,
            store,
            max_payload,
            marks,
        })
    }

    /// Hands `messages` (topic, payload) to the part in order, as one group commit (applied,
    /// not synced: [`Rerun::finish`] syncs).
    pub fn feed<'m>(
        &mut self,
        messages: impl IntoIterator<Item = (&'m str, &'m [u8])>,
    ) -> Result<Vec<Fed>, Rejection> {
        let mut group = Group::new(
            &self.name,
            &self.store,
            self.max_payload,
            self.marks.clone(),
        );
        let mut fed = Vec::new();
        for (topic, payload) in messages {
            fed.push(match group.message(&mut self.service, topic, payload)? {
                Outcome::Applied => Fed::Applied,
                Outcome::Repeat => Fed::Repeat,
                Outcome::DeadLettered(_, reason) => Fed::DeadLettered(reason),
            });
        }
        group.write_marks();
        if let Some(batch) = group.overlay.take_batch() {
            self.store.apply(batch)?;
        }
        // Replies to callers and gateway calls: a replay has neither.
        group.after.clear();
        group.states.clear();
        Ok(fed)
    }

    /// Makes the scratch store durable and hands it back.
    pub fn finish(self) -> Result<Store, StoreError> {
        self.store.sync()?;
        Ok(self.store)
    }
}
