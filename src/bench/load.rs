//! The load: POS clients ringing up orders one after another, the observer timing each answer,
//! and the progress line.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use milo_bus::link::{Link, LinkCommand};
use milo_contracts::events::{OrderLine, OrderPlaced, OrderPrepared};
use milo_contracts::{topics, Envelope, RawEnvelope};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::Until;

/// How long a POS client waits for one order before leaving it behind and ringing up the next.
/// The order left behind still counts: completed if it is prepared before the run ends, timed
/// out otherwise.
pub const ORDER_LIMIT: Duration = Duration::from_secs(30);

/// One order, as seen from the counter and the observer.
#[derive(Debug)]
pub(super) struct Track {
    pub placed: Instant,
    pub ready: Option<Instant>,
    pub prepared: Option<Instant>,
    pub failed: bool,
    /// The station that made it.
    pub station: Option<String>,
    waiter: Option<oneshot::Sender<()>>,
}

/// Every order placed so far, by id.
#[derive(Debug, Clone, Default)]
pub(super) struct Tracks(Arc<Mutex<HashMap<Uuid, Track>>>);

impl Tracks {
    pub fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Track>> {
        // A poisoned lock only means a task panicked mid-update; the map is still usable.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Orders placed, prepared and failed so far.
    pub fn counts(&self) -> (usize, usize, usize) {
        let all = self.lock();
        let prepared = all.values().filter(|t| t.prepared.is_some()).count();
        let failed = all
            .values()
            .filter(|t| t.failed && t.prepared.is_none())
            .count();
        (all.len(), prepared, failed)
    }

    /// Whether every order placed is prepared or failed.
    pub fn all_final(&self) -> bool {
        self.lock()
            .values()
            .all(|t| t.prepared.is_some() || t.failed)
    }
}

/// The topics the observer follows.
pub(super) fn observed() -> Vec<String> {
    [
        topics::ORDERS_READY,
        topics::ORDERS_PREPARED,
        topics::ORDERS_FAILED,
        topics::ORDERS_REJECTED,
    ]
    .map(String::from)
    .to_vec()
}

/// POS client `n`: rings up `orders` one after another, each once the last is answered
/// (`until`, or failed), for at most [`ORDER_LIMIT`] each; places none after `deadline` and
/// stops waiting then.
pub(super) async fn counter(
    pos: Link,
    terminal: String,
    n: usize,
    orders: usize,
    tracks: Tracks,
    deadline: Instant,
) {
    const ITEMS: [&str; 4] = ["latte", "cappuccino", "espresso", "mocha"];
    for i in 0..orders {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let order_id = Uuid::now_v7();
        let line = OrderLine {
            item: ITEMS[(n + i) % ITEMS.len()].into(),
            size: None,
            milk: None,
            qty: 1,
            modifiers: Vec::new(),
        };
        let placed = OrderPlaced {
            order_id,
            items: vec![line],
            customer: Some(format!("pos{n}")),
            payment: Default::default(),
        };
        let payload = Envelope::new(&terminal, order_id, None, placed).to_json();
        let (tx, rx) = oneshot::channel();
        let track = Track {
            placed: now,
            ready: None,
            prepared: None,
            failed: false,
            station: None,
            waiter: Some(tx),
        };
        tracks.lock().insert(order_id, track);
        let topic = topics::ORDERS_PLACED.to_owned();
        if pos
            .commands
            .send(LinkCommand::Publish { topic, payload })
            .is_err()
        {
            return;
        }
        let give_up = (now + ORDER_LIMIT).min(deadline);
        let _ = tokio::time::timeout_at(give_up.into(), rx).await;
    }
}

/// The observer: records when each order got ready, prepared (and where) or failed, and wakes
/// its POS client when the order is answered as `until` says. A prepared order is past ready,
/// so it answers either way.
pub(super) async fn observe(mut link: Link, tracks: Tracks, until: Until) {
    while let Some(d) = link.deliveries.recv().await {
        let now = Instant::now();
        let env = RawEnvelope::parse(&d.publish.payload);
        let topic = d.publish.topic.clone();
        let _ = link.commands.send(LinkCommand::Ack(d));
        let Ok(env) = env else { continue };
        let station = match topic.as_str() {
            topics::ORDERS_PREPARED => env.decode::<OrderPrepared>().ok().map(|p| p.station),
            _ => None,
        };
        let mut all = tracks.lock();
        let Some(t) = all.get_mut(&env.correlation_id) else {
            continue;
        };
        let answered = match topic.as_str() {
            topics::ORDERS_READY => {
                t.ready.get_or_insert(now);
                until == Until::Ready
            }
            topics::ORDERS_PREPARED => {
                t.prepared.get_or_insert(now);
                t.station = t.station.take().or(station);
                true
            }
            _ => {
                t.failed = true;
                true
            }
        };
        if answered {
            if let Some(w) = t.waiter.take() {
                let _ = w.send(());
            }
        }
    }
}

/// The progress line on stderr: redrawn in place four times a second on a terminal, else one
/// line every five seconds. Cleared (on a terminal) when `stop` fires.
pub(super) async fn progress(tracks: Tracks, orders: usize, stop: oneshot::Receiver<()>) {
    let terminal = std::io::stderr().is_terminal();
    let every = Duration::from_millis(if terminal { 250 } else { 5000 });
    let started = Instant::now();
    let mut ticks = tokio::time::interval_at((started + every).into(), every);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticks.tick() => {}
        }
        let (placed, prepared, failed) = tracks.counts();
        let secs = started.elapsed().as_secs_f64();
        let line = format!(
            "milo bench: {placed}/{orders} placed, {prepared} prepared, {failed} failed, {secs:.0} s"
        );
        let mut err = std::io::stderr().lock();
        let _ = if terminal {
            write!(err, "\r{line}\x1b[K")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }
    if terminal {
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    }
}
