use milo_contracts::topics;
use time::Duration;

use super::*;

fn event(source: &str, topic: &str, kind: &str, ms: i64, cause: Option<Uuid>) -> TracedEvent {
    TracedEvent {
        id: Uuid::now_v7(),
        kind: kind.into(),
        version: 1,
        topic: topic.into(),
        source: source.into(),
        seq: Some(1),
        occurred_at: OffsetDateTime::UNIX_EPOCH + Duration::milliseconds(ms),
        causation_id: cause,
        key: 1,
        fingerprint: ms as u64,
    }
}

fn part(name: &str, read: Read, found: Found) -> PartFound {
    PartFound {
        part: name.into(),
        read,
        found,
    }
}

fn letter(id: u64, event_id: Option<Uuid>, reason: &str) -> TracedLetter {
    let at = OffsetDateTime::UNIX_EPOCH;
    TracedLetter::new(id, event_id, topics::ORDERS_FAILED, reason, at)
}

#[test]
fn each_consumer_says_what_it_did_and_stray_letters_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let config = milo_testkit::config(dir.path());
    let readers = readers(&config, dir.path()).unwrap();
    let created = event("order", topics::ORDERS_CREATED, "OrderCreated", 10, None);
    let declined = event(
        "payment",
        topics::PAYMENTS_FAILED,
        "PaymentFailed",
        20,
        Some(created.id),
    );
    let failed = event(
        "order",
        topics::ORDERS_FAILED,
        "OrderFailed",
        30,
        Some(declined.id),
    );
    let inbox = |held: &[(&TracedEvent, u64)]| held.iter().map(|(e, p)| (e.id, *p)).collect();
    let found = vec![
        part(
            "order",
            Read::Store,
            Found {
                // Its log also holds the dead-letter notice, which is not an event of the flow.
                events: vec![
                    failed.clone(),
                    created.clone(),
                    event("order", &topics::dlq("order", "x"), "DeadLettered", 5, None),
                ],
                inbox: inbox(&[(&declined, 20)]),
                ..Found::default()
            },
        ),
        part(
            "payment",
            Read::Asked,
            Found {
                events: vec![declined.clone()],
                inbox: inbox(&[(&created, 99)]),
                ..Found::default()
            },
        ),
        part(
            "inventory",
            Read::Store,
            Found {
                letters: vec![
                    letter(7, Some(failed.id), "handler failed"),
                    letter(8, None, "malformed JSON"),
                ],
                ..Found::default()
            },
        ),
        part(
            "notification",
            Read::Store,
            Found {
                inbox: inbox(&[(&created, 10)]),
                ..Found::default()
            },
        ),
        part(
            "analytics",
            Read::Unreachable("it did not answer".into()),
            Found::default(),
        ),
    ];
    let trace = Trace::build(Uuid::now_v7(), &found, &readers);
    let kinds: Vec<&str> = trace.events.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, ["OrderCreated", "PaymentFailed", "OrderFailed"]);
    let outcomes = |i: usize| -> Vec<(String, Outcome)> {
        trace.events[i]
            .handled
            .iter()
            .map(|h| (h.part.clone(), h.outcome))
            .collect()
    };
    let o = |p: &str, o: Outcome| (p.to_owned(), o);
    assert_eq!(
        outcomes(0),
        [
            o("payment", Outcome::AppliedOther),
            o("inventory", Outcome::NotSeen),
            o("notification", Outcome::Applied),
            o("analytics", Outcome::Unknown)
        ]
    );
    assert_eq!(outcomes(1), [o("order", Outcome::Applied)]);
    assert_eq!(
        outcomes(2),
        [
            o("payment", Outcome::NotSeen),
            o("inventory", Outcome::DeadLettered)
        ]
    );
    assert!(trace.events[2].compensation && !trace.events[1].compensation);
    assert_eq!(trace.events[0].logged_by, ["order"]);
    assert_eq!(trace.dead_letters.len(), 1);
    assert_eq!(trace.dead_letters[0].letter.id, 8);

    let text = text::render(&trace);
    for said in [
        "not read: analytics: it did not answer",
        "read from their stores: order, inventory, notification",
        "asked over MQTT: payment",
        "applied another payload under this id",
        "dead-lettered: handler failed (dead letter 7)",
        "unknown: not read",
        "dead letter 8  1970-01-01 00:00:00.000  orders/failed  event unknown  malformed JSON",
    ] {
        assert!(text.contains(said), "{said:?} not in\n{text}");
    }
    let line = text.lines().find(|l| l.contains("OrderFailed")).unwrap();
    let caused = format!("caused by {}  compensation", text::short(declined.id));
    assert!(
        line.starts_with("00:00:00.030  order#1") && line.ends_with(&caused),
        "{line}"
    );
    let json = serde_json::to_value(&trace).unwrap();
    assert_eq!(
        json["parts"][4],
        serde_json::json!({"part": "analytics", "read": "unreachable", "why": "it did not answer"})
    );
    assert_eq!(json["events"][2]["handled"][1]["dead_letters"][0]["id"], 7);
}
