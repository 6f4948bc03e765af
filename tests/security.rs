//! Someone on the café's network plays the attacker with Debian's `mosquitto_pub` and
//! `mosquitto_sub` (and raw MQTT bytes), against the real store behind the broker's gate: every
//! attack of issue 13 now fails to do harm, the refusal is kept with its reason, and the real
//! parts go on undisturbed.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output};

use common::rig::Rig;
use milo_contracts::counter::RestockRequested;
use milo_contracts::events::{
    OrderCreated, OrderPrepared, OrderReady, PaymentCompleted, PricedLine,
};
use milo_contracts::{topics, Envelope, Event, SagaMode};
use milo_payment::Transaction;
use milo_testkit::{eventually, Observer, PATIENCE};
use uuid::Uuid;

const ESPRESSO: &str = r#"[{"item":"espresso","qty":1}]"#;

/// Who publishes: nobody (anonymous), or a credential `(user, password)`.
type Auth<'a> = Option<&'a (String, String)>;

fn mosquitto(program: &str, port: u16, auth: Auth, args: &[&str]) -> Output {
    let port = port.to_string();
    let mut cmd = Command::new(program);
    cmd.args(["-h", "127.0.0.1", "-p", &port]);
    if let Some((u, p)) = auth {
        cmd.args(["-u", u, "-P", p]);
    }
    cmd.args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (.ci/install-deps installs mosquitto-clients)"))
}

/// `mosquitto_pub -q 1` of `payload` on `topic`; its exit code.
fn publish(port: u16, auth: Auth, topic: &str, payload: &[u8], extra: &[&str]) -> i32 {
    let text = String::from_utf8_lossy(payload).into_owned();
    let mut args = vec!["-q", "1", "-t", topic];
    // An empty payload is `-n` (a null message: what erases a retained topic).
    if payload.is_empty() {
        args.push("-n");
    } else {
        args.extend(["-m", &text]);
    }
    args.extend_from_slice(extra);
    mosquitto("mosquitto_pub", port, auth, &args)
        .status
        .code()
        .unwrap_or(-1)
}

/// A forged event: `data` as event `E`, claiming to come from `source`.
fn forged<E: Event>(source: &str, order: Uuid, data: E) -> Vec<u8> {
    Envelope::new(source, order, None, data).to_json()
}

fn paid(order: Uuid, cents: u64) -> PaymentCompleted {
    PaymentCompleted {
        order_id: order,
        amount_cents: cents,
        transaction_id: "forged-1".into(),
        payment: Default::default(),
    }
}

