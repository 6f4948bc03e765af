//! Following orders taken by a [`Pos`]: one order until it is done ([`follow_order`]), or
//! the whole queue until the store answered every order in it ([`sync`]).

use std::time::Duration;

use milo_bus::Shutdown;
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use crate::update::OrderUpdate;
use crate::{Pos, PosError, Update};

/// How following an order ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    /// A final update: prepared, rejected or canceled.
    Done(Update),
    /// The store never answered in time: the order is still in the queue, and the next
    /// `milo pos` run sends it.
    StillQueued,
    /// The store has it, but it was not done in time.
    Unfinished,
    /// Stopped by the user.
    Interrupted,
}

/// Reports the updates of `order_id` from `updates` until a final one, `limit` or
/// `shutdown`. Subscribe `updates` before taking the order, so none is missed.
pub async fn follow_order(
    pos: &Pos,
    updates: &mut broadcast::Receiver<OrderUpdate>,
    order_id: Uuid,
    limit: Duration,
    mut on_update: impl FnMut(&Update),
    mut shutdown: Shutdown,
) -> Result<Followed, PosError> {
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => {
                return Ok(if pos.is_queued(order_id)? {
                    Followed::StillQueued
                } else {
                    Followed::Unfinished
                });
            }
            _ = shutdown.wait() => return Ok(Followed::Interrupted),
            u = updates.recv() => match u {
                Ok(u) if u.order_id == order_id => {
                    on_update(&u.update);
                    if u.update.is_final() {
                        return Ok(Followed::Done(u.update));
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return Err(PosError::Stopped),
            },
        }
    }
}

/// Waits until the store answered every queued order, or `limit`, reporting each answer
/// (`orders/created` or `orders/rejected`) of a queued order. Returns the orders still
/// queued at the end.
pub async fn sync(
    pos: &Pos,
    limit: Duration,
    mut on_answer: impl FnMut(Uuid, &Update),
    mut shutdown: Shutdown,
) -> Result<usize, PosError> {
    let mut updates = pos.updates();
    let mut waiting: std::collections::BTreeSet<Uuid> = pos
        .queued()?
        .into_iter()
        .map(|q| q.placed.order_id)
        .collect();
    let mut len = pos.queue_len();
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    while *len.borrow_and_update() > 0 {
        tokio::select! {
            _ = &mut deadline => break,
            _ = shutdown.wait() => break,
            changed = len.changed() => if changed.is_err() { return Err(PosError::Stopped) },
            u = updates.recv() => match u {
                Ok(u) if u.update.is_answer() && waiting.remove(&u.order_id) => {
                    on_answer(u.order_id, &u.update);
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return Err(PosError::Stopped),
            },
        }
    }
    // An answer heard just before the queue emptied may still be in the channel.
    while let Ok(u) = updates.try_recv() {
        if u.update.is_answer() && waiting.remove(&u.order_id) {
            on_answer(u.order_id, &u.update);
        }
    }
    Ok(pos.queued()?.len())
}

/// What the counter says while the broker cannot be reached.
pub fn unreachable_note(queued: usize) -> String {
    let orders = if queued == 1 { "order" } else { "orders" };
    format!("store unreachable: {queued} {orders} queued, will send when it is back")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unreachable_note_counts_orders() {
        assert_eq!(
            unreachable_note(3),
            "store unreachable: 3 orders queued, will send when it is back"
        );
        assert_eq!(
            unreachable_note(1),
            "store unreachable: 1 order queued, will send when it is back"
        );
    }
}
