//! The interactive counter on a terminal ([`shell`]): the dialogue runs on its own thread
//! over stdin and stdout, orders go to a running [`Pos`], and the status and ETA updates of
//! the orders taken in the session are printed as they come, as is the store becoming
//! unreachable or reachable again.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use milo_bus::Shutdown;
use milo_contracts::counter::MenuAvailability;
use tokio::runtime::Handle;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::dialogue::{self, Counter};
use crate::follow::unreachable_note;
use crate::update::describe;
use crate::{Pos, PosError, Request};

/// How long an order waits for the broker before the counter says it is unreachable.
const CONNECT_WAIT: Duration = Duration::from_secs(2);

/// Orders taken in this session, with the name they are called by.
type Mine = Arc<Mutex<HashMap<Uuid, String>>>;

/// A [`Counter`] that queues orders in a running [`Pos`] (from a thread outside the runtime).
pub struct LiveCounter {
    pos: Arc<Pos>,
    handle: Handle,
    mine: Mine,
}

impl Counter for LiveCounter {
    fn availability(&self) -> Option<MenuAvailability> {
        self.pos.availability()
    }

    fn cards_offline(&self) -> bool {
        let card = milo_contracts::payments::PaymentMethod::Card;
        self.pos.cards_refused(card).is_some()
    }

    fn cards_note(&self) -> Option<String> {
        self.pos.cards_note()
    }

    fn place(&mut self, request: Request) -> Result<String, String> {
        let id = request.order_id;
        let label = request.customer.clone().unwrap_or_else(|| "no name".into());
        lock(&self.mine).insert(id, label);
        let taken = self.handle.block_on(async {
            self.pos.take_order(request).await?;
            Ok(self.pos.wait_connected(CONNECT_WAIT).await)
        });
        match taken {
            Ok(true) => Ok(format!("order {id} placed")),
            Ok(false) => Ok(format!(
                "order {id} queued; {}",
                unreachable_note(*self.pos.queue_len().borrow())
            )),
            Err(e) => {
                lock(&self.mine).remove(&id);
                Err(match e {
                    PosError::Refused(why) => why,
                    e => e.to_string(),
                })
            }
        }
    }
}

fn lock(mine: &Mine) -> std::sync::MutexGuard<'_, HashMap<Uuid, String>> {
    // A poisoned lock only means a printer panicked mid-line; the map is still usable.
    mine.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the interactive counter on stdin/stdout until end of input or `shutdown`; queued
/// orders stay on disk. Returns how many orders were placed.
pub async fn shell(pos: Arc<Pos>, mut shutdown: Shutdown) -> Result<usize, PosError> {
    let mine: Mine = Arc::default();
    let printer = tokio::spawn(print_updates(pos.clone(), mine.clone()));
    let mut counter = LiveCounter {
        pos: pos.clone(),
        handle: Handle::current(),
        mine,
    };
    let menu = pos.menu().clone();
    let (done, finished) = oneshot::channel();
    // A plain thread, not the runtime's blocking pool: a read blocked on the terminal must
    // not keep the process from exiting after Ctrl-C.
    std::thread::spawn(move || {
        let stdin = io::stdin();
        let placed = dialogue::session(&menu, &mut counter, stdin.lock(), io::stdout());
        let _ = done.send(placed);
    });
    let placed = tokio::select! {
        r = finished => r.map_err(|_| PosError::Stopped)?.map_err(|e| PosError::Io {
            path: "stdin".into(),
            source: e,
        })?,
        _ = shutdown.wait() => 0,
    };
    printer.abort();
    let _ = printer.await;
    let left = pos.queued()?.len();
    if left > 0 {
        let orders = if left == 1 { "order" } else { "orders" };
        println!("{left} {orders} still queued: the next `milo pos` run sends them");
    }
    Ok(placed)
}

/// Prints the updates of this session's orders and the store's reachability.
async fn print_updates(pos: Arc<Pos>, mine: Mine) {
    let mut updates = pos.updates();
    let mut connected = pos.connected();
    let mut out = Printer::default();
    let mut down = !pos.wait_connected(CONNECT_WAIT).await;
    if down {
        out.say(&unreachable_note(*pos.queue_len().borrow()));
    }
    connected.borrow_and_update();
    loop {
        tokio::select! {
            changed = connected.changed() => {
                if changed.is_err() {
                    return;
                }
                let queued = *pos.queue_len().borrow();
                match *connected.borrow_and_update() {
                    false if !down => out.say(&unreachable_note(queued)),
                    true if down && queued > 0 => {
                        out.say(&format!("store reachable again: sending {queued} queued"));
                    }
                    _ => {}
                }
                down = !*connected.borrow();
            }
            u = updates.recv() => match u {
                Ok(u) => {
                    let Some(label) = lock(&mine).get(&u.order_id).cloned() else { continue };
                    out.say(&format!("order {} ({label}): {}", u.order_id, describe(&u.update)));
                    if u.update.is_final() {
                        lock(&mine).remove(&u.order_id);
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
    }
}

/// Prints lines between the dialogue's prompts: a burst of lines starts on a fresh line.
#[derive(Default)]
struct Printer {
    last: Option<Instant>,
}

impl Printer {
    fn say(&mut self, line: &str) {
        let burst = self
            .last
            .is_some_and(|at| at.elapsed() < Duration::from_secs(1));
        self.last = Some(Instant::now());
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{}{line}", if burst { "" } else { "\n" });
        let _ = out.flush();
    }
}