/// The forged payment of issue 13: the gateway declines every charge, slowly; the attacker
/// says it was paid, anonymously and with the POS's credential, while the real answer is on
/// its way. The order ends as the gateway decided, no money is booked, and both forgeries are
/// kept with their reasons.
async fn forged_payment(mode: SagaMode) {
    let r = Rig::full(mode, |c| {
        c.payment.success_rate = 0.0;
        c.payment.min_latency_ms = 1500;
        c.payment.max_latency_ms = 1500;
    })
    .await;
    let port = r.mqtt_port();
    let pos = r.credential("pos");
    // In orchestration the attacker waits for the coordinator's charge command, as in the
    // report; in choreography for the order to exist.
    let watch = Observer::start(&r.config.mqtt, &[topics::COMMANDS_PAYMENT_CHARGE]).await;
    let id = r.place(ESPRESSO, None).await;
    if mode == SagaMode::Orchestration {
        let seen = eventually(PATIENCE, || {
            std::future::ready(!watch.on(topics::COMMANDS_PAYMENT_CHARGE).is_empty())
        })
        .await;
        assert!(seen, "no charge command");
    } else {
        r.wait_status(id, "created").await;
    }
    let forgery = forged("payment", id, paid(id, 430));
    assert_eq!(
        publish(port, None, topics::PAYMENTS_COMPLETED, &forgery, &[]),
        0
    );
    assert_eq!(
        publish(port, Some(&pos), topics::PAYMENTS_COMPLETED, &forgery, &[]),
        0
    );
    let anon = r
        .wait_refused("anonymous (observer) may not publish on payments/completed")
        .await;
    assert_eq!(anon.topic, topics::PAYMENTS_COMPLETED);
    r.wait_refused("pos (pos) may not publish on payments/completed")
        .await;
    let order = r.wait_status(id, "canceled").await;
    assert_eq!(order["paid"], false, "{order}");
    assert_eq!(r.settled_money(id).await, 0, "{order}");
    r.assert_stock(&r.config.inventory.stock, &order).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_payment_changes_nothing_choreography() {
    forged_payment(SagaMode::Choreography).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_payment_changes_nothing_orchestration() {
    forged_payment(SagaMode::Orchestration).await;
}

/// A forged `orders/ready` (a drink never ordered, for "Ghost") and a forged `orders/created`
/// (an order that does not exist) make no ticket, no reservation and no charge; the real order
/// placed after them is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_ready_and_created_make_no_ticket_reservation_or_charge() {
    let r = Rig::full(SagaMode::Choreography, |_| {}).await;
    let port = r.mqtt_port();
    let pos = r.credential("pos");
    let bar = r.credential("bar-1");
    let watch = Observer::start(&r.config.mqtt, &["#"]).await;
    let ghost = Uuid::now_v7();
    let mocha: PricedLine = serde_json::from_value(serde_json::json!({
        "item": "mocha", "size": "large", "milk": "oat", "qty": 3, "unit_price_cents": 560
    }))
    .expect("PricedLine's shape");
    let ready = OrderReady {
        order_id: ghost,
        lines: vec![mocha],
        customer: Some("Ghost".into()),
    };
    let ready = forged("order", ghost, ready);
    assert_eq!(publish(port, None, topics::ORDERS_READY, &ready, &[]), 0);
    assert_eq!(
        publish(port, Some(&pos), topics::ORDERS_READY, &ready, &[]),
        0
    );
    assert_eq!(
        publish(port, Some(&bar), topics::ORDERS_READY, &ready, &[]),
        0
    );
    let (_, created) = milo_testkit::espresso_created();
    let created: Envelope<OrderCreated> = serde_json::from_slice(&created).unwrap();
    let fake = created.correlation_id;
    // The POS may place orders, but not as the order service says them.
    let tampered = forged("order", fake, created.data.clone());
    assert_eq!(
        publish(port, Some(&pos), topics::ORDERS_CREATED, &tampered, &[]),
        0
    );
    let placed_as_order = String::from_utf8(tampered.clone())
        .unwrap()
        .replace(r#""type":"OrderCreated""#, r#""type":"OrderPlaced""#);
    assert_eq!(
        publish(
            port,
            Some(&pos),
            topics::ORDERS_PLACED,
            placed_as_order.as_bytes(),
            &[]
        ),
        0
    );
    r.wait_refused("anonymous (observer) may not publish on orders/ready")
        .await;
    r.wait_refused("pos (pos) may not publish on orders/ready")
        .await;
    r.wait_refused("bar-1 (station) may not publish on orders/ready")
        .await;
    r.wait_refused("pos (pos) may not publish on orders/created")
        .await;
    r.wait_refused(r#"pos may not emit as "order" (tampered source)"#)
        .await;
    // A real order placed after the forgeries is made: the store is working, and heard them
    // (had they passed) before it.
    let real = r.place(ESPRESSO, None).await;
    r.wait_status(real, "prepared").await;
    for (topic, payload) in watch.seen() {
        let text = String::from_utf8_lossy(&payload);
        assert!(
            !text.contains(&ghost.to_string()) && !text.contains(&fake.to_string()),
            "a forged order reached {topic}: {text}"
        );
    }
    let payment = r.store("payment");
    for id in [ghost, fake] {
        assert!(payment
            .get::<Transaction>(&format!("txn/{id}"))
            .unwrap()
            .is_none());
    }
    let order = r.order(real).await;
    r.assert_stock(&r.stock_less(ESPRESSO, (1, 1)), &order)
        .await;
}

/// Restock is the operator's alone: anonymous, a POS and a station are refused; the
/// operator's restock is applied, and only it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_operator_restocks() {
    let r = Rig::full(SagaMode::Choreography, |_| {}).await;
    let port = r.mqtt_port();
    let restock = |source: &str, grams: u64| {
        let data: RestockRequested =
            serde_json::from_value(serde_json::json!({"ingredient": "beans_g", "amount": grams}))
                .expect("RestockRequested's shape");
        forged(source, Uuid::now_v7(), data)
    };
    let huge = restock("operator", 5_000_000);
    for who in [None, Some(r.credential("pos")), Some(r.credential("bar-1"))] {
        assert_eq!(
            publish(
                port,
                who.as_ref(),
                topics::COMMANDS_INVENTORY_RESTOCK,
                &huge,
                &[]
            ),
            0
        );
    }
    r.wait_refused("anonymous (observer) may not publish on commands/inventory/restock")
        .await;
    r.wait_refused("pos (pos) may not publish on commands/inventory/restock")
        .await;
    r.wait_refused("bar-1 (station) may not publish on commands/inventory/restock")
        .await;
    let operator = r.credential("operator");
    let ok = restock("operator", 500);
    assert_eq!(
        publish(
            port,
            Some(&operator),
            topics::COMMANDS_INVENTORY_RESTOCK,
            &ok,
            &[]
        ),
        0
    );
    let mut expected = r.config.inventory.stock.clone();
    *expected.get_mut("beans_g").unwrap() += 500;
    r.assert_stock(&expected, &"after the operator's restock alone")
        .await;
}

/// A forged retained `offline` for the only station and a retained `online` for a phantom
/// station are refused: the next four orders are all made, at bar-1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_presence_changes_no_routing() {
    let r = Rig::full(SagaMode::Choreography, |_| {}).await;
    let port = r.mqtt_port();
    let pos = r.credential("pos");
    let bar2 = r.credential("bar-2");
    for who in [None, Some(&pos), Some(&bar2)] {
        assert_eq!(
            publish(port, who, "devices/bar-1/status", b"offline", &["-r"]),
            0
        );
        assert_eq!(
            publish(port, who, "devices/ghost-9/status", b"online", &["-r"]),
            0
        );
    }
    r.wait_refused("bar-2 (station) may not publish on devices/bar-1/status")
        .await;
    r.wait_refused("pos (pos) may not publish on devices/ghost-9/status")
        .await;
    let watch = Observer::start(&r.config.mqtt, &[topics::ORDERS_PREPARED]).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(r.place(ESPRESSO, None).await);
    }
    for id in &ids {
        r.wait_status(*id, "prepared").await;
    }
    let made = |id: &Uuid| {
        watch
            .on(topics::ORDERS_PREPARED)
            .iter()
            .filter_map(|p| serde_json::from_slice::<Envelope<OrderPrepared>>(p).ok())
            .find(|e| e.data.order_id == *id)
    };
    let all_heard = eventually(PATIENCE, || {
        std::future::ready(ids.iter().all(|id| made(id).is_some()))
    })
    .await;
    assert!(all_heard, "{:?}", watch.seen());
    for id in &ids {
        assert_eq!(made(id).unwrap().data.station, "bar-1");
    }
}

