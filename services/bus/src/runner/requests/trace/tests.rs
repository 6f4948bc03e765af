use std::time::Duration;

use milo_contracts::dead_letters::{DeadLetterOp, DeadLettersAnswered, DeadLettersRequested};
use milo_contracts::events::OrderFailed;
use milo_contracts::RawEnvelope;
use time::OffsetDateTime;

use super::*;
use crate::runner::{Rejection, Service};
use crate::tx::Tx;
use crate::{Store, StoreConfig};

const PART: &str = "test";

struct Idle;

impl Service for Idle {
    type Command = ();
    fn name(&self) -> String {
        PART.into()
    }
    fn subscriptions(&self) -> Vec<String> {
        Vec::new()
    }
    fn on_event(&mut self, _: &mut Tx, _: &str, _: &RawEnvelope) -> Result<(), Rejection> {
        Ok(())
    }
}

/// Asks `op` through the group; the answer, checked to fit `max_payload`.
fn ask(group: &mut Group, op: DeadLetterOp) -> DeadLetterAnswer {
    let expires = OffsetDateTime::now_utc() + Duration::from_secs(60);
    let request = DeadLettersRequested::envelope(PART, expires, op).to_json();
    group.request(&mut Idle, &request).unwrap();
    let (_, reply) = group.replies.pop().expect("an answer");
    assert!(reply.len() <= group.max_payload, "{} bytes", reply.len());
    let env = RawEnvelope::parse(&reply).unwrap();
    env.decode::<DeadLettersAnswered>().unwrap().answer
}

#[test]
fn a_running_part_answers_a_trace_in_pages_that_fit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let order = Uuid::now_v7();
    let mut group = Group::new(PART, &store, 2048, Default::default());
    let mut published = Vec::new();
    for _ in 0..30 {
        let mut tx = group.tx();
        let failed = OrderFailed {
            order_id: order,
            reason: "payment declined".into(),
            consumed: Default::default(),
        };
        let event = tx.event(order, None, failed);
        tx.publish(&event).unwrap();
        group.commit(tx).unwrap();
        published.push(event.id);
    }
    let (mut seen, mut from, mut upto, mut pages) = (Vec::new(), 0, None, 0);
    loop {
        let answer = ask(
            &mut group,
            DeadLetterOp::Trace {
                order_id: order,
                from,
                upto,
            },
        );
        let DeadLetterAnswer::Trace {
            events, omitted, ..
        } = &answer
        else {
            panic!("not a trace: {answer:?}")
        };
        assert_eq!(*omitted, 0);
        seen.extend(events.iter().map(|e| e.id));
        pages += 1;
        let Some((next, end)) = answer.more() else {
            break;
        };
        (from, upto) = (next, Some(end));
    }
    assert!(pages > 1, "30 events in one answer of 2 KiB?");
    assert_eq!(seen, published);

    let mut tx = group.tx();
    tx.put(&format!("_i/{}", published[0]), &7u64);
    group.commit(tx).unwrap();
    let unseen = Uuid::now_v7();
    let inbox = ask(
        &mut group,
        DeadLetterOp::Inbox {
            events: vec![published[0], unseen],
        },
    );
    assert_eq!(
        inbox,
        DeadLetterAnswer::Inbox {
            held: vec![Some(7), None]
        }
    );
    let letters = ask(
        &mut group,
        DeadLetterOp::OrderLetters {
            order_id: order,
            from: 0,
            upto: None,
        },
    );
    assert!(
        matches!(letters, DeadLetterAnswer::OrderLetters { letters, next: None, .. } if letters.is_empty())
    );
}
