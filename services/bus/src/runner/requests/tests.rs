use std::time::Duration;

use milo_contracts::dead_letters::{DeadLetterAnswer, DeadLetterOp, ReplayOutcome};
use milo_contracts::{topics, RawEnvelope};
use time::OffsetDateTime;
use uuid::Uuid;

use super::*;
use crate::{Store, StoreConfig, Tx};

const PART: &str = "test";

/// Takes events of type `Good` (noting each), refuses every other.
struct Picky;

impl Service for Picky {
    type Command = ();
    fn name(&self) -> String {
        PART.into()
    }
    fn subscriptions(&self) -> Vec<String> {
        Vec::new()
    }
    fn on_event(&mut self, tx: &mut Tx, _: &str, event: &RawEnvelope) -> Result<(), Rejection> {
        if event.kind != "Good" {
            return Err(Rejection::Invalid("not good".into()));
        }
        tx.put(&format!("seen/{}", event.id), &1u32);
        Ok(())
    }
}

fn store(dir: &tempfile::TempDir) -> Store {
    let config = StoreConfig {
        fsync: false,
        ..StoreConfig::default()
    };
    Store::open(dir.path(), &config).unwrap()
}

fn event(kind: &str) -> Vec<u8> {
    format!(
        r#"{{"id":"{}","type":"{kind}","version":1,"occurred_at":"2025-01-01T00:00:00Z","correlation_id":"{}","causation_id":null,"source":"pos","data":{{}}}}"#,
        Uuid::now_v7(),
        Uuid::nil()
    )
    .into_bytes()
}

fn request(op: DeadLetterOp) -> Vec<u8> {
    let expires = OffsetDateTime::now_utc() + Duration::from_secs(60);
    DeadLettersRequested::envelope(PART, expires, op).to_json()
}

/// Sends `payload` as a request; the answer, checked to fit `max_payload`, if there is one.
fn send(group: &mut Group, payload: &[u8]) -> Option<DeadLetterAnswer> {
    group.request(&mut Picky, payload).unwrap();
    group.flush().unwrap();
    let (topic, reply) = group.replies.pop()?;
    assert!(reply.len() <= group.max_payload, "{} bytes", reply.len());
    assert!(topic.starts_with(&format!("replies/{PART}/dead-letters/")));
    let env = RawEnvelope::parse(&reply).unwrap();
    Some(env.decode::<DeadLettersAnswered>().unwrap().answer)
}

fn ask(group: &mut Group, op: DeadLetterOp) -> DeadLetterAnswer {
    send(group, &request(op)).expect("an answer")
}

#[test]
fn answers_fit_one_payload_and_pages_cover_every_letter() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let (topic, reason, payload) = ("t/".repeat(900), "\u{1}".repeat(3000), "\"".repeat(9000));
    for _ in 0..30 {
        store
            .record_dead_letter(&topic, payload.as_bytes(), &reason)
            .unwrap();
    }
    let mut group = Group::new(PART, &store, 4096, Default::default());
    let (mut seen, mut from, mut pages) = (Vec::new(), 0, 0);
    let upto = loop {
        let DeadLetterAnswer::List {
            letters,
            upto,
            next,
        } = ask(&mut group, DeadLetterOp::List { from, upto: None })
        else {
            panic!("not a list")
        };
        pages += 1;
        seen.extend(letters.iter().map(|l| l.id));
        assert!(letters.iter().all(|l| l.payload_bytes == 9000));
        match next {
            Some(n) => from = n,
            None => break upto,
        }
    };
    assert!(pages > 1, "one page of 30 long letters in 4 KiB?");
    assert_eq!(seen, (1..=upto).collect::<Vec<_>>()[upto as usize - 30..]);
    let DeadLetterAnswer::Show {
        letter: Some(letter),
        payload_bytes,
    } = ask(&mut group, DeadLetterOp::Show { id: seen[0] })
    else {
        panic!("no letter")
    };
    assert_eq!(payload_bytes, 9000);
    assert!(letter.payload.starts_with("\"\"\"") && letter.payload.ends_with('…'));
    let none = ask(&mut group, DeadLetterOp::Show { id: 999_999 });
    assert!(matches!(none, DeadLetterAnswer::Show { letter: None, .. }));
}

