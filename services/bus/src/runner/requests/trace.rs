//! The operator's requests of `milo trace`: a page of an order's events in this part's log,
//! whether the inbox holds some events, a page of this part's dead letters about the order.
//! Each reads at most [`SCAN_PAGE`] entries, and its answer fits `max_payload`.

use milo_contracts::dead_letters::DeadLetterAnswer;
use uuid::Uuid;

use super::Request;
use crate::runner::group::Group;
use crate::store::StoreError;
use crate::trace::{self, Limits, SCAN_PAGE};

impl Group<'_> {
    /// A page of the order's events in the log.
    pub(super) fn trace(
        &self,
        r: &Request,
        order: Uuid,
        from: u64,
        upto: Option<u64>,
    ) -> Result<DeadLetterAnswer, StoreError> {
        let empty = DeadLetterAnswer::Trace {
            events: Vec::new(),
            omitted: u64::MAX,
            upto: u64::MAX,
            next: Some(u64::MAX),
        };
        let limits = Limits {
            scan: SCAN_PAGE,
            room: self.room(r, empty),
        };
        let page = trace::events(self.store, order, from, upto, limits)?;
        Ok(DeadLetterAnswer::Trace {
            events: page.items,
            omitted: page.omitted,
            upto: page.upto,
            next: page.next,
        })
    }

    /// Whether the inbox holds each event.
    pub(super) fn inbox(&self, events: &[Uuid]) -> Result<DeadLetterAnswer, StoreError> {
        let held = trace::inbox(self.store, events)?;
        Ok(DeadLetterAnswer::Inbox { held })
    }

    /// A page of the dead letters about the order.
    pub(super) fn order_letters(
        &self,
        r: &Request,
        order: Uuid,
        from: u64,
        upto: Option<u64>,
    ) -> Result<DeadLetterAnswer, StoreError> {
        let empty = DeadLetterAnswer::OrderLetters {
            letters: Vec::new(),
            omitted: u64::MAX,
            upto: u64::MAX,
            next: Some(u64::MAX),
        };
        let limits = Limits {
            scan: SCAN_PAGE,
            room: self.room(r, empty),
        };
        let page = trace::letters(self.store, order, from, upto, limits)?;
        Ok(DeadLetterAnswer::OrderLetters {
            letters: page.items,
            omitted: page.omitted,
            upto: page.upto,
            next: page.next,
        })
    }
}

#[cfg(test)]
mod tests;
