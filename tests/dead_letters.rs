//! Garbage on every subscribed topic: every service keeps running and keeps each message as a
//! dead letter with its reason; good orders behind the garbage still go through.

mod common;

use common::{open_with, placed_payload};
use milo::MiloConfig;
use milo_contracts::topics;
use milo_pos::Update;
use milo_testkit::{eventually, when_unlocked_async, Observer, PATIENCE};
use uuid::Uuid;

/// Garbage from anyone never gets past the broker's gate (tests/security.rs): the gate
/// refuses what is not an envelope of the topic's type from its part. Here each part itself
/// must keep it, as it must behind an external broker with no gate: the gate is off.
fn unguarded(config: &mut MiloConfig) {
    config.security.enabled = false;
}

/// The event type each topic carries, so "unknown version" is tested on the right type.
fn type_on(topic: &str) -> &'static str {
    match topic {
        topics::ORDERS_PLACED => "OrderPlaced",
        topics::ORDERS_CREATED => "OrderCreated",
        topics::ORDERS_FAILED => "OrderFailed",
        topics::ORDERS_CANCELED => "OrderCanceled",
        topics::ORDERS_STARTED => "OrderStarted",
        topics::TICKETS_FAILED => "TicketFailed",
        topics::TICKETS_WITHDRAWN => "TicketWithdrawn",
        topics::CANCELLATIONS_REQUESTED => "CancelRequested",
        topics::COMMANDS_BARISTA_WITHDRAW => "WithdrawTicket",
        topics::ORDERS_READY => "OrderReady",
        topics::ORDERS_PREPARED => "OrderPrepared",
        topics::ORDERS_REJECTED => "OrderRejected",
        topics::PAYMENTS_COMPLETED => "PaymentCompleted",
        topics::PAYMENTS_FAILED => "PaymentFailed",
        topics::PAYMENTS_REFUNDED => "PaymentRefunded",
        topics::INVENTORY_RESERVED => "InventoryReserved",
        topics::INVENTORY_FAILED => "InventoryFailed",
        _ => "TicketAssigned",
    }
}

