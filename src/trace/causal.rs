//! An order's events in causal order: every event after the event that caused it, and among
//! the events whose causes are out, the earliest first (by `occurred_at`, then producer, then
//! the producer's own log order). Parts on different boards have different clocks; the causal
//! links keep an effect after its cause whatever their clocks say.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use milo_contracts::trace::TracedEvent;
use time::OffsetDateTime;
use uuid::Uuid;

/// Indices of `events` (distinct ids) in causal order. An event whose cause is not among
/// them is a root; events caught in a cycle of causes (a corrupt log) come last, by time.
pub fn order(events: &[TracedEvent]) -> Vec<usize> {
    let index: HashMap<Uuid, usize> = events.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut ready = BinaryHeap::new();
    for (i, e) in events.iter().enumerate() {
        match e.causation_id.and_then(|c| index.get(&c)) {
            Some(&cause) if cause != i => children.entry(cause).or_default().push(i),
            _ => ready.push(Reverse(rank(e, i))),
        }
    }
    let mut out = Vec::with_capacity(events.len());
    let mut done = vec![false; events.len()];
    while let Some(Reverse((.., i))) = ready.pop() {
        out.push(i);
        done[i] = true;
        for &child in children.get(&i).into_iter().flatten() {
            ready.push(Reverse(rank(&events[child], child)));
        }
    }
    let mut stuck: Vec<usize> = (0..events.len()).filter(|i| !done[*i]).collect();
    stuck.sort_by_key(|&i| rank(&events[i], i));
    out.extend(stuck);
    out
}

/// What decides between events whose causes are all out.
fn rank(e: &TracedEvent, i: usize) -> (OffsetDateTime, String, u64, usize) {
    (e.occurred_at, e.source.clone(), e.key, i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn event(source: &str, at_ms: i64, cause: Option<Uuid>) -> TracedEvent {
        TracedEvent {
            id: Uuid::now_v7(),
            kind: "X".into(),
            version: 1,
            topic: "t".into(),
            source: source.into(),
            seq: None,
            occurred_at: OffsetDateTime::UNIX_EPOCH + Duration::milliseconds(at_ms),
            causation_id: cause,
            key: 1,
            fingerprint: 0,
        }
    }

    #[test]
    fn an_effect_follows_its_cause_whatever_the_clocks_say() {
        let created = event("order", 100, None);
        // The bar board's clock is 50 ms behind: its answer reads as earlier than its cause.
        let started = event("barista-device-bar-1", 60, Some(created.id));
        let failed = event("payment", 110, Some(created.id));
        let unrelated = event("analytics", 105, Some(Uuid::now_v7()));
        let events = [failed.clone(), started, unrelated, created];
        // created (root, 100), then unrelated (root, 105) and started (60) are out: started
        // first (earlier), then unrelated, then failed (110).
        assert_eq!(order(&events), [3, 1, 2, 0]);
    }

    #[test]
    fn ties_go_to_the_producer_then_its_log_order_and_cycles_end_last() {
        let mut a = event("payment", 100, None);
        let mut b = event("inventory", 100, None);
        b.key = 9;
        a.key = 1;
        let mut c = event("inventory", 100, None);
        c.key = 2;
        let mut x = event("order", 50, None);
        let y = event("order", 40, Some(x.id));
        x.causation_id = Some(y.id);
        assert_eq!(order(&[a, b, c, x, y]), [2, 1, 0, 4, 3]);
    }
}
