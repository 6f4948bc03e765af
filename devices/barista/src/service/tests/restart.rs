//! A restarted station hands back what it held, never resumes it.

use milo_contracts::bar::TicketReturned;
use milo_contracts::events::{Ingredients, OrderPrepared};
use milo_contracts::saga::OrderStarted;
use uuid::Uuid;

use super::{config, line, Rig, STATION};
use crate::JobState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_left_at_a_restart_are_handed_back_and_never_resumed() {
    let mut r = Rig::new().await;
    // An espresso takes 6 s at speed 1: stopped in the middle of its first drink.
    r.start(config(|c| c.speed = 1.0)).await;
    let (started, queued) = (Uuid::now_v7(), Uuid::now_v7());
    r.ticket(started, 0, vec![line("espresso", 2)]);
    r.ticket(queued, 0, vec![line("latte", 1)]);
    r.wait_for::<OrderStarted>(started, 1).await;
    r.wait("the second ticket queued", |r| {
        r.store
            .get::<crate::Job>(&crate::job::job_key(queued))
            .unwrap()
            .is_some()
    })
    .await;
    r.stop().await;
    // Instant now: a device that resumed would finish both at once.
    r.start(config(|_| {})).await;
    let back = r.wait_for::<TicketReturned>(started, 1).await;
    let one_espresso = Ingredients::from([("beans_g".into(), 9), ("water_ml".into(), 30)]);
    let expected = TicketReturned {
        order_id: started,
        station: STATION.into(),
        attempt: 0,
        reason: "station restarted".into(),
        wasted: one_espresso,
        station_down: false,
        begun: 1,
    };
    assert_eq!(back[0].0, expected);
    let back = r.wait_for::<TicketReturned>(queued, 1).await;
    assert!(
        back[0].0.wasted.is_empty(),
        "nothing begun: {:?}",
        back[0].0
    );
    assert!(!back[0].0.station_down);
    // Never resumed: a ticket after them is made, they are not.
    let later = Uuid::now_v7();
    r.ticket(later, 0, vec![line("espresso", 1)]);
    r.wait_for::<OrderPrepared>(later, 1).await;
    assert!(r.events::<OrderPrepared>(started).is_empty());
    assert!(r.events::<OrderPrepared>(queued).is_empty());
    assert!(r.events::<OrderStarted>(queued).is_empty());
    assert_eq!(r.job(started).state, JobState::Returned);
    // The same hand-out again: the recorded answer, byte for byte.
    r.ticket(started, 0, vec![line("espresso", 2)]);
    let again = r.wait_for::<TicketReturned>(started, 2).await;
    assert_eq!(again[0].1, again[1].1);
    // The barista service hands it out again (attempt 1): a new job here.
    r.ticket(started, 1, vec![line("espresso", 2)]);
    r.wait_for::<OrderPrepared>(started, 1).await;
    let job = r.job(started);
    assert_eq!((job.state, job.attempt, job.begun), (JobState::Made, 1, 2));
    assert_eq!(r.distinct::<TicketReturned>(started), 1);
    r.stop().await;
}
