use milo_contracts::events::OrderRejected;
use milo_contracts::replay::Range;
use milo_contracts::{topics, RawEnvelope};
use uuid::Uuid;

use super::*;
use crate::tx::{Overlay, Tx};
use crate::StoreConfig;

fn open(dir: &std::path::Path, log_mb: u32) -> Store {
    let config = StoreConfig {
        fsync: false,
        log_mb,
        ..StoreConfig::default()
    };
    Store::open(dir, &config).unwrap()
}

/// One group: `n` rejections published by `order`, plus one retained board.
fn publish(store: &Store, n: usize) {
    let overlay = Overlay::default();
    for _ in 0..n {
        let mut tx = Tx::new(store.clone(), overlay.clone(), "order", 1 << 16);
        let id = Uuid::now_v7();
        let event = tx.event(
            id,
            None,
            OrderRejected {
                order_id: id,
                reason: "unknown item".into(),
            },
        );
        tx.publish(&event).unwrap();
        tx.publish_raw_retained(topics::BOARDS_PICKUP, b"{}".to_vec())
            .unwrap();
        tx.commit().unwrap();
    }
    store.apply(overlay.take_batch().unwrap()).unwrap();
}

fn serve(relay: &mut Relay, requests: &[ReplayRequest]) -> Vec<EventsUnavailable> {
    let asks = requests.iter().flat_map(|r| relay.asks(r)).collect();
    relay.serve(asks)
}

fn seqs(relay: &Relay) -> Vec<Option<u64>> {
    relay.queue.iter().map(|(_, e)| e.seq).collect()
}

fn ack_all(relay: &mut Relay) {
    let keys: Vec<u64> = relay.queue.drain(..).map(|(k, _)| k).collect();
    for k in keys {
        relay.acked(k);
    }
}

#[test]
fn events_are_numbered_per_topic_without_gaps_and_kept_after_their_puback() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 64);
    publish(&store, 3);
    publish(&store, 2);
    let mut relay = Relay::new(store.clone(), "order".into()).unwrap();
    relay.reload();
    // Numbered in order across groups; the retained board is not numbered.
    let numbered: Vec<u64> = seqs(&relay).into_iter().flatten().collect();
    assert_eq!(numbered, vec![1, 2, 3, 4, 5]);
    let (_, first) = &relay.queue[0];
    let env = RawEnvelope::parse(&first.payload).unwrap();
    assert_eq!((env.seq, env.source.as_str()), (Some(1), "order"));
    assert_eq!(
        log::heads(&store).unwrap(),
        vec![(topics::ORDERS_REJECTED.to_owned(), 5)]
    );
    ack_all(&mut relay);
    // The log keeps the five events; the boards are gone once PUBACKed.
    let kept: Vec<_> = log::entries(&store, 1).collect();
    assert_eq!(kept.len(), 5);
    assert!(kept.iter().all(|e| e.seq.is_some() && !e.retain));
    // A reconnect publishes nothing again: everything was PUBACKed.
    relay.reload();
    assert!(relay.queue.is_empty());
    // Saved and reopened, the relay starts after what was PUBACKed.
    relay.pruned_at = None;
    relay.tidy();
    drop(relay);
    let mut again = Relay::new(store, "order".into()).unwrap();
    again.reload();
    assert!(again.queue.is_empty());
}

