use super::*;

fn who(name: &str, role: Role) -> Identity {
    Identity::new(name, role)
}

#[test]
fn only_payment_says_a_payment() {
    let pos = who("pos-1", Role::Pos);
    let err = pos.may_publish(topics::PAYMENTS_COMPLETED).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unauthorised: pos-1 (pos) may not publish on payments/completed"
    );
    let payment = who("payment", Role::Service);
    let rule = payment.may_publish(topics::PAYMENTS_COMPLETED).unwrap();
    let topic = topics::PAYMENTS_COMPLETED;
    payment
        .may_emit(rule, topic, "PaymentCompleted", "payment")
        .unwrap();
    let err = payment
        .may_emit(rule, topic, "OrderReady", "payment")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unauthorised: payment may not emit OrderReady on payments/completed"
    );
    let err = payment
        .may_emit(rule, topic, "PaymentCompleted", "order")
        .unwrap_err();
    assert!(matches!(err, Denied::Source { .. }));
    let observer = who("anonymous", Role::Observer);
    assert!(observer.may_publish(topics::PAYMENTS_COMPLETED).is_err());
    assert!(observer.may_publish("services/order/status").is_err());
}

#[test]
fn presence_and_telemetry_only_from_the_part_itself() {
    let bar1 = who("bar-1", Role::Station);
    assert!(bar1.may_publish("devices/bar-1/status").is_ok());
    assert!(bar1.may_publish("devices/bar-1/telemetry").is_ok());
    assert!(bar1.may_publish("devices/ghost-9/status").is_err());
    assert!(bar1
        .may_publish("services/barista-device-bar-1/status")
        .is_ok());
    assert!(bar1
        .may_publish("dlq/barista-device-bar-1/orders/ready")
        .is_ok());
    let order = who("order", Role::Service);
    assert!(order.may_publish("services/order/status").is_ok());
    assert!(order.may_publish("services/payment/status").is_err());
    assert!(order.may_publish("devices/bar-1/status").is_err());
    let op = who("operator", Role::Operator);
    assert!(op.may_publish(topics::COMMANDS_INVENTORY_RESTOCK).is_ok());
    assert!(op.may_publish("devices/bar-1/commands").is_ok());
    assert!(op.may_publish(topics::ORDERS_READY).is_err());
    assert!(order
        .may_publish(topics::COMMANDS_INVENTORY_RESTOCK)
        .is_err());
    assert!(order.may_publish("nobody/knows").is_err());
    assert!(order.may_publish("orders/+").is_err());
}

#[test]
fn the_order_service_says_the_bars_event_again_but_never_makes_one() {
    let topic = topics::ORDERS_PREPARED;
    let order = who("order", Role::Service);
    let rule = order.may_publish(topic).unwrap();
    let ok = order.may_emit(rule, topic, "OrderPrepared", "barista-device-bar-1");
    assert!(ok.is_ok());
    let own = order.may_emit(rule, topic, "OrderPrepared", "order");
    assert!(matches!(own, Err(Denied::Source { .. })));
    let pos = who("pos", Role::Pos);
    assert!(pos.may_publish(topic).is_err());
    let payment = who("payment", Role::Service);
    assert!(payment.may_publish(topic).is_err());
    let bar = who("bar-1", Role::Station);
    let rule = bar.may_publish(topic).unwrap();
    assert!(bar
        .may_emit(rule, topic, "OrderPrepared", "barista-device-bar-2")
        .is_err());
    assert!(bar
        .may_emit(rule, topic, "OrderPrepared", "barista-device-bar-1")
        .is_ok());
    let dlq = "dlq/order/orders/placed";
    let rule = order.may_publish(dlq).unwrap();
    assert!(order.may_emit(rule, dlq, "DeadLettered", "order").is_ok());
}

#[test]
fn every_event_type_is_in_the_table_once_per_topic() {
    for r in POLICY {
        assert!(!r.producers.is_empty(), "{}", r.topic);
        let same = POLICY.iter().filter(|o| o.topic == r.topic).count();
        assert_eq!(same, 1, "{} twice", r.topic);
    }
}

#[test]
fn reads() {
    let pos = who("pos-1", Role::Pos);
    assert!(pos.may_subscribe(topics::ORDERS_PREPARED));
    assert!(pos.may_subscribe(topics::MENU_AVAILABILITY));
    assert!(!pos.may_subscribe("#"));
    assert!(!pos.may_subscribe("orders/+"));
    assert!(!pos.may_subscribe(topics::ORDERS_PLACED));
    assert!(!pos.may_subscribe(topics::CUSTOMERS_NOTIFIED));
    assert!(!pos.may_subscribe("devices/bar-1/tickets"));
    let bar = who("bar-1", Role::Station);
    assert!(bar.may_subscribe("devices/bar-1/tickets"));
    assert!(bar.may_subscribe("devices/bar-1/#"));
    assert!(bar.may_subscribe("commands/barista-device-bar-1/dead-letters"));
    assert!(!bar.may_subscribe("devices/bar-2/tickets"));
    assert!(!bar.may_subscribe("devices/+/tickets"));
    assert!(!bar.may_subscribe(topics::ORDERS_CREATED));
    assert!(who("operator", Role::Operator).may_subscribe("#"));
    assert!(!who("operator", Role::Operator).may_subscribe("a/#/b"));
}

