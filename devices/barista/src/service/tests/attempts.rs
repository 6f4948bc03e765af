//! Hand-outs (`attempt`): repeats, newer attempts, stale ones, and moved tickets.

use milo_contracts::bar::{TicketMoved, TicketReturned};
use milo_contracts::events::{Ingredients, OrderPrepared};
use milo_contracts::saga::OrderStarted;
use milo_contracts::topics;
use uuid::Uuid;

use super::{config, line, Rig, STATION};
use crate::JobState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_or_a_newer_attempt_of_a_made_ticket_is_answered_as_recorded() {
    let mut r = Rig::new().await;
    r.start(config(|_| {})).await;
    let id = Uuid::now_v7();
    r.ticket(id, 0, vec![line("espresso", 1)]);
    r.wait_for::<OrderPrepared>(id, 1).await;
    r.ticket(id, 0, vec![line("espresso", 1)]);
    r.ticket(id, 1, vec![line("espresso", 1)]);
    let answers = r.wait_for::<OrderPrepared>(id, 3).await;
    assert!(
        answers.iter().all(|(_, p)| *p == answers[0].1),
        "byte for byte"
    );
    assert_eq!(r.distinct::<OrderStarted>(id), 1, "made once");
    assert_eq!(r.distinct::<OrderPrepared>(id), 1, "one event, repeated");
    assert_eq!(r.job(id).attempt, 1);
    // An older hand-out is stale: nothing at all. (A later ticket's answer comes after it.)
    r.ticket(id, 0, vec![line("espresso", 1)]);
    let marker = Uuid::now_v7();
    r.ticket(marker, 0, vec![line("espresso", 1)]);
    r.wait_for::<OrderPrepared>(marker, 1).await;
    assert_eq!(r.events::<OrderPrepared>(id).len(), 3);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_fault_hands_back_the_drinks_begun_and_a_newer_attempt_is_a_new_job() {
    let mut r = Rig::new().await;
    // Every drink faults at its second stage, and the machine goes on.
    r.start(config(|c| c.fault_rate = 1.0)).await;
    let id = Uuid::now_v7();
    r.ticket(id, 0, vec![line("latte", 2)]);
    let back = r.wait_for::<TicketReturned>(id, 1).await;
    // The first latte faulted at its extract, after its grind; the second never began.
    let ground = Ingredients::from([("beans_g".into(), 18)]);
    assert_eq!(back[0].0.wasted, ground, "the first latte's beans only");
    assert!(
        back[0].0.reason.ends_with("during extract"),
        "{:?}",
        back[0].0
    );
    assert!(!back[0].0.station_down);
    assert_eq!(r.job(id).state, JobState::Returned);
    r.stop().await;
    r.start(config(|_| {})).await;
    r.ticket(id, 1, vec![line("latte", 2)]);
    r.wait_for::<OrderPrepared>(id, 1).await;
    assert_eq!(r.distinct::<TicketReturned>(id), 1);
    assert_eq!(r.job(id).attempt, 1);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_ticket_is_dropped_if_queued_and_finished_if_started() {
    let mut r = Rig::new().await;
    // An espresso takes 1.2 s at speed 0.2; five, 6 s: b is still queued behind a when its
    // move comes, however slow the test is to send it.
    r.start(config(|c| c.speed = 0.2)).await;
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    r.ticket(a, 0, vec![line("espresso", 5)]);
    r.ticket(b, 0, vec![line("espresso", 1)]);
    r.wait_for::<OrderStarted>(a, 1).await;
    let tickets = topics::device_tickets(STATION);
    for order_id in [a, b] {
        let moved = TicketMoved {
            order_id,
            station: STATION.into(),
            attempt: 0,
        };
        r.publish(&tickets, order_id, moved);
    }
    r.ticket(c, 0, vec![line("espresso", 1)]);
    r.wait_for::<OrderPrepared>(c, 1).await;
    assert_eq!(
        r.events::<OrderPrepared>(a).len(),
        1,
        "a started drink is finished"
    );
    assert!(
        r.events::<OrderStarted>(b).is_empty(),
        "a queued one is dropped"
    );
    assert_eq!(r.job(b).state, JobState::Moved);
    assert!(
        r.events::<TicketReturned>(b).is_empty(),
        "no answer to a move"
    );
    // It comes back later (attempt 1): a new job.
    r.ticket(b, 1, vec![line("espresso", 1)]);
    r.wait_for::<OrderPrepared>(b, 1).await;
    r.stop().await;
}
