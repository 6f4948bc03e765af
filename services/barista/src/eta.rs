//! Estimated ready times (`orders/eta`).
//!
//! A ticket's estimate is published when it is queued at a station (its position and the
//! remaining time of the tickets ahead plus its own), once when it waits for a station (its
//! own time), and again when its station's queue moves (a ticket made, handed back, moved,
//! withdrawn, failed, recalled or bumped) if its ready time moved by `barista.eta_step_secs`
//! or more (a second at least) and it is among the first [`REFRESH_DEPTH`] of the queue. Two ready times both within a step from now (or past) say the
//! same ("any moment now"): at speed 0 every estimate is "now", and nothing is published again.

use milo_bus::{Rejection, Tx};
use milo_contracts::bar::OrderEta;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model;
use crate::station::Bar;
use crate::ticket::Slot;

/// The smallest move of a ready time worth publishing, whatever `eta_step_secs` says.
pub const MIN_STEP_MS: i64 = 1_000;

/// Where each ticket of a queue (in making order) stands: order, tickets ahead, and
/// milliseconds until it should be ready.
pub fn plan(queue: &[(Uuid, Slot)], factor: f64, now_ms: i64) -> Vec<(Uuid, u32, u64)> {
    let mut ahead = 0u64;
    queue
        .iter()
        .enumerate()
        .map(|(position, (order, slot))| {
            ahead = ahead.saturating_add(model::remaining_ms(slot, factor, now_ms));
            (*order, u32::try_from(position).unwrap_or(u32::MAX), ahead)
        })
        .collect()
}

/// Whether a ready time moved enough since `last` was published to publish it again: by the
/// step at least, unless both say "within a step from now" (or already past).
pub fn moved(last_ms: i64, new_ms: i64, now_ms: i64, step_secs: u64) -> bool {
    let step = i64::try_from(step_secs.saturating_mul(1000))
        .unwrap_or(i64::MAX / 4)
        .clamp(MIN_STEP_MS, i64::MAX / 4);
    let soon = now_ms.saturating_add(step);
    if last_ms <= soon && new_ms <= soon {
        return false;
    }
    new_ms.abs_diff(last_ms) >= step.unsigned_abs()
}

/// Publishes an estimate; returns the ready time published (ms since the epoch).
pub(crate) fn publish(
    tx: &mut Tx,
    order_id: Uuid,
    station: Option<&str>,
    position: u32,
    wait_ms: u64,
    now_ms: i64,
    cause: Option<Uuid>,
) -> Result<i64, Rejection> {
    let ready_ms = now_ms.saturating_add(i64::try_from(wait_ms).unwrap_or(i64::MAX / 2));
    let ready_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ready_ms) * 1_000_000)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let data = OrderEta {
        order_id,
        station: station.map(str::to_owned),
        position,
        wait_secs: wait_ms.div_ceil(1000),
        ready_at,
    };
    let event = tx.event(order_id, cause, data);
    tx.publish(&event)?;
    Ok(ready_ms)
}

/// Publishes the estimate of one ticket just queued at `station`.
pub(crate) fn queued(
    tx: &mut Tx,
    bar: &mut Bar,
    station: &str,
    order: Uuid,
    cause: Option<Uuid>,
) -> Result<(), Rejection> {
    let (factor, now) = (bar.factor(station), bar.now_ms);
    let spot = plan(bar.queue(tx, station)?, factor, now)
        .into_iter()
        .find(|(o, _, _)| *o == order);
    if let Some((_, position, wait)) = spot {
        let ready = publish(tx, order, Some(station), position, wait, now, cause)?;
        bar.update(tx, station, order, |s| s.eta_ms = Some(ready))?;
    }
    Ok(())
}

/// How many tickets from the head of a queue are looked at again when it moves. A ticket
/// deeper in a long queue (a rush) keeps the estimate it was given when queued until it gets
/// this close: re-estimating a whole rush on every drink made would publish storms of
/// estimates and cost the service time in proportion to the queue.
pub const REFRESH_DEPTH: usize = 32;

/// After `station`'s queue moved: publishes the estimates of its first [`REFRESH_DEPTH`]
/// tickets that moved by `step_secs` or more (and those never published).
pub(crate) fn refresh(
    tx: &mut Tx,
    bar: &mut Bar,
    station: &str,
    step_secs: u64,
    cause: Option<Uuid>,
) -> Result<(), Rejection> {
    let (factor, now) = (bar.factor(station), bar.now_ms);
    let queue = bar.queue(tx, station)?;
    let queue = queue[..queue.len().min(REFRESH_DEPTH)].to_vec();
    let last: Vec<Option<i64>> = queue.iter().map(|(_, s)| s.eta_ms).collect();
    for ((order, position, wait), last) in plan(&queue, factor, now).into_iter().zip(last) {
        let ready = now.saturating_add(i64::try_from(wait).unwrap_or(i64::MAX / 2));
        if last.is_some_and(|l| !moved(l, ready, now, step_secs)) {
            continue;
        }
        let ready = publish(tx, order, Some(station), position, wait, now, cause)?;
        bar.update(tx, station, order, |s| s.eta_ms = Some(ready))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(seq: u64, started_ms: Option<i64>) -> Slot {
        Slot {
            seq,
            base_ms: 10_000,
            started_ms,
            eta_ms: None,
        }
    }

    #[test]
    fn each_ticket_waits_for_those_ahead_and_itself() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let queue = [
            (a, slot(0, Some(0))),
            (b, slot(1, None)),
            (c, slot(2, None)),
        ];
        // Factor 0.5: 5 s each; the first has been at the machine for 2 s.
        let p = plan(&queue, 0.5, 2_000);
        assert_eq!(p, [(a, 0, 3_000), (b, 1, 8_000), (c, 2, 13_000)]);
        assert!(plan(&[], 0.5, 0).is_empty());
    }

    #[test]
    fn an_estimate_is_published_again_only_when_it_moved_enough() {
        let now = 100_000;
        assert!(moved(now + 5_000, now + 11_000, now, 5));
        assert!(moved(now + 8_000, now - 1_000, now, 5));
        assert!(!moved(now + 5_000, now + 9_000, now, 5));
        // A step of 0 still needs a second.
        assert!(!moved(now + 5_000, now + 5_400, now, 0));
        assert!(moved(now + 5_000, now + 6_000, now, 0));
        // Both due or imminent: "now" stays "now" (speed 0 publishes no storm).
        assert!(!moved(now - 30_000, now, now, 0));
        assert!(!moved(now - 30_000, now + 900, now, 0));
        assert!(!moved(now + 4_000, now - 2_000, now, 5));
        assert!(moved(now - 30_000, now + 2_000, now, 1));
        assert!(moved(now + 3_000, now, now, 1));
    }
}
