//! Any order of arrival, repeats after the final state, and bad input at the edges. The order
//! service runs alone on a real broker; a test client plays payment, inventory and the bar.

use std::sync::Arc;

use milo::http::client as http;
use milo::MiloConfig;
use milo_bus::ShutdownTrigger;
use milo_contracts::events::{
    InventoryReserved, OrderCreated, OrderFailed, OrderLine, OrderPrepared, PaymentCompleted,
};
use milo_contracts::{topics, Envelope, Event};
use milo_testkit::{eventually, Observer, PATIENCE};
use uuid::Uuid;

struct Rig {
    _parts: Vec<milo::shop::Part>,
    config: MiloConfig,
    http: std::net::SocketAddr,
    watch: Observer,
    trigger: ShutdownTrigger,
    _dir: tempfile::TempDir,
}

/// Broker plus the named services; the order service's HTTP API if it runs.
async fn rig(names: &[&str]) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let mut config = milo_testkit::config(dir.path());
    // A test client plays payment, inventory and the bar (source "test"): the broker's gate
    // would rightly refuse it. What is checked here is the order service's own handling of
    // any order of arrival, which must hold behind an external broker with no gate too.
    config.security.enabled = false;
    let (trigger, _) = ShutdownTrigger::new();
    milo::shop::start_broker(&config, &trigger.subscribe(), || {}).unwrap();
    let watch = Observer::start(&config.mqtt, &["orders/#", "payments/#", "inventory/#"]).await;
    let menu = Arc::new(config.menu().unwrap());
    let mut parts = Vec::new();
    for name in names {
        parts.push(
            milo::shop::start_service(name, &config, menu.clone(), &trigger.subscribe()).unwrap(),
        );
    }
    assert!(milo::shop::wait_ready(&parts, PATIENCE).await);
    let mut http = config.http.listen;
    if let Some(router) = parts.iter().find_map(|p| p.router.clone()) {
        http = milo::http::serve(
            config.http.listen,
            router,
            &config.http,
            trigger.subscribe(),
        )
        .await
        .unwrap()
        .0;
    }
    Rig {
        _parts: parts,
        config,
        http,
        watch,
        trigger,
        _dir: dir,
    }
}

impl Rig {
    fn send<E: Event>(&self, id: Uuid, data: E) {
        let env = Envelope::new("test", id, None, data);
        self.watch.publish(E::TOPIC, &env.to_json());
    }

    async fn status(&self, id: Uuid) -> String {
        let (_, o) = http::get(self.http, &format!("/orders/{id}"))
            .await
            .unwrap();
        o["status"].as_str().unwrap_or_default().to_owned()
    }

    async fn wait_status(&self, id: Uuid, want: &str) {
        let ok = eventually(PATIENCE, || async { self.status(id).await == want }).await;
        assert!(
            ok,
            "order {id} never became {want}: {}",
            self.status(id).await
        );
    }

    fn count(&self, topic: &str, id: Uuid) -> usize {
        let id = id.to_string();
        self.watch
            .on(topic)
            .iter()
            .filter(|p| String::from_utf8_lossy(p).contains(&id))
            .count()
    }