#[test]
fn client_ids_belong_to_their_part() {
    let known = vec![
        who("barista", Role::Service),
        who("payment", Role::Service),
        who("bar-1", Role::Station),
        who("pos-1", Role::Pos),
        who("pos-12", Role::Pos),
        who("operator", Role::Operator),
    ];
    let payment = &known[1];
    assert!(payment.may_use_client_id("milo-payment", &known).is_ok());
    assert!(payment
        .may_use_client_id("milo-payment-out", &known)
        .is_ok());
    assert!(known[0].may_use_client_id("milo-payment", &known).is_err());
    // The longest name wins: milo-barista-device-bar-1 is the station's.
    assert!(known[0]
        .may_use_client_id("milo-barista-device-bar-1", &known)
        .is_err());
    assert!(known[2]
        .may_use_client_id("milo-barista-device-bar-1", &known)
        .is_ok());
    assert!(known[3].may_use_client_id("milo-pos-12-x", &known).is_err());
    assert!(known[4].may_use_client_id("milo-pos-12-x", &known).is_ok());
    assert!(known[5].may_use_client_id("mosq-abc", &known).is_ok());
    let anon = who("anonymous", Role::Observer);
    assert!(anon.may_use_client_id("milo-payment", &known).is_err());
    assert!(anon.may_use_client_id("milo-nobody", &known).is_err());
    assert!(anon.may_use_client_id("mosq-1", &known).is_ok());
}

#[test]
fn filters() {
    assert!(filter_within("orders/ready", "orders/+"));
    assert!(filter_within("devices/bar-1/#", "devices/bar-1/#"));
    assert!(!filter_within("devices/#", "devices/bar-1/#"));
    assert!(!filter_within("devices/+/tickets", "devices/bar-1/#"));
    assert!(filter_within("a/b/c", "#"));
    assert!(!valid_filter("a/#/b"));
    assert!(!valid_filter("a+/b"));
    assert!(topic_matches("devices/+/status", "devices/x/status"));
    assert!(!topic_matches("devices/+/status", "devices/x/y/status"));
    assert!(topic_matches("dlq/+/#", "dlq/order/orders/placed"));
}

/// Only the payment service may publish `topic`, and only events of type `event` there: every
/// other part and role (`others`) is refused the topic.
fn only_payment_emits(topic: &str, event: &str, others: &[(&str, Role)]) {
    for (name, role) in others {
        let err = who(name, *role).may_publish(topic).unwrap_err();
        assert!(matches!(err, Denied::Topic { .. }), "{name}: {err}");
    }
    let payment = who("payment", Role::Service);
    let rule = payment.may_publish(topic).unwrap();
    payment.may_emit(rule, topic, event, "payment").unwrap();
    let err = payment
        .may_emit(rule, topic, "PaymentCompleted", "payment")
        .unwrap_err();
    assert!(matches!(err, Denied::Type { .. }), "{err}");
}

#[test]
fn only_payment_says_whether_cards_work() {
    let topic = topics::PAYMENTS_GATEWAY;
    let others = [
        ("pos-1", Role::Pos),
        ("order", Role::Service),
        ("bar-1", Role::Station),
        ("operator", Role::Operator),
        ("anonymous", Role::Observer),
    ];
    only_payment_emits(topic, "GatewayStatus", &others);
    // A POS reads it, to say "card payments offline" before the customer pays.
    assert!(who("pos-1", Role::Pos).may_subscribe(topic));
}

#[test]
fn only_payment_says_a_charge_was_declined_after_the_fact() {
    let topic = topics::PAYMENTS_DECLINED_OFFLINE;
    let others = [
        ("pos-1", Role::Pos),
        ("order", Role::Service),
        ("analytics", Role::Service),
        ("bar-1", Role::Station),
        ("operator", Role::Operator),
        ("anonymous", Role::Observer),
    ];
    only_payment_emits(topic, "PaymentDeclinedOffline", &others);
    // It names the customer: no POS reads it.
    assert!(!who("pos-1", Role::Pos).may_subscribe(topic));
    assert!(!who("pos-1", Role::Pos).may_subscribe("payments/#"));
}