#[test]
fn a_replay_serves_exactly_the_range_asked_and_says_what_the_log_no_longer_holds() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 64);
    publish(&store, 10);
    let mut relay = Relay::new(store.clone(), "order".into()).unwrap();
    relay.reload();
    ack_all(&mut relay);
    let ask = |from, to| ReplayRequest {
        consumer: "analytics".into(),
        ranges: vec![Range {
            producer: "order".into(),
            topic: topics::ORDERS_REJECTED.into(),
            from,
            to,
        }],
        ..Default::default()
    };
    assert!(serve(&mut relay, &[ask(4, 6), ask(5, 7)]).is_empty());
    assert_eq!(seqs(&relay), vec![Some(4), Some(5), Some(6), Some(7)]);
    relay.queue.clear();
    // A part does not ask itself: it keeps no marks of its own events.
    let mut own = ask(1, 2);
    own.consumer = "order".into();
    assert!(serve(&mut relay, &[own]).is_empty() && relay.queue.is_empty());
    // Another producer's range is not ours.
    let mut other = ask(1, 2);
    other.ranges[0].producer = "payment".into();
    assert!(serve(&mut relay, &[other]).is_empty() && relay.queue.is_empty());
    // After a session loss: everything after the consumer's mark on the topics it reads.
    let mut lost = ReplayRequest {
        consumer: "analytics".into(),
        filters: vec![topics::ORDERS_ALL.into()],
        ..Default::default()
    };
    lost.after.insert(
        "order".into(),
        [(topics::ORDERS_REJECTED.to_owned(), 8)].into(),
    );
    assert!(serve(&mut relay, &[lost]).is_empty());
    assert_eq!(seqs(&relay), vec![Some(9), Some(10)]);
    relay.queue.clear();
    // Pruned below 4: asking from 2 gets 4.. and word that 2..=3 are gone.
    let mut batch = store::Batch::default();
    for e in log::entries(&store, 1).take(3) {
        batch.remove(store::seq_key(OUTBOX, e.key));
        batch.remove(log::index_key(&e.topic, e.seq.unwrap()));
    }
    store.apply(batch).unwrap();
    let gone = serve(&mut relay, &[ask(2, 5)]);
    assert_eq!(
        gone,
        vec![EventsUnavailable {
            consumer: "analytics".into(),
            topic: topics::ORDERS_REJECTED.into(),
            from: 2,
            to: 3,
            oldest: Some(4),
            before_consumer: false,
        }]
    );
    assert_eq!(seqs(&relay), vec![Some(4), Some(5)]);
}

#[test]
fn the_log_is_pruned_oldest_first_past_its_size_but_never_what_waits_for_its_puback() {
    let dir = tempfile::tempdir().unwrap();
    // A 1 MB log, and about 1.5 MB of events.
    let store = open(dir.path(), 1);
    for _ in 0..20 {
        publish(&store, 250);
    }
    let mut relay = Relay::new(store.clone(), "order".into()).unwrap();
    relay.reload();
    let total = relay.state.bytes;
    assert!(
        total > 1024 * 1024,
        "the test needs more than the limit: {total}"
    );
    // Nothing PUBACKed yet: nothing may go.
    relay.tidy();
    assert_eq!(log::entries(&store, 1).count(), 10_000);
    ack_all(&mut relay);
    // PUBACKed, the boards are gone; idle, no event is pruned (nor anything written) until
    // the part publishes again.
    relay.pruned_at = None;
    relay.tidy();
    assert_eq!(log::entries(&store, 1).count(), 5_000);
    publish(&store, 1);
    relay.durable(u64::MAX, true);
    ack_all(&mut relay);
    relay.pruned_at = None;
    relay.tidy();
    assert!(relay.state.bytes <= 1024 * 1024, "{}", relay.state.bytes);
    let oldest = log::oldest(&store, topics::ORDERS_REJECTED)
        .unwrap()
        .unwrap();
    assert!(oldest > 1);
    let held: Vec<u64> = log::entries(&store, 1).filter_map(|e| e.seq).collect();
    let expected: Vec<u64> = (oldest..=5001).collect();
    let ends = |v: &[u64]| (v.first().copied(), v.last().copied(), v.len());
    assert!(
        held == expected,
        "the newest kept with no hole: {:?}",
        ends(&held)
    );
}

#[test]
fn a_consumer_is_never_handed_what_was_made_before_its_store_began() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 64);
    publish(&store, 10);
    let mut relay = Relay::new(store.clone(), "order".into()).unwrap();
    relay.reload();
    ack_all(&mut relay);
    let newest = log::entries(&store, 1).map(|e| e.at_ms).max().unwrap();
    // A new station, a replaced board, a wiped store: no marks, born after every event.
    let fresh = |since_ms| ReplayRequest {
        consumer: "barista-device-bar-2".into(),
        filters: vec![topics::ORDERS_ALL.into()],
        since_ms: Some(since_ms),
        ..Default::default()
    };
    let gone = serve(&mut relay, &[fresh(newest + 1)]);
    assert!(relay.queue.is_empty(), "old events handed to a new part");
    assert_eq!(gone.len(), 1);
    assert_eq!(
        (gone[0].from, gone[0].to, gone[0].before_consumer),
        (1, 10, true)
    );
    // Born before them: every one is its business.
    assert!(serve(&mut relay, &[fresh(1)]).is_empty());
    assert_eq!(relay.queue.len(), 10);
}