    async fn place(&self) -> Uuid {
        let (code, body) = http::post(self.http, "/orders", r#"{"items":[{"item":"espresso"}]}"#)
            .await
            .unwrap();
        assert_eq!(code, 202, "{body}");
        body["order_id"].as_str().unwrap().parse().unwrap()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.trigger.trigger();
    }
}

fn paid(id: Uuid) -> PaymentCompleted {
    PaymentCompleted {
        order_id: id,
        amount_cents: 250,
        transaction_id: "t".into(),
        payment: Default::default(),
    }
}

fn reserved(id: Uuid) -> InventoryReserved {
    InventoryReserved {
        order_id: id,
        ingredients: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_whichever_of_payment_and_stock_answers_first_and_repeats_change_nothing() {
    let r = rig(&["order"]).await;
    let (a, b) = (r.place().await, r.place().await);
    // Answered last, behind every repeat below on the same topics.
    let marker = r.place().await;
    r.send(a, paid(a));
    r.send(b, reserved(b));
    // Each order has its first answer recorded, and still waits for the other.
    let half = |id: Uuid, field: &'static str| {
        let r = &r;
        async move { http::get(r.http, &format!("/orders/{id}")).await.unwrap().1[field] == true }
    };
    assert!(eventually(PATIENCE, || half(a, "paid")).await);
    assert!(eventually(PATIENCE, || half(b, "reserved")).await);
    assert_eq!(
        (r.status(a).await, r.status(b).await),
        ("created".into(), "created".into())
    );
    r.send(a, reserved(a));
    r.send(b, paid(b));
    r.wait_status(a, "ready").await;
    r.wait_status(b, "ready").await;
    r.send(
        a,
        OrderPrepared {
            order_id: a,
            station: "bar-1".into(),
            prep_ms: 1,
        },
    );
    r.wait_status(a, "prepared").await;
    // Repeats after the final state: new events with the same meaning change nothing.
    r.send(a, paid(a));
    r.send(a, reserved(a));
    r.send(
        a,
        OrderPrepared {
            order_id: a,
            station: "bar-1".into(),
            prep_ms: 1,
        },
    );
    // A prepared before ready (e.g. replayed out of order) does not skip a step either.
    r.send(
        b,
        OrderPrepared {
            order_id: b,
            station: "bar-1".into(),
            prep_ms: 1,
        },
    );
    r.wait_status(b, "prepared").await;
    assert!(
        eventually(PATIENCE, || async {
            r.count(topics::ORDERS_PREPARED, a) >= 2
        })
        .await
    );
    // The order service takes each topic in order: once the marker's payment and stock made it
    // ready, the repeats before them were handled, and any orders/ready of theirs was
    // published before the marker's.
    r.send(marker, paid(marker));
    r.send(marker, reserved(marker));
    let marker_ready = eventually(PATIENCE, || async {
        r.count(topics::ORDERS_READY, marker) == 1
    })
    .await;
    assert!(marker_ready, "the marker order never became ready");
    assert_eq!(r.count(topics::ORDERS_READY, a), 1);
    assert_eq!(r.status(a).await, "prepared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_request_after_the_order_failed_charges_and_reserves_nothing() {
    let r = rig(&["payment", "inventory"]).await;
    let id = Uuid::now_v7();
    // The failure overtakes the request (e.g. a retry after a restart arrives late).
    r.send(
        id,
        OrderFailed {
            order_id: id,
            reason: "test".into(),
            consumed: Default::default(),
        },
    );
    let created = OrderCreated {
        order_id: id,
        lines: vec![],
        total_cents: 250,
        ingredients: [("beans_g".to_owned(), 9)].into(),
        customer: None,
        payment: Default::default(),
    };
    assert!(
        eventually(PATIENCE, || async {
            r.count(topics::PAYMENTS_REFUNDED, id) == 1
                && r.count(topics::INVENTORY_RELEASED, id) == 1
        })
        .await
    );
    r.send(id, created.clone());
    // A marker order behind it on the same topic: once both answered the marker, the late
    // request has been handled too.
    let marker = Uuid::now_v7();
    r.send(
        marker,
        OrderCreated {
            order_id: marker,
            ..created
        },
    );
    assert!(
        eventually(PATIENCE, || async {
            r.count(topics::PAYMENTS_COMPLETED, marker) == 1
                && r.count(topics::INVENTORY_RESERVED, marker) == 1
        })
        .await
    );
    // The late request took nothing: no charge, no reservation.
    assert_eq!(r.count(topics::PAYMENTS_COMPLETED, id), 0);
    assert_eq!(r.count(topics::INVENTORY_RESERVED, id), 0);
    let refunds = r.watch.on(topics::PAYMENTS_REFUNDED);
    assert!(String::from_utf8_lossy(&refunds[0]).contains(r#""amount_cents":0"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_items_and_oversized_payloads_are_refused_clearly() {
    let r = rig(&["order"]).await;
    let items = vec![r#"{"item":"latte"}"#; 10_000].join(",");
    let (code, body) = http::post(r.http, "/orders", &format!(r#"{{"items":[{items}]}}"#))
        .await
        .unwrap();
    assert_eq!(code, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("between 1 and 20 lines"),
        "{body}"
    );
    // Over MQTT the same order is over the broker's payload limit: the POS refuses to send it
    // (the broker would drop the connection and a QoS 1 client would retry forever).
    let request = milo_pos::Request {
        order_id: Uuid::now_v7(),
        items: vec![
            OrderLine {
                item: "latte".into(),
                size: None,
                milk: None,
                qty: 1,
                modifiers: vec![]
            };
            10_000
        ],
        customer: None,
        payment: Default::default(),
    };
    let sd = r.trigger.subscribe();
    // Gives up rather than retrying forever (a bound, not a speed claim).
    let out = tokio::time::timeout(
        PATIENCE,
        milo_pos::place(
            milo_testkit::mqtt_as(&r.config, &r.config.pos.terminal),
            r.config.pos.clone(),
            request,
            |_| {},
            sd,
        ),
    )
    .await
    .expect("the POS must give up at once");
    let err = out.unwrap_err().to_string();
    assert!(err.contains("exceeds the broker limit"), "{err}");
    // Zero and negative quantities, missing fields.
    for (body, want) in [
        (r#"{"items":[{"item":"latte","qty":0}]}"#, 422),
        (r#"{"items":[{"item":"latte","qty":-1}]}"#, 422),
        (r#"{"items":[{"size":"large"}]}"#, 400),
        (r#"{"customer":"Ana"}"#, 400),
    ] {
        let (code, reply) = http::post(r.http, "/orders", body).await.unwrap();
        assert_eq!(code, want, "{body} → {reply}");
        assert!(reply["error"].is_string(), "{reply}");
    }
}
