//! A stopped station: its queue and new tickets handed back, telemetry, the CLI client.

use std::time::Duration;

use milo_bus::MqttConfig;
use milo_contracts::bar::{Consumable, DeviceCommand, DeviceState, FaultKind, TicketReturned};
use milo_contracts::events::{Ingredients, OrderPrepared};
use uuid::Uuid;

use super::{config, line, Rig, PATIENCE, STATION};
use crate::remote::{self, RemoteError};
use crate::JobState;

fn state_is(r: &Rig, state: DeviceState, fault: Option<&str>) -> bool {
    r.telemetry()
        .is_some_and(|t| t.state == state && t.fault.as_deref() == fault)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_station_hands_back_its_queue_and_new_tickets_until_refilled() {
    let mut r = Rig::new().await;
    // A boiler that takes an hour: tickets queue up.
    r.start(config(|c| {
        (c.speed, c.warmup_secs, c.auto_refill) = (1.0, 3600.0, false);
        c.telemetry_secs = 1;
    }))
    .await;
    r.wait("warming", |r| state_is(r, DeviceState::Warming, None))
        .await;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    r.ticket(a, 0, vec![line("espresso", 1)]);
    r.ticket(b, 0, vec![line("latte", 1)]);
    r.wait("both queued", |r| {
        r.telemetry().is_some_and(|t| t.queue == 2)
    })
    .await;
    r.command(DeviceCommand::Fault {
        kind: FaultKind::LowWater,
    });
    for id in [a, b] {
        let back = r.wait_for::<TicketReturned>(id, 1).await;
        let expected = TicketReturned {
            order_id: id,
            station: STATION.into(),
            attempt: 0,
            reason: "out of water".into(),
            wasted: Ingredients::new(),
            station_down: true,
            begun: 0,
        };
        assert_eq!(back[0].0, expected);
    }
    // Telemetry goes out at the fault and again every second: the one that says so may come
    // before the queue was handed back.
    r.wait("down, with nothing queued", |r| {
        state_is(r, DeviceState::Fault, Some("out of water"))
            && r.telemetry()
                .is_some_and(|t| (t.water_ml, t.queue) == (0, 0))
    })
    .await;
    let t = r.telemetry().unwrap();
    assert_eq!((t.water_ml, t.queue, t.station.as_str()), (0, 0, STATION));
    // A ticket arriving now goes straight back.
    let c = Uuid::now_v7();
    r.ticket(c, 0, vec![line("espresso", 1)]);
    let back = r.wait_for::<TicketReturned>(c, 1).await;
    assert!(back[0].0.station_down && back[0].0.wasted.is_empty());
    r.command(DeviceCommand::Refill {
        consumable: Consumable::Water,
        amount: None,
    });
    r.wait("ready again", |r| state_is(r, DeviceState::Warming, None))
        .await;
    let d = Uuid::now_v7();
    r.ticket(d, 0, vec![line("espresso", 1)]);
    r.wait("queued again", |r| {
        r.telemetry().is_some_and(|t| t.queue == 1)
    })
    .await;
    assert_eq!(r.job(d).state, JobState::Queued);
    assert!(r.events::<TicketReturned>(d).is_empty());
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_fault_during_the_grind_wastes_nothing_and_stops_the_station_until_cleared() {
    let mut r = Rig::new().await;
    r.start(config(|c| c.inject = vec![FaultKind::GroupFault]))
        .await;
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    r.ticket(a, 0, vec![line("latte", 2)]);
    let back = r.wait_for::<TicketReturned>(a, 1).await;
    assert_eq!(back[0].0.reason, "group head fault during grind");
    // The first latte was begun, but its grind never finished: no beans, no milk poured away.
    assert_eq!(back[0].0.wasted, Ingredients::new());
    assert!(back[0].0.station_down);
    assert_eq!(back[0].0.begun, 1);
    r.wait("down", |r| {
        state_is(r, DeviceState::Fault, Some("group head fault"))
    })
    .await;
    r.ticket(b, 0, vec![line("espresso", 1)]);
    let back = r.wait_for::<TicketReturned>(b, 1).await;
    assert_eq!(back[0].0.reason, "group head fault");
    r.command(DeviceCommand::Clear);
    r.wait("cleared", |r| state_is(r, DeviceState::Idle, None))
        .await;
    r.ticket(c, 0, vec![line("espresso", 1)]);
    r.wait_for::<OrderPrepared>(c, 1).await;
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_is_retained_and_the_cli_reads_it_and_sends_commands() {
    let mut r = Rig::new().await;
    r.start(config(|c| (c.auto_bump, c.telemetry_secs) = (false, 1)))
        .await;
    let a = Uuid::now_v7();
    r.ticket(a, 0, vec![line("espresso", 1)]);
    r.wait("on the rail", |r| r.state(a) == Some(JobState::Rail))
        .await;
    let limit = PATIENCE;
    remote::send(&r.mqtt, STATION, DeviceCommand::Bump, limit)
        .await
        .unwrap();
    r.wait_for::<OrderPrepared>(a, 1).await;
    // Every second: the shot pulled shows up.
    r.wait("a shot in telemetry", |r| {
        r.telemetry().is_some_and(|t| t.shots == 1)
    })
    .await;
    // Both retained messages are there: it returns as soon as it has them.
    let status = remote::status(&r.mqtt, STATION, PATIENCE, limit)
        .await
        .unwrap();
    assert_eq!(status.presence.as_deref(), Some("online"));
    let t = status.telemetry.expect("retained telemetry");
    assert_eq!(
        (t.station.as_str(), t.state, t.shots),
        (STATION, DeviceState::Idle, 1)
    );
    assert_eq!((t.water_ml, t.beans_g), (20_000 - 30, 5_000 - 9));
    assert!(t.accepting());
    let none = remote::status(&r.mqtt, "bar-9", Duration::from_millis(300), limit)
        .await
        .unwrap();
    assert_eq!((none.presence, none.telemetry), (None, None));
    // No broker there: a clear error, in time.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let nowhere = MqttConfig {
        address: format!("127.0.0.1:{port}"),
        ..MqttConfig::default()
    };
    let err = remote::send(
        &nowhere,
        STATION,
        DeviceCommand::Bump,
        Duration::from_millis(800),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RemoteError::Unreachable { .. }), "{err}");
    assert!(err
        .to_string()
        .starts_with(&format!("cannot reach the broker at 127.0.0.1:{port}")));
    r.stop().await;
}
