//! What a consumer has of each producer's numbered events, and the gaps it asks for.
//!
//! Per producer and topic, a [`Mark`]: the last number it has with none missing before it
//! (`upto`), and the ranges it has beyond (`ahead`, when events came past a gap). Marks are
//! written in the group that applied the events (`_m/<producer>\0<topic>`), so after a crash
//! they say exactly what the store holds. A gap is asked for once it is a second old (a replay
//! or a reconnect may be filling it), then again with a growing pause while it stays; after a
//! session loss the link asks every producer for everything after the marks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use milo_contracts::replay::{Range, ReplayRequest};
use serde::{Deserialize, Serialize};

use crate::store::{self, Store, StoreError, BORN, MARKS};

/// Ranges asked for by this process's parts since it started.
static ASKED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many missing ranges this process's parts have asked producers for (a gap seen in a
/// producer's numbers), since the process started.
pub fn ranges_asked() -> u64 {
    ASKED.load(std::sync::atomic::Ordering::Relaxed)
}

/// How long a gap may stay before it is asked for.
const GAP_GRACE: Duration = Duration::from_secs(1);
/// Longest pause between two asks for the same gap.
const MAX_PAUSE: Duration = Duration::from_secs(30);
/// Most ranges one request names.
const MAX_RANGES: usize = 256;

/// What a consumer has of one producer's topic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// Every number up to this one is had.
    pub upto: u64,
    /// Ranges had beyond a gap, sorted, disjoint, none touching `upto`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ahead: Vec<(u64, u64)>,
}

/// Whether an event was new to a mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Had already.
    Repeat,
    /// New, and nothing is missing before it.
    Next,
    /// New, past a gap.
    PastGap,
}

impl Mark {
    /// Records event `n`.
    pub fn see(&mut self, n: u64) -> Seen {
        if self.has(n) {
            return Seen::Repeat;
        }
        self.add(n, n);
        if self.ahead.is_empty() {
            Seen::Next
        } else {
            Seen::PastGap
        }
    }

    fn has(&self, n: u64) -> bool {
        n <= self.upto || self.ahead.iter().any(|(a, b)| *a <= n && n <= *b)
    }

    /// Records `from..=to` as had (events a producer no longer holds, given up).
    pub fn add(&mut self, from: u64, to: u64) {
        let (mut from, mut to) = (from.max(self.upto + 1), to);
        if from > to {
            return;
        }
        let mut kept = Vec::with_capacity(self.ahead.len() + 1);
        for (a, b) in self.ahead.drain(..) {
            if b.saturating_add(1) < from || a > to.saturating_add(1) {
                kept.push((a, b));
            } else {
                from = from.min(a);
                to = to.max(b);
            }
        }
        kept.push((from, to));
        kept.sort_unstable();
        self.ahead = kept;
        while let Some((a, b)) = self.ahead.first().copied() {
            if a > self.upto + 1 {
                break;
            }
            self.upto = self.upto.max(b);
            self.ahead.remove(0);
        }
    }

    /// The ranges missing below the highest number had.
    pub fn missing(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut next = self.upto + 1;
        for (a, b) in &self.ahead {
            if *a > next {
                out.push((next, a - 1));
            }
            next = b + 1;
        }
        out
    }
}

type Key = (String, String);

#[derive(Debug, Default)]
struct Inner {
    /// When this part's store began (ms since the Unix epoch; 0: not known).
    born_ms: u64,
    marks: BTreeMap<Key, Mark>,
    /// Changed since the last group wrote them.
    dirty: BTreeSet<Key>,
    /// Producers' topics with a gap: since when, when last asked, the pause before the next.
    gaps: BTreeMap<Key, Gap>,
}

#[derive(Debug, Clone, Copy)]
struct Gap {
    due: Instant,
    pause: Duration,
}

/// A consumer's marks, shared by its group loop and its subscribing link.
#[derive(Debug, Clone, Default)]
pub struct Marks(Arc<Mutex<Inner>>);