/// A client using the payment service's client id is refused at CONNECT, forty times, and
/// the payment service is never disconnected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_id_takeover_is_refused_and_the_real_part_stays() {
    let r = Rig::full(SagaMode::Choreography, |_| {}).await;
    let port = r.mqtt_port();
    let pos = r.credential("pos");
    let presence = topics::service_status("payment");
    let watch = Observer::start(&r.config.mqtt, &[&presence]).await;
    for i in 0..40 {
        let who = if i % 2 == 0 { None } else { Some(&pos) };
        let code = publish(port, who, "orders/placed", b"x", &["-i", "milo-payment"]);
        assert_ne!(code, 0, "a takeover was admitted");
    }
    let refused = r
        .gate
        .as_ref()
        .unwrap()
        .stats
        .refused_connects
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(refused >= 40, "{refused} refused");
    let id = r.place(ESPRESSO, None).await;
    r.wait_status(id, "prepared").await;
    let offline = watch
        .on(&presence)
        .iter()
        .any(|p| p.as_slice() == b"offline");
    assert!(!offline, "payment went offline: {:?}", watch.seen());
}

/// A POS credential cannot read other parts' traffic: `#`, the orders other terminals place,
/// tickets and notifications are refused; on the order flow it may follow, the names of
/// customers it did not serve are taken out. A station reads its own tickets only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pos_credential_cannot_read_customers_names() {
    let r = Rig::full(SagaMode::Choreography, |_| {}).await;
    let port = r.mqtt_port();
    let pos = r.credential("pos");
    let bar = r.credential("bar-1");
    for filter in [
        "#",
        "orders/placed",
        "customers/notified",
        "devices/+/tickets",
        "dlq/#",
    ] {
        let out = mosquitto(
            "mosquitto_sub",
            port,
            Some(&pos),
            &["-t", filter, "-C", "1", "-W", "10"],
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("denied"),
            "{filter}: {out:?}"
        );
    }
    for filter in ["orders/created", "devices/bar-2/tickets"] {
        let out = mosquitto(
            "mosquitto_sub",
            port,
            Some(&bar),
            &["-t", filter, "-C", "1", "-W", "10"],
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("denied"),
            "{filter}: {out:?}"
        );
    }
    // Follow orders/created as the POS; an order placed over HTTP (a kiosk, not this
    // terminal) arrives without its customer's name.
    let mut sub = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-u",
            &pos.0,
            "-P",
            &pos.1,
        ])
        .args(["-t", topics::ORDERS_CREATED, "-C", "1", "-W", "60"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let got = r.place_until_heard(ESPRESSO, &mut sub).await;
    let _ = sub.wait();
    assert!(!got.is_empty(), "the POS never received orders/created");
    assert!(got.contains("OrderCreated"), "{got}");
    assert!(
        !got.contains("Ana"),
        "a customer's name reached the POS: {got}"
    );
    assert!(got.contains(r#""customer":null"#), "{got}");
}

/// MQTT 3.1.1 says keep-alive 0 turns keep-alive off; rumqttd refuses such a CONNECT without
/// a CONNACK. Through the gate it is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_zero_is_accepted() {
    let r = Rig::start(SagaMode::Choreography, &[], |_| {}).await;
    let port = r.mqtt_port();
    let got = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        // CONNECT: protocol MQTT level 4, clean session, keep-alive 0, client id "ka0".
        let connect = [
            0x10, 15, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 0, 0, 3, b'k', b'a', b'0',
        ];
        s.write_all(&connect).unwrap();
        let mut ack = [0u8; 4];
        s.read_exact(&mut ack).unwrap();
        ack
    })
    .await
    .unwrap();
    assert_eq!(got, [0x20, 0x02, 0x00, 0x00], "CONNACK accepted");
}

