//! The sender's decisions: when to send, what counts as an answer, what availability is.

use super::*;
use crate::update::Update;
use milo_contracts::events::{OrderCreated, OrderRejected};
use milo_contracts::Event;

fn placed() -> Queued {
    Queued {
        placed: milo_contracts::events::OrderPlaced {
            order_id: Uuid::now_v7(),
            items: Vec::new(),
            customer: None,
            payment: Default::default(),
        },
        queued_at: time::OffsetDateTime::now_utc(),
        envelope: String::new(),
    }
}

#[test]
fn sends_at_once_then_every_resend_until_answered() {
    let (mut book, every) = (Book::default(), Duration::from_secs(3));
    let (a, b) = (placed(), placed());
    let t0 = Instant::now();
    book.add(a.clone());
    assert_eq!(book.due(t0, every), vec![a.clone()]);
    book.add(b.clone());
    book.add(a.clone());
    assert_eq!(
        book.due(t0 + Duration::from_secs(1), every),
        vec![b.clone()]
    );
    assert_eq!(book.due(t0 + Duration::from_secs(2), every), vec![]);
    assert_eq!(book.due(t0 + every, every), vec![a.clone()]);
    book.reconnected();
    assert_eq!(book.due(t0 + every, every).len(), 2);
    assert!(book.answered(a.placed.order_id));
    assert!(!book.answered(a.placed.order_id));
    assert_eq!(book.due(t0 + every * 9, every), vec![b]);
}

fn payload<E: Event>(order_id: Uuid, data: E) -> Vec<u8> {
    Envelope::new("order", order_id, None, data).to_json()
}

#[test]
fn only_the_stores_answer_counts_as_one() {
    let id = Uuid::now_v7();
    let created = OrderCreated {
        order_id: id,
        lines: Vec::new(),
        total_cents: 450,
        ingredients: Default::default(),
        customer: None,
        payment: Default::default(),
    };
    let rejected = OrderRejected {
        order_id: id,
        reason: "unknown item".into(),
    };
    for (topic, bytes) in [
        (topics::ORDERS_CREATED, payload(id, created)),
        (topics::ORDERS_REJECTED, payload(id, rejected)),
    ] {
        let Incoming::Update(u) = read(topic, &bytes) else {
            panic!("{topic} not read");
        };
        assert!(u.update.is_answer() && u.order_id == id);
    }
    let paid = br#"{"id":"0190a0a0-0000-7000-8000-000000000000","type":"PaymentCompleted","version":1,"occurred_at":"2026-11-21T08:00:00Z","correlation_id":"0190a0a0-0000-7000-8000-000000000001","causation_id":null,"source":"payment","data":{}}"#;
    let Incoming::Update(u) = read(topics::PAYMENTS_COMPLETED, paid) else {
        panic!("payment not read");
    };
    assert_eq!(u.update, Update::Paid);
    assert!(!u.update.is_answer());
    assert_eq!(read(topics::ORDERS_CREATED, b"{nope"), Incoming::Nothing);
}

#[test]
fn availability_reads_as_envelope_or_plain_json() {
    let avail = MenuAvailability {
        out: vec!["oat_milk_ml".into()],
        ..Default::default()
    };
    let env = Envelope::new("inventory", Uuid::nil(), None, avail.clone()).to_json();
    let plain = serde_json::to_vec(&avail).unwrap();
    for bytes in [env, plain] {
        assert_eq!(
            read(topics::MENU_AVAILABILITY, &bytes),
            Incoming::Availability(avail.clone())
        );
    }
    assert_eq!(read(topics::MENU_AVAILABILITY, b"junk"), Incoming::Nothing);
}