/// The store key of a mark.
fn key_of(producer: &str, topic: &str) -> Vec<u8> {
    let mut k = MARKS.as_bytes().to_vec();
    k.extend_from_slice(producer.as_bytes());
    k.push(0);
    k.extend_from_slice(topic.as_bytes());
    k
}

impl Marks {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The marks a store holds; gaps among them are asked for soon. A store without a birth
    /// time gets one now: producers hand it nothing made before.
    pub fn load(store: &Store) -> Result<Marks, StoreError> {
        let marks = Marks::default();
        {
            let mut inner = marks.lock();
            inner.born_ms = match store.raw_get(BORN.as_bytes())? {
                Some(v) => store::decode(BORN, &v)?,
                None => {
                    let now = u64::try_from(crate::retry::now_ms()).unwrap_or(0);
                    store.raw_insert(BORN.as_bytes(), now.to_string().into_bytes())?;
                    now
                }
            };
            for (k, v) in store.raw_scan(MARKS.as_bytes(), usize::MAX)? {
                let rest = &k[MARKS.len()..];
                let Some(split) = rest.iter().position(|b| *b == 0) else {
                    continue;
                };
                let producer = String::from_utf8_lossy(&rest[..split]).into_owned();
                let topic = String::from_utf8_lossy(&rest[split + 1..]).into_owned();
                let mark: Mark = store::decode(&String::from_utf8_lossy(&k), &v)?;
                let key = (producer, topic);
                if !mark.ahead.is_empty() {
                    inner.gaps.insert(
                        key.clone(),
                        Gap {
                            due: Instant::now() + GAP_GRACE,
                            pause: GAP_GRACE,
                        },
                    );
                }
                inner.marks.insert(key, mark);
            }
        }
        Ok(marks)
    }

    /// Records event `seq` of `producer` on `topic`.
    pub fn see(&self, producer: &str, topic: &str, seq: u64) -> Seen {
        let mut inner = self.lock();
        let key = (producer.to_owned(), topic.to_owned());
        let seen = inner.marks.entry(key.clone()).or_default().see(seq);
        if seen != Seen::Repeat {
            inner.dirty.insert(key.clone());
        }
        if seen == Seen::Next {
            inner.gaps.remove(&key);
        }
        if seen == Seen::PastGap && !inner.gaps.contains_key(&key) {
            let due = Instant::now() + GAP_GRACE;
            inner.gaps.insert(
                key,
                Gap {
                    due,
                    pause: GAP_GRACE,
                },
            );
        }
        seen
    }

    /// Gives up `from..=to` of `producer` on `topic` (no longer in its log); false if they
    /// were all had already.
    pub fn give_up(&self, producer: &str, topic: &str, from: u64, to: u64) -> bool {
        let mut inner = self.lock();
        let key = (producer.to_owned(), topic.to_owned());
        let mark = inner.marks.entry(key.clone()).or_default();
        let before = mark.clone();
        mark.add(from, to);
        let changed = *mark != before;
        let closed = mark.ahead.is_empty();
        if changed {
            inner.dirty.insert(key.clone());
        }
        if closed {
            inner.gaps.remove(&key);
        }
        changed
    }

    /// The marks changed since the last call, as store writes.
    pub(crate) fn take_dirty(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut inner = self.lock();
        let dirty = std::mem::take(&mut inner.dirty);
        dirty
            .into_iter()
            .filter_map(|key| {
                let mark = inner.marks.get(&key)?;
                Some((
                    key_of(&key.0, &key.1),
                    serde_json::to_vec(mark).unwrap_or_default(),
                ))
            })
            .collect()
    }

    /// When the next gap is to be asked for.
    pub fn next_due(&self) -> Option<Instant> {
        self.lock().gaps.values().map(|g| g.due).min()
    }

