//! The running parts' side of `milo trace`: one operator connection per part, asked about the
//! order's events and dead letters, then about its inbox, all parts at the same time.

use std::time::Duration;

use milo::trace::{self, Found, PartFound, Read, Reader};
use milo_bus::dlq::{AskError, Requester};
use milo_bus::MqttConfig;
use milo_contracts::dead_letters::{DeadLetterAnswer, DeadLetterOp};
use milo_contracts::trace::TracedEvent;
use tokio::task::JoinSet;
use uuid::Uuid;

/// How long to wait for the broker, then for each answer.
const WAIT: Duration = Duration::from_secs(5);

/// Asks the parts `wanted` (indices of `readers`) about the order, all at once; the connections of those that answered. `Err` only for a broker address that does
/// not parse.
pub(super) async fn ask_all(
    mqtt: &MqttConfig,
    readers: &[Reader],
    wanted: &[usize],
    found: &mut [PartFound],
    order: Uuid,
) -> Result<Vec<(usize, Requester)>, AskError> {
    let mut set = JoinSet::new();
    for &i in wanted {
        let (mqtt, part) = (mqtt.clone(), readers[i].part.clone());
        set.spawn(async move { (i, ask_part(&mqtt, &part, order).await) });
    }
    let mut requesters = Vec::new();
    while let Some(done) = set.join_next().await {
        let Ok((i, answer)) = done else { continue };
        let p = &mut found[i];
        match answer {
            Ok((requester, f)) => {
                (p.read, p.found) = (Read::Asked, f);
                requesters.push((i, requester));
            }
            Err(AskError::Address(e)) => return Err(AskError::Address(e)),
            Err(e) => match &mut p.read {
                Read::Absent(why) => *why = format!("{why}, and {e}"),
                read => *read = Read::Unreachable(format!("it holds its store, and {e}")),
            },
        }
    }
    Ok(requesters)
}

/// Connects and asks one part for the order's events and dead letters.
async fn ask_part(
    mqtt: &MqttConfig,
    part: &str,
    order: Uuid,
) -> Result<(Requester, Found), AskError> {
    let mut r = Requester::connect(mqtt, part, WAIT).await?;
    match found_by(&mut r, order).await {
        Ok(found) => Ok((r, found)),
        Err(e) => {
            r.close().await;
            Err(e)
        }
    }
}

/// Every page of the part's events of the order, then of its dead letters about it.
async fn found_by(r: &mut Requester, order: Uuid) -> Result<Found, AskError> {
    let (order_id, from, upto) = (order, 0, None);
    let mut answers = r
        .pages(DeadLetterOp::Trace {
            order_id,
            from,
            upto,
        })
        .await?;
    let letters = DeadLetterOp::OrderLetters {
        order_id,
        from,
        upto,
    };
    answers.extend(r.pages(letters).await?);
    let mut found = Found::default();
    for answer in answers {
        match answer {
            DeadLetterAnswer::Trace {
                events, omitted, ..
            } => {
                found.events.extend(events);
                found.omitted += omitted;
            }
            DeadLetterAnswer::OrderLetters {
                letters, omitted, ..
            } => {
                found.letters.extend(letters);
                found.omitted += omitted;
            }
            _ => {}
        }
    }
    Ok(found)
}

/// Asks each part that answered whether its inbox holds the events it consumes, then closes
/// its connection. A part that stops answering now is marked unreachable.
pub(super) async fn inboxes(
    asked: Vec<(usize, Requester)>,
    readers: &[Reader],
    found: &mut [PartFound],
    events: &[TracedEvent],
    max_payload: usize,
) {
    // A request carries about 40 bytes per id; its answer fewer.
    let chunk = (max_payload.saturating_sub(1024) / 40).max(1);
    let mut set = JoinSet::new();
    for (i, mut r) in asked {
        let ids = trace::consumed(&readers[i], events);
        set.spawn(async move {
            let mut held = Vec::new();
            let mut result = Ok(());
            for ids in ids.chunks(chunk) {
                match r
                    .ask(DeadLetterOp::Inbox {
                        events: ids.to_vec(),
                    })
                    .await
                {
                    Ok(DeadLetterAnswer::Inbox { held: h }) => held.push((ids.to_vec(), h)),
                    Ok(_) => {}
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            r.close().await;
            (i, held, result)
        });
    }
    while let Some(done) = set.join_next().await {
        let Ok((i, held, result)) = done else {
            continue;
        };
        let p = &mut found[i];
        for (ids, h) in held {
            p.found.held(&ids, &h);
        }
        if let Err(e) = result {
            p.read = Read::Unreachable(format!("it stopped answering: {e}"));
        }
    }
}