#[test]
fn a_live_replay_applies_refuses_again_or_finds_a_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let good = event("Good");
    let a = store.record_dead_letter("x", &good, "was down").unwrap();
    let b = store.record_dead_letter("x", &event("Bad"), "bad").unwrap();
    let c = store.record_dead_letter("x", &good, "was down").unwrap();
    let mut group = Group::new(PART, &store, 64 * 1024, Default::default());
    let DeadLetterAnswer::Replay { replayed, next, .. } = ask(
        &mut group,
        DeadLetterOp::Replay {
            from: 0,
            upto: None,
        },
    ) else {
        panic!("not a replay")
    };
    assert_eq!(next, None);
    let outcomes: Vec<(u64, &ReplayOutcome)> =
        replayed.iter().map(|r| (r.id, &r.outcome)).collect();
    assert_eq!(outcomes[0], (a, &ReplayOutcome::Applied));
    assert!(
        matches!(outcomes[1], (id, ReplayOutcome::DeadLettered { reason, id: new })
        if id == b && reason == "not good" && *new > c)
    );
    assert_eq!(outcomes[2], (c, &ReplayOutcome::Repeat));
    let left: Vec<u64> = store
        .dead_letters(0, 10)
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(
        left.len(),
        1,
        "only the refused one, under its new id: {left:?}"
    );
    assert!(left[0] > c);
}

#[test]
fn bad_requests_are_dead_lettered_with_the_reason_and_get_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let mut group = Group::new(PART, &store, 4096, Default::default());
    let list = || {
        let op = DeadLetterOp::List {
            from: 0,
            upto: None,
        };
        String::from_utf8(request(op)).unwrap()
    };
    let (ours, theirs) = (list(), list());
    let reply_of = |r: &str| {
        r[r.find("replies/").unwrap()..]
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    let own = reply_of(&ours);
    let cases = [
        ("{\"id\": nope".to_owned(), "malformed JSON"),
        (
            String::from_utf8(event("DeadLettersRequested")).unwrap(),
            "wrong schema",
        ),
        (
            ours.replace("\"operator\"", "\"pos\""),
            "come from the operator",
        ),
        (ours.replace("\"list\"", "\"drop\""), "wrong schema"),
        (
            ours.replace(&own, "orders/ready"),
            "reply_to must be the request's own",
        ),
        (
            ours.replace(&own, &reply_of(&theirs)),
            "reply_to must be the request's own",
        ),
        (
            ours.replace(&own, &format!("replies/{PART}/dead-letters/+")),
            "reply_to must be the request's own",
        ),
        (
            ours.replace(&own, "replies/#"),
            "reply_to must be the request's own",
        ),
        (" ".repeat(5000), "oversized"),
    ]
    .map(|(p, why)| (p.into_bytes(), why));
    for (payload, why) in &cases {
        assert!(send(&mut group, payload).is_none(), "answered {why}");
        let letters = store.dead_letters(0, 100).unwrap();
        let last = letters.last().unwrap();
        assert_eq!(last.topic, topics::dead_letter_requests(PART));
        assert!(last.reason.contains(why), "{why}: {}", last.reason);
    }
    assert_eq!(store.dead_letters(0, 100).unwrap().len(), cases.len());
    // An expired one is dropped (acked, logged), neither answered nor kept.
    let past = OffsetDateTime::now_utc() - Duration::from_secs(1);
    let purge = DeadLetterOp::Purge {
        from: 0,
        upto: None,
    };
    let expired = DeadLettersRequested::envelope(PART, past, purge).to_json();
    assert!(send(&mut group, &expired).is_none());
    assert_eq!(store.dead_letters(0, 100).unwrap().len(), cases.len());
}

#[test]
fn a_purge_empties_the_range_and_the_same_request_again_acts_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    for _ in 0..3 {
        store.record_dead_letter("x", b"{", "malformed").unwrap();
    }
    let mut group = Group::new(PART, &store, 4096, Default::default());
    let purge = request(DeadLetterOp::Purge {
        from: 0,
        upto: None,
    });
    let answer = send(&mut group, &purge).unwrap();
    assert!(
        matches!(
            answer,
            DeadLetterAnswer::Purge {
                purged: 3,
                next: None,
                ..
            }
        ),
        "{answer:?}"
    );
    assert!(store.dead_letters(0, 10).unwrap().is_empty());
    store.record_dead_letter("x", b"{", "malformed").unwrap();
    assert!(
        send(&mut group, &purge).is_none(),
        "a repeat is not answered"
    );
    assert_eq!(store.dead_letters(0, 10).unwrap().len(), 1);
    // The same id with other content is refused, not acted on.
    let other = String::from_utf8(purge)
        .unwrap()
        .replace("\"from\":0", "\"from\":1");
    assert!(send(&mut group, other.as_bytes()).is_none());
    let letters = store.dead_letters(0, 10).unwrap();
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert!(letters[1].reason.starts_with("conflicting duplicate"));
}