    /// The request for the gaps due at `now` (none if none is); gaps that closed are
    /// forgotten.
    pub fn due_request(&self, consumer: &str, now: Instant) -> Option<ReplayRequest> {
        let mut inner = self.lock();
        let Inner { marks, gaps, .. } = &mut *inner;
        gaps.retain(|key, _| marks.get(key).is_some_and(|m| !m.ahead.is_empty()));
        let mut ranges = Vec::new();
        for (key, gap) in gaps.iter_mut().filter(|(_, g)| g.due <= now) {
            let missing = marks.get(key).map(Mark::missing).unwrap_or_default();
            for (from, to) in missing {
                if ranges.len() < MAX_RANGES {
                    ranges.push(Range {
                        producer: key.0.clone(),
                        topic: key.1.clone(),
                        from,
                        to,
                    });
                }
            }
            gap.pause = (gap.pause * 2).min(MAX_PAUSE);
            gap.due = now + gap.pause;
        }
        ASKED.fetch_add(ranges.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let since_ms = Some(inner.born_ms).filter(|b| *b > 0);
        (!ranges.is_empty()).then(|| ReplayRequest {
            consumer: consumer.to_owned(),
            ranges,
            since_ms,
            ..Default::default()
        })
    }

    /// After a session loss: everything after what this consumer has, on `filters`.
    pub fn session_request(&self, consumer: &str, filters: &[String]) -> ReplayRequest {
        let inner = self.lock();
        let mut after: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for ((producer, topic), mark) in &inner.marks {
            after
                .entry(producer.clone())
                .or_default()
                .insert(topic.clone(), mark.upto);
        }
        ReplayRequest {
            consumer: consumer.to_owned(),
            filters: filters.to_vec(),
            after,
            ranges: Vec::new(),
            since_ms: Some(inner.born_ms).filter(|b| *b > 0),
        }
    }

    /// The marks, for tests and `milo trace`: producer, topic, mark.
    pub fn snapshot(&self) -> Vec<(String, String, Mark)> {
        let inner = self.lock();
        (inner.marks.iter())
            .map(|((p, t), m)| (p.clone(), t.clone(), m.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use milo_contracts::topics;

    #[test]
    fn a_mark_tells_repeats_from_gaps_and_closes_them() {
        let mut m = Mark::default();
        assert_eq!(m.see(1), Seen::Next);
        assert_eq!(m.see(2), Seen::Next);
        assert_eq!(m.see(2), Seen::Repeat);
        assert_eq!(m.see(5), Seen::PastGap);
        assert_eq!(m.see(7), Seen::PastGap);
        assert_eq!(m.missing(), vec![(3, 4), (6, 6)]);
        assert_eq!(m.see(5), Seen::Repeat);
        assert_eq!(m.see(3), Seen::PastGap);
        assert_eq!(m.see(4), Seen::PastGap);
        assert_eq!((m.upto, m.missing()), (5, vec![(6, 6)]));
        assert_eq!(m.see(6), Seen::Next);
        assert_eq!((m.upto, m.ahead.len()), (7, 0));
        // Given up: a range the producer no longer holds counts as had.
        m.see(20);
        m.add(8, 19);
        assert_eq!((m.upto, m.ahead.len()), (20, 0));
    }

    #[test]
    fn gaps_are_asked_after_a_grace_and_forgotten_once_closed() {
        let marks = Marks::default();
        marks.see("order", topics::ORDERS_CREATED, 1);
        marks.see("order", topics::ORDERS_CREATED, 4);
        let now = Instant::now();
        assert!(
            marks.due_request("analytics", now).is_none(),
            "within the grace"
        );
        let due = marks.next_due().unwrap();
        assert!(due > now);
        let ask = marks.due_request("analytics", due).unwrap();
        assert_eq!(
            ask.ranges,
            vec![Range {
                producer: "order".into(),
                topic: topics::ORDERS_CREATED.into(),
                from: 2,
                to: 3
            }]
        );
        assert!(marks.due_request("analytics", due).is_none(), "paused");
        assert!(marks.next_due().unwrap() >= due + GAP_GRACE);
        marks.see("order", topics::ORDERS_CREATED, 2);
        marks.see("order", topics::ORDERS_CREATED, 3);
        assert_eq!(marks.next_due(), None, "the closed gap is forgotten");
        let s = marks.session_request("analytics", &[topics::ORDERS_ALL.into()]);
        assert_eq!(s.after["order"][topics::ORDERS_CREATED], 4);
    }
}
