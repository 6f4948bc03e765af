//! The retained topics a link owns (its presence, and the retained entries its relay
//! publishes: pickup board, availability, telemetry): what it last published on each, and
//! putting that back when the broker's copy is erased or overwritten.
//!
//! The link subscribes to every topic it owns, so the broker hands it each change of the
//! retained value, its own publishes included. A value that differs from ours (an empty
//! payload erases it; other bytes overwrite it) is published again after [`SETTLE`]: the
//! echo of our own older publish arriving after a newer one is not a conflict, and within
//! that time the echo of the newer one has shown the broker holds ours. A topic is put back
//! at most once per [`MIN_GAP`], so a fight with another publisher is bounded, and each
//! restore is logged (a WARN per topic at most every [`WARN_EVERY`], with the count). All of
//! it is in memory and wakes only when a message arrives: an idle store stays idle.
//!
//! After a reconnect the link publishes every value again (a new broker has forgotten them),
//! except presence, which waits for its gate ([`super::spawn_gated`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rumqttc::QoS;
use tracing::{debug, warn};

use super::LinkTask;

/// How long a differing value must stand before it is put back.
pub const SETTLE: Duration = Duration::from_millis(250);
/// Shortest time between two restores of one topic.
pub const MIN_GAP: Duration = Duration::from_millis(500);
/// Shortest time between two WARNs about one topic.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// One owned topic.
#[derive(Debug, Default)]
struct Topic {
    /// What this link last published on it.
    mine: Vec<u8>,
    /// The broker's last value seen differs from `mine`.
    differs: bool,
    /// When to look again and put `mine` back if it still differs.
    due: Option<Instant>,
    last_restore: Option<Instant>,
    last_warn: Option<Instant>,
    /// Restores since the last WARN.
    unreported: u32,
}

/// The retained topics a link owns.
#[derive(Debug, Default)]
pub(super) struct Owned {
    topics: HashMap<String, Topic>,
}

impl Owned {
    /// Records a retained publish of ours; true if the topic is new (to subscribe to).
    pub(super) fn published(&mut self, topic: &str, payload: &[u8]) -> bool {
        let new = !self.topics.contains_key(topic);
        let t = self.topics.entry(topic.to_owned()).or_default();
        if t.mine != payload {
            t.mine = payload.to_vec();
        }
        // The broker now holds this (a newer conflicting value will be seen again).
        t.differs = false;
        new
    }

    /// Whether this link owns `topic` (its deliveries are the link's own business).
    pub(super) fn owns(&self, topic: &str) -> bool {
        self.topics.contains_key(topic)
    }

    /// The broker's value of `topic` as delivered: schedules a restore if it is not ours.
    pub(super) fn seen(&mut self, topic: &str, payload: &[u8], now: Instant) {
        let Some(t) = self.topics.get_mut(topic) else {
            return;
        };
        t.differs = t.mine != payload;
        if t.differs && t.due.is_none() {
            let earliest = t.last_restore.map_or(now, |at| at + MIN_GAP);
            t.due = Some((now + SETTLE).max(earliest));
        }
    }

    /// When the next restore is due, if any.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.topics.values().filter_map(|t| t.due).min()
    }

    /// The values to publish again now: those still differing once their time came.
    pub(super) fn due(&mut self, now: Instant) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for (topic, t) in &mut self.topics {
            if t.due.is_none_or(|at| at > now) {
                continue;
            }
            t.due = None;
            if !std::mem::take(&mut t.differs) {
                continue;
            }
            t.last_restore = Some(now);
            t.unreported = t.unreported.saturating_add(1);
            if t.last_warn.is_none_or(|at| now >= at + WARN_EVERY) {
                warn!(%topic, restores = t.unreported, "Retained topic erased or overwritten by someone else; publishing ours again.");
                t.last_warn = Some(now);
                t.unreported = 0;
            } else {
                debug!(%topic, "Retained topic overwritten again; publishing ours again.");
            }
            out.push((topic.clone(), t.mine.clone()));
        }
        out
    }

    /// After a reconnect: every value to publish again (pending restores are part of it).
    pub(super) fn all(&mut self) -> Vec<(String, Vec<u8>)> {
        for t in self.topics.values_mut() {
            (t.due, t.differs) = (None, false);
        }
        let all = self.topics.iter();
        all.map(|(k, t)| (k.clone(), t.mine.clone())).collect()
    }

    /// Stops owning `topic` until it is published again.
    pub(super) fn forget(&mut self, topic: &str) {
        self.topics.remove(topic);
    }

    /// Every owned topic.
    pub(super) fn topics(&self) -> impl Iterator<Item = &String> {
        self.topics.keys()
    }
}

