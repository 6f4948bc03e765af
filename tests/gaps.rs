//! Every consumer sees every event: a part away while the broker restarts (and forgets every
//! session and every queued message) gets what it missed from the producers' logs once it is
//! back, exactly once; and the retained state the broker forgot is put back by its owners.
//!
//! The broker runs as its own `milo broker` process, killed with SIGKILL and started again on
//! the same port, as systemd would; the parts run in this process.

mod common;

use std::time::{Duration, Instant};

use common::broker::Broker;
use common::rig::{all_parts, Rig};
use milo_analytics::Summary;
use milo_bus::runner::marks::Marks;
use milo_contracts::{topics, SagaMode};
use milo_testkit::{eventually, free_port, Observer, PATIENCE};
use uuid::Uuid;

const ESPRESSO: &str = r#"[{"item":"espresso"}]"#;
/// What the owners of retained topics must have put back after a broker restart.
const WITHIN: Duration = Duration::from_secs(5);

async fn place_all(rig: &Rig, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(rig.place(ESPRESSO, None).await);
    }
    for id in &ids {
        rig.wait_status(*id, "prepared").await;
    }
    ids
}

fn summary(rig: &Rig) -> Summary {
    rig.store("analytics")
        .get::<Summary>("summary")
        .unwrap()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_part_away_across_a_broker_restart_applies_every_event_it_missed_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (port, http) = (free_port(), free_port());
    let file = milo_testkit::config_file(dir.path(), port, http);
    let broker = Broker::start(&file, port);
    let mode = SagaMode::Choreography;
    let mut rig = Rig::full(mode, |c| {
        c.broker.embedded = false;
        c.mqtt.address = format!("127.0.0.1:{port}");
        c.broker.listen = ([127, 0, 0, 1], port).into();
    })
    .await;

    // Analytics goes away; its session at the broker queues what it misses, until the
    // broker is killed and forgets it.
    rig.down("analytics", false).await;
    let mut ids = place_all(&rig, 100).await;
    broker.kill();
    let broker = Broker::start(&file, port);
    let back = Instant::now();

    // What the broker forgot comes back: every part's presence and the pickup board.
    let watch = Observer::start(
        &milo_testkit::mqtt_as(&rig.config, "operator"),
        &[topics::SERVICE_STATUS_ALL, topics::BOARDS_PICKUP],
    )
    .await;
    let services: Vec<&str> = milo::shop::services_in(mode)
        .filter(|s| *s != "analytics")
        .collect();
    let restored = eventually(PATIENCE, || {
        let online = services.iter().all(|s| {
            let seen = watch.on(&topics::service_status(s));
            seen.last().is_some_and(|p| p == b"online")
        });
        std::future::ready(online && !watch.on(topics::BOARDS_PICKUP).is_empty())
    })
    .await;
    let took = back.elapsed();
    assert!(restored, "presence or the pickup board never came back");
    assert!(
        took <= WITHIN + Duration::from_secs(1),
        "restored after {took:?}"
    );

    ids.extend(place_all(&rig, 100).await);
    rig.up("analytics").await;
    // Analytics asked for everything after what it had, and every producer answered from its
    // log: the figures equal the books, each event applied once.
    let price = rig.total(ESPRESSO) as u64;
    let all = ids.len() as u64;
    let books: u64 = ids.iter().map(|id| rig.money(*id) as u64).sum();
    assert_eq!(books, price * all);
    let caught_up = eventually(PATIENCE, || {
        let s = summary(&rig);
        std::future::ready(
            s.by_status.get("prepared") == Some(&all)
                && s.charged_cents >= books
                && s.drinks_by_item.get("espresso") >= Some(&all),
        )
    })
    .await;
    let s = summary(&rig);
    assert!(caught_up, "analytics has {s:?}");
    assert_eq!(s.charged_cents, books, "charged, as the payment store says");
    assert_eq!(s.refunded_cents, 0);
    assert_eq!(s.drinks_by_item.get("espresso"), Some(&all));
    assert_eq!(s.by_status.values().sum::<u64>(), all, "{:?}", s.by_status);
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replaced_bar_board_is_handed_no_old_ticket() {
    let mode = SagaMode::Choreography;
    let parts: Vec<&str> = all_parts(mode)
        .into_iter()
        .filter(|p| *p != "device")
        .collect();
    let mut rig = Rig::start(mode, &parts, |c| c.device.warmup_secs = 0.0).await;
    let station = "bar-2";
    rig.station_up(station, |_| {}).await;
    let old = place_all(&rig, 3).await;
    // The board is replaced: a new SD card, no store. The barista service's log still holds
    // the tickets it sent the old one.
    let dir = rig.store(station).path().to_owned();
    rig.down(station, false).await;
    std::fs::remove_dir_all(&dir).unwrap();
    rig.station_up(station, |_| {}).await;
    let new = place_all(&rig, 2).await;
    // The new board saw tickets numbered past 3: a gap, asked for, and answered "made before
    // you began" rather than with the old tickets.
    let tickets = topics::device_tickets(station);
    let closed = eventually(PATIENCE, || {
        let marks = Marks::load(rig.store(station)).unwrap().snapshot();
        let mark = marks.into_iter().find(|(_, t, _)| *t == tickets);
        std::future::ready(mark.is_some_and(|(_, _, m)| m.upto >= 5 && m.ahead.is_empty()))
    })
    .await;
    assert!(closed, "the new board's gap never closed");
    // One more order, made after anything queued before it: the board made only the new ones.
    let last = place_all(&rig, 1).await;
    let jobs: Vec<(String, serde_json::Value)> =
        rig.store(station).scan("job/", None, usize::MAX).unwrap();
    let made: Vec<String> = jobs.into_iter().map(|(k, _)| k).collect();
    let expected: Vec<String> = new.iter().chain(&last).map(Uuid::to_string).collect();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(
        made, expected_sorted,
        "old orders {old:?} were handed to the new board"
    );
}