fn garbage(topic: &str) -> Vec<(&'static str, Vec<u8>)> {
    let id = Uuid::now_v7();
    let placed =
        String::from_utf8(placed_payload(id, vec![common::line("latte", None, 1)])).unwrap();
    let good = placed.replace("\"OrderPlaced\"", &format!("{:?}", type_on(topic)));
    vec![
        ("malformed JSON", b"{\"id\": nope".to_vec()),
        ("malformed JSON", vec![0xff, 0xfe, 0x00, 0x80]),
        ("wrong schema", br#"{"hello":"world"}"#.to_vec()),
        (
            "wrong schema",
            good.replace("\"correlation_id\"", "\"correlation\"")
                .into_bytes(),
        ),
        (
            "unknown type",
            placed
                .replace("\"OrderPlaced\"", "\"TeaPoured\"")
                .into_bytes(),
        ),
        (
            "unknown version",
            good.replace("\"version\":1", "\"version\":9").into_bytes(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_every_topic_becomes_dead_letters_and_services_keep_running() {
    let t = open_with(unguarded).await;
    // Every (service, topic) subscription in the store.
    let subscribed: Vec<(&str, &str)> = vec![
        ("order", topics::ORDERS_PLACED),
        ("order", topics::PAYMENTS_COMPLETED),
        ("order", topics::PAYMENTS_FAILED),
        ("order", topics::INVENTORY_RESERVED),
        ("order", topics::INVENTORY_FAILED),
        ("order", topics::ORDERS_PREPARED),
        ("order", topics::ORDERS_STARTED),
        ("order", topics::TICKETS_FAILED),
        ("order", topics::TICKETS_WITHDRAWN),
        ("order", topics::CANCELLATIONS_REQUESTED),
        ("barista", topics::COMMANDS_BARISTA_WITHDRAW),
        ("payment", topics::ORDERS_CREATED),
        ("payment", topics::ORDERS_FAILED),
        ("inventory", topics::ORDERS_CREATED),
        ("inventory", topics::ORDERS_PREPARED),
        ("inventory", topics::ORDERS_FAILED),
        ("barista", topics::ORDERS_READY),
        ("barista", topics::ORDERS_PREPARED),
        ("notification", topics::ORDERS_CREATED),
        ("notification", topics::ORDERS_PREPARED),
        ("notification", topics::ORDERS_CANCELED),
        ("notification", topics::ORDERS_REJECTED),
        ("analytics", topics::ORDERS_CREATED),
        ("analytics", topics::ORDERS_REJECTED),
        ("analytics", topics::ORDERS_READY),
        ("analytics", topics::ORDERS_PREPARED),
        ("analytics", topics::ORDERS_CANCELED),
        ("analytics", topics::PAYMENTS_COMPLETED),
        ("analytics", topics::PAYMENTS_REFUNDED),
        ("barista-device-bar-1", "devices/bar-1/tickets"),
    ];
    let pusher = Observer::start(&t.config.mqtt, &["dlq/#"]).await;
    let mut topics_hit: Vec<&str> = subscribed.iter().map(|(_, topic)| *topic).collect();
    topics_hit.sort();
    topics_hit.dedup();
    for topic in &topics_hit {
        for (_, payload) in garbage(topic) {
            pusher.publish(topic, &payload);
        }
    }
    // Presence is plain text; anything else is refused too.
    pusher.publish("devices/bar-9/status", b"maybe");

    let per_topic = garbage(topics::ORDERS_PLACED).len();
    for (service, topic) in &subscribed {
        let store = t.shop.store(service).unwrap().clone();
        let topic = topic.to_string();
        let all_there = eventually(PATIENCE, || {
            let store = store.clone();
            let topic = topic.clone();
            async move {
                let letters = store.dead_letters(0, usize::MAX).unwrap();
                letters.iter().filter(|d| d.topic == topic).count() >= per_topic
            }
        })
        .await;
        assert!(
            all_there,
            "{service} did not dead-letter all garbage on {topic}"
        );
        let letters = store.dead_letters(0, usize::MAX).unwrap();
        let reasons: Vec<&str> = letters
            .iter()
            .filter(|d| d.topic == topic)
            .map(|d| d.reason.as_str())
            .collect();
        for (expected, _) in garbage(&topic) {
            assert!(
                reasons.iter().any(|r| r.contains(expected)),
                "{service}/{topic}: no {expected:?} in {reasons:?}"
            );
        }
    }
    let barista = t.shop.store("barista").unwrap().clone();
    assert!(
        eventually(PATIENCE, || {
            let barista = barista.clone();
            async move {
                barista
                    .dead_letters(0, 1000)
                    .unwrap()
                    .iter()
                    .any(|d| d.topic == "devices/bar-9/status")
            }
        })
        .await
    );
    // Dead letters are announced on dlq/<service>/<topic> for operators (published once
    // stored, heard a moment later).
    let announced = eventually(PATIENCE, || {
        let seen = pusher.seen();
        std::future::ready(seen.iter().any(|(t, _)| t == "dlq/order/orders/placed"))
    })
    .await;
    assert!(
        announced,
        "no dead letter announced on dlq/order/orders/placed"
    );
    for part in &t.shop.parts {
        assert!(!part.task.is_finished(), "{} stopped", part.name);
    }
    let (_, update) = t.pos_order("cappuccino", None, "Cy").await;
    assert!(matches!(update, Update::Prepared { .. }), "{update:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_dead_letters_go_back_to_the_handler_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = milo_testkit::config(dir.path());
    unguarded(&mut config);
    let (id, good) = milo_testkit::espresso_created();
    {
        // Earlier, with the service stopped: two messages failed, one for a reason since fixed.
        assert!(
            milo::dlq::open(&config.data_dir, "payment").is_err(),
            "no store yet: a clear error"
        );
        let store = milo_bus::Store::open(&config.data_of("payment"), &config.store).unwrap();
        store
            .record_dead_letter(
                topics::ORDERS_CREATED,
                &good,
                "handler failed: gateway offline",
            )
            .unwrap();
        store
            .record_dead_letter(topics::ORDERS_CREATED, b"{oops", "malformed JSON")
            .unwrap();
        assert_eq!(milo::dlq::replay(&store, None).unwrap(), 2);
        assert!(store.dead_letters(0, 10).unwrap().is_empty());
    }
    let (trigger, _) = milo_bus::ShutdownTrigger::new();
    milo::shop::start_broker(&config, &trigger.subscribe(), || {}).unwrap();
    let watch = Observer::start(&config.mqtt, &["payments/#"]).await;
    let menu = std::sync::Arc::new(config.menu().unwrap());
    // sled's flusher holds the store just dropped for a moment more.
    let sd = trigger.subscribe();
    let start = || {
        std::future::ready(milo::shop::start_service(
            "payment",
            &config,
            menu.clone(),
            &sd,
        ))
    };
    let part = when_unlocked_async(start).await.unwrap();
    let paid = eventually(PATIENCE, || async {
        watch
            .on(topics::PAYMENTS_COMPLETED)
            .iter()
            .any(|p| String::from_utf8_lossy(p).contains(&id.to_string()))
    })
    .await;
    assert!(paid, "the replayed order was not charged");
    // Each replay is taken on its own: wait until both are.
    let replayed = eventually(PATIENCE, || {
        let store = &part.store;
        let done = store.pending_replays().unwrap().is_empty();
        std::future::ready(done && !store.dead_letters(0, 10).unwrap().is_empty())
    })
    .await;
    assert!(replayed, "{:?}", part.store.pending_replays().unwrap());
    let letters = part.store.dead_letters(0, 10).unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(letters[0].reason.contains("malformed JSON"));
    assert!(part.store.pending_replays().unwrap().is_empty());
    trigger.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_id_with_other_content_is_a_conflicting_duplicate() {
    let t = open_with(unguarded).await;
    let pusher = Observer::start(&t.config.mqtt, &["orders/created"]).await;
    let id = Uuid::now_v7();
    let first = placed_payload(id, vec![common::line("latte", None, 1)]);
    let text = String::from_utf8(first.clone()).unwrap();
    let other = text.replace(r#""item":"latte""#, r#""item":"mocha""#);
    pusher.publish(topics::ORDERS_PLACED, &first);
    assert!(
        eventually(PATIENCE, || async {
            !pusher.on(topics::ORDERS_CREATED).is_empty()
        })
        .await
    );
    pusher.publish(topics::ORDERS_PLACED, &first);
    pusher.publish(topics::ORDERS_PLACED, other.as_bytes());
    let order = t.shop.store("order").unwrap().clone();
    let refused = eventually(PATIENCE, || {
        let order = order.clone();
        async move {
            let letters = order.dead_letters(0, 10).unwrap();
            letters.iter().any(|d| {
                d.reason.starts_with("conflicting duplicate") && d.payload.contains("mocha")
            })
        }
    })
    .await;
    assert!(refused, "the conflicting copy was not dead-lettered");
    // The exact repeat was a no-op, and the first content stands.
    assert_eq!(order.dead_letters(0, 10).unwrap().len(), 1);
    let (_, o) = t.get(&format!("/orders/{id}")).await;
    assert_eq!(o["lines"][0]["item"], "latte");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_keeps_failing_dead_letters_its_message_and_the_topic_moves_on() {
    use milo_contracts::events::PaymentCompleted;
    use milo_contracts::Envelope;

    let dir = tempfile::tempdir().unwrap();
    let mut config = milo_testkit::config(dir.path());
    unguarded(&mut config);
    let id = Uuid::now_v7();
    {
        // A record damaged on disk: every attempt to handle an event for it fails.
        let db = sled::open(config.data_of("order")).unwrap();
        db.insert(format!("order/{id}"), b"{damaged".to_vec())
            .unwrap();
        db.flush().unwrap();
    }
    let (trigger, _) = milo_bus::ShutdownTrigger::new();
    milo::shop::start_broker(&config, &trigger.subscribe(), || {}).unwrap();
    let menu = std::sync::Arc::new(config.menu().unwrap());
    // sled's flusher holds the database just dropped for a moment more.
    let sd = trigger.subscribe();
    let start = || {
        std::future::ready(milo::shop::start_service(
            "order",
            &config,
            menu.clone(),
            &sd,
        ))
    };
    let part = when_unlocked_async(start).await.unwrap();
    assert!(milo::shop::wait_ready(std::slice::from_ref(&part), PATIENCE).await);
    let pusher = Observer::start(&config.mqtt, &["orders/#"]).await;
    let paid = PaymentCompleted {
        order_id: id,
        amount_cents: 1,
        transaction_id: "t".into(),
        payment: Default::default(),
    };
    pusher.publish(
        topics::PAYMENTS_COMPLETED,
        &Envelope::new("test", id, None, paid).to_json(),
    );
    let good = Uuid::now_v7();
    pusher.publish(
        topics::ORDERS_PLACED,
        &placed_payload(good, vec![common::line("latte", None, 1)]),
    );
    let store = part.store.clone();
    let refused = eventually(PATIENCE, || {
        let store = store.clone();
        async move {
            store.dead_letters(0, 10).unwrap().iter().any(|d| {
                d.reason.starts_with("handler failed after 3 attempts")
                    && d.reason.contains(&id.to_string())
            })
        }
    })
    .await;
    assert!(refused, "{:?}", part.store.dead_letters(0, 10).unwrap());
    // The service kept running and the messages behind the poison went through.
    assert!(!part.task.is_finished());
    let created = eventually(PATIENCE, || async {
        pusher
            .on(topics::ORDERS_CREATED)
            .iter()
            .any(|p| String::from_utf8_lossy(p).contains(&good.to_string()))
    })
    .await;
    assert!(created);
    trigger.trigger();
}