/// Wrong passwords, unknown users, and anonymous clients on a store that admits none are
/// refused at CONNECT; an old part that publishes without a credential (the envelope of wave
/// 1, no identity) is refused with a clear reason, never trusted; a payload on an event
/// topic that is not an envelope is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_and_old_parts_are_refused_with_reasons() {
    let r = Rig::start(SagaMode::Choreography, &[], |c| {
        c.security.anonymous = false
    })
    .await;
    let port = r.mqtt_port();
    let bad = ("payment".to_owned(), "not-the-secret".to_owned());
    let nobody = ("mallory".to_owned(), "0123456789abcdef".to_owned());
    let (_, created) = milo_testkit::espresso_created();
    // mosquitto_pub exits with the CONNACK's code: 4 bad user name or password, 5 not
    // authorised.
    assert_eq!(
        publish(port, Some(&bad), "orders/created", &created, &[]),
        4
    );
    assert_eq!(
        publish(port, Some(&nobody), "orders/created", &created, &[]),
        4
    );
    assert_eq!(publish(port, None, "orders/created", &created, &[]), 5);
    let gate = r.gate.as_ref().unwrap();
    let refused = gate
        .stats
        .refused_connects
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(refused, 3);
    let order = r.credential("order");
    let not_an_envelope = br#"{"order_id":"x","total_cents":1}"#;
    assert_eq!(
        publish(port, Some(&order), "orders/created", not_an_envelope, &[]),
        0
    );
    let letter = r.wait_refused("not an event envelope").await;
    assert_eq!(letter.topic, "orders/created");
    let wrong_type = forged("order", Uuid::now_v7(), paid(Uuid::now_v7(), 1));
    assert_eq!(
        publish(port, Some(&order), "orders/created", &wrong_type, &[]),
        0
    );
    r.wait_refused("order may not emit PaymentCompleted on orders/created")
        .await;
}

/// Erasing or overwriting a retained topic (what a test client's clean-up step does) is
/// refused for anyone but its owner, the operator included: the board, the availability and
/// the presence stay as their owners published them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_topics_cannot_be_erased_by_anyone_but_their_owner() {
    let r = Rig::full(SagaMode::Choreography, |_| {}).await;
    let port = r.mqtt_port();
    let operator = r.credential("operator");
    let pos = r.credential("pos");
    let topics = [
        topics::BOARDS_PICKUP.to_owned(),
        topics::MENU_AVAILABILITY.to_owned(),
        topics::service_status("payment"),
        topics::device_status("bar-1"),
    ];
    let retained = |topic: &str| {
        let out = mosquitto(
            "mosquitto_sub",
            port,
            None,
            &["-t", topic, "-C", "1", "-W", "2", "--retained-only"],
        );
        Some(out.stdout).filter(|o| !o.is_empty())
    };
    let mut before = Vec::new();
    for topic in &topics {
        // Each owner has published it (the board at its first tick).
        let mut held = None;
        let published = eventually(PATIENCE, || {
            held = retained(topic);
            std::future::ready(held.is_some())
        })
        .await;
        assert!(published, "{topic} never published");
        before.push(held.unwrap());
    }
    for topic in &topics {
        for who in [None, Some(&pos), Some(&operator)] {
            assert_eq!(publish(port, who, topic, b"", &["-r"]), 0);
        }
        let reason = format!("operator (operator) may not publish on {topic}");
        r.wait_refused(&reason).await;
    }
    // Still there (availability is republished every 30 s, so its bytes may be newer).
    for (topic, was) in topics.iter().zip(before) {
        let now = retained(topic);
        assert!(now.is_some(), "{topic} was erased");
        if topic.ends_with("/status") {
            assert_eq!(now, Some(was), "{topic} changed");
        }
    }
}