impl LinkTask {
    /// Records a retained publish just submitted; subscribes to its topic the first time.
    pub(super) fn own(&mut self, topic: &str, payload: &[u8]) {
        if self.owned.published(topic, payload) {
            if let Err(e) = self.client.try_subscribe(topic, QoS::AtLeastOnce) {
                warn!(%topic, error = %e, "Cannot watch a retained topic; will on reconnect.");
            }
        }
    }

    /// Whether a delivery on `topic` is the broker telling us about a topic we own.
    pub(super) fn watches(&self, topic: &str) -> bool {
        self.config.presence.as_deref() == Some(topic) || self.owned.owns(topic)
    }

    /// Queues the values whose restore is due.
    pub(super) fn restore_due(&mut self) {
        for (topic, payload) in self.owned.due(Instant::now()) {
            self.direct.push_back((topic, payload, true));
        }
    }

    /// After a connect: presence waits for its gate; every other owned value goes again.
    pub(super) fn republish_owned(&mut self) {
        if let Some(presence) = &self.config.presence {
            self.owned.forget(presence);
        }
        for (topic, payload) in self.owned.all() {
            self.direct.push_back((topic, payload, true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOARD: &str = milo_contracts::topics::BOARDS_PICKUP;

    #[test]
    fn our_own_echoes_never_cause_a_restore() {
        let mut owned = Owned::default();
        let t0 = Instant::now();
        assert!(owned.published(BOARD, b"a"));
        assert!(!owned.published(BOARD, b"b"));
        // The echo of the older publish comes after the newer one was sent, then its own.
        owned.seen(BOARD, b"a", t0);
        owned.seen(BOARD, b"b", t0 + Duration::from_millis(5));
        assert!(owned.due(t0 + SETTLE).is_empty());
        assert_eq!(owned.next_due(), None);
    }

    #[test]
    fn an_erased_or_overwritten_value_goes_back_after_settling() {
        let mut owned = Owned::default();
        let t0 = Instant::now();
        owned.published(BOARD, b"board");
        owned.seen(BOARD, b"", t0);
        assert_eq!(owned.next_due(), Some(t0 + SETTLE));
        assert!(owned.due(t0).is_empty());
        let back = owned.due(t0 + SETTLE);
        assert_eq!(back, vec![(BOARD.to_owned(), b"board".to_vec())]);
        assert_eq!(owned.next_due(), None);
    }

    #[test]
    fn a_fight_with_another_publisher_is_bounded_per_topic() {
        let mut owned = Owned::default();
        let t0 = Instant::now();
        owned.published(BOARD, b"board");
        let mut restores = 0;
        // Junk every 10 ms for 5 s, each restore echoed back at once.
        for ms in (0..5_000).step_by(10) {
            let now = t0 + Duration::from_millis(ms);
            owned.seen(BOARD, b"junk", now);
            for (topic, payload) in owned.due(now) {
                restores += 1;
                owned.seen(&topic, &payload, now);
            }
        }
        assert!(restores <= 10, "{restores} restores in 5 s");
        assert!(restores >= 8, "{restores} restores in 5 s");
    }

    #[test]
    fn a_reconnect_publishes_everything_and_cancels_pending_restores() {
        let mut owned = Owned::default();
        let t0 = Instant::now();
        owned.published(BOARD, b"board");
        owned.published(&milo_contracts::topics::device_telemetry("bar-1"), b"t");
        owned.seen(BOARD, b"junk", t0);
        let mut all = owned.all();
        all.sort();
        assert_eq!(all.len(), 2);
        assert_eq!(owned.next_due(), None);
        owned.forget(BOARD);
        assert!(!owned.owns(BOARD));
    }
}
