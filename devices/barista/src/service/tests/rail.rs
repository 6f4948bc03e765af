//! Bump and recall, withdrawals of made tickets, and commands that cannot be read.

use milo_contracts::bar::{DeviceCommand, TicketBumped, TicketRecalled};
use milo_contracts::events::{DeadLettered, OrderPrepared};
use milo_contracts::saga::{TicketWithdrawn, WithdrawTicket};
use milo_contracts::{topics, RawEnvelope};
use uuid::Uuid;

use super::{config, line, Rig, STATION};
use crate::JobState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_tickets_wait_for_a_bump_and_a_recall_takes_the_last_one_back() {
    let mut r = Rig::new().await;
    r.start(config(|c| c.auto_bump = false)).await;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    r.ticket(a, 0, vec![line("espresso", 1)]);
    r.ticket(b, 0, vec![line("latte", 2)]);
    r.wait("both on the rail", |r| {
        [a, b].iter().all(|id| r.state(*id) == Some(JobState::Rail))
    })
    .await;
    assert!(
        r.events::<OrderPrepared>(a).is_empty(),
        "not before its bump"
    );
    let short = |id: Uuid| id.simple().to_string()[28..].to_owned();
    r.wait("the bump screen", |r| {
        r.display.shown().iter().any(|f| {
            f.0[0].starts_with("made: BUMP") && f.0[2].starts_with(&format!("#{} Ada", short(a)))
        })
    })
    .await;
    // Made: too late to withdraw.
    let withdraw = WithdrawTicket { order_id: a };
    r.publish(&topics::device_tickets(STATION), a, withdraw);
    let answer = r.wait_for::<TicketWithdrawn>(a, 1).await;
    assert!(!answer[0].0.withdrawn);
    assert_eq!(answer[0].0.reason.as_deref(), Some("already made"));
    // Oldest first.
    r.command(DeviceCommand::Bump);
    r.wait_for::<OrderPrepared>(a, 1).await;
    assert!(r.events::<OrderPrepared>(b).is_empty());
    r.command(DeviceCommand::Bump);
    r.wait_for::<OrderPrepared>(b, 1).await;
    r.command(DeviceCommand::Recall);
    let recalled = r.wait_for::<TicketRecalled>(b, 1).await;
    assert_eq!(recalled[0].0.station, STATION);
    assert_eq!(r.job(b).state, JobState::Rail);
    r.command(DeviceCommand::Bump);
    r.wait_for::<TicketBumped>(b, 1).await;
    assert_eq!(r.distinct::<OrderPrepared>(b), 1, "prepared once");
    assert!(r.events::<TicketRecalled>(a).is_empty());
    assert_eq!(r.job(b).state, JobState::Made);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_commands_are_dead_lettered_with_the_reason() {
    let mut r = Rig::new().await;
    r.start(config(|_| {})).await;
    let commands = topics::device_commands(STATION);
    let envelope = |kind: &str, data: &str| {
        format!(
            r#"{{"id":"{}","type":"{kind}","version":1,"occurred_at":"2026-01-01T08:00:00Z","correlation_id":"{}","causation_id":null,"source":"test","data":{data}}}"#,
            Uuid::now_v7(),
            Uuid::nil()
        )
    };
    r.publish_raw(
        &commands,
        envelope("DeviceCommand", r#"{"command":"explode"}"#).into_bytes(),
    );
    r.publish_raw(&commands, envelope("OrderPrepared", "{}").into_bytes());
    r.publish_raw(&commands, b"bump!".to_vec());
    let dlq = topics::dlq(&crate::service_name(STATION), &commands);
    r.wait("three dead letters", |r| r.on(&dlq).len() >= 3)
        .await;
    let reasons: Vec<String> = r
        .on(&dlq)
        .iter()
        .map(|p| {
            let env = RawEnvelope::parse(p).unwrap();
            env.decode::<DeadLettered>().unwrap().reason
        })
        .collect();
    assert!(reasons[0].starts_with("wrong schema"), "{reasons:?}");
    assert!(
        reasons[1].contains("unknown type \"OrderPrepared\""),
        "{reasons:?}"
    );
    assert!(reasons[2].starts_with("malformed JSON"), "{reasons:?}");
    // The device goes on.
    let id = Uuid::now_v7();
    r.ticket(id, 0, vec![line("espresso", 1)]);
    r.wait_for::<OrderPrepared>(id, 1).await;
    r.stop().await;
}
