//! The notification handlers: each event moves its order on the board (see
//! [`board::next`](crate::board::next)); made, canceled and rejected orders are told to the
//! customer once (`customers/notified`).
//!
//! The board is published on a tick, at most once per `board_ms` and only when it changed:
//! every order passes here three times or more, and a retained publish per event would be
//! an outbox entry and a broker round trip each. A ready order not collected within
//! `pickup_timeout_secs` leaves the board by a durable timer (a `timer/<due>/<order>` key,
//! looked at on the same tick).

use milo_bus::{retry, Alarm, Commands, Rejection, Service, Store, Tx};
use milo_contracts::bar::{TicketBumped, TicketRecalled};
use milo_contracts::counter::OrderCollected;
use milo_contracts::events::{
    CustomerNotified, OrderCanceled, OrderCreated, OrderPrepared, OrderReady, OrderRejected,
};
use milo_contracts::{topics, RawEnvelope};
use tracing::{info, warn};
use uuid::Uuid;

use crate::board::{next, timer_key, Board, Move, Next, Slot, State};
use crate::Config;

/// Prefix of the stored board slots.
const ENTRY_PREFIX: &str = "entry/";

fn entry_key(id: Uuid) -> String {
    format!("{ENTRY_PREFIX}{id}")
}

fn told_key(id: Uuid) -> String {
    format!("told/{id}")
}

fn customer_key(id: Uuid) -> String {
    format!("customer/{id}")
}

/// Local requests to the notification service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Take ready orders not collected in time off the board, and publish the board if it
    /// changed (every `board_ms`).
    Tick,
}

/// The notification service.
pub struct NotificationService {
    config: Config,
    board: Board,
    /// The board changed since it was last published.
    dirty: bool,
    /// When the next tick is due: a change to publish, a pickup timer.
    alarm: Alarm,
}

impl NotificationService {
    /// A new notification service.
    pub fn new(config: Config) -> Self {
        NotificationService {
            config,
            board: Board::default(),
            dirty: false,
            alarm: Alarm::default(),
        }
    }

    /// The board changed: published at the next tick (at once, or after `board_ms` since the
    /// last one).
    fn changed(&mut self) {
        self.dirty = true;
        self.alarm.at(0);
    }

    /// Applies move `m` to order `id`: tells the customer if this is the order's outcome and
    /// they have not heard it, and changes the board. `customer` and `reason` come with the
    /// event when it carries them.
    fn apply(
        &mut self,
        tx: &mut Tx,
        id: Uuid,
        m: Move,
        (customer, reason): (Option<String>, Option<String>),
        cause: Uuid,
    ) -> Result<(), Rejection> {
        let told = tx.get::<bool>(&told_key(id))?.is_some();
        let slot = self.board.get(id);
        let change = next(slot.map(|s| s.state), told, m);
        if change == Next::Keep {
            return Ok(());
        }
        let customer = match (customer, slot.and_then(|s| s.customer.clone())) {
            (Some(c), _) | (None, Some(c)) => Some(c),
            (None, None) => tx.get::<Option<String>>(&customer_key(id))?.flatten(),
        };
        let outcome = matches!(m, Move::Prepared | Move::Canceled | Move::Rejected);
        if let (Next::Set(state), true, false) = (change, outcome, told) {
            self.tell(tx, id, state, customer.clone(), reason.clone(), cause)?;
        }
        match change {
            Next::Keep => {}
            Next::Remove => {
                self.take_off(tx, id);
                if m == Move::Collected && !told {
                    // A late `orders/prepared` must not put it back.
                    tx.put(&told_key(id), &true);
                }
            }
            Next::Set(state) => self.show(tx, id, state, customer, reason),
        }
        self.changed();
        Ok(())
    }

    /// Shows order `id` in `state`; a ready one gets its pickup timer, and the oldest
    /// canceled or failed orders beyond the board's size go.
    fn show(
        &mut self,
        tx: &mut Tx,
        id: Uuid,
        state: State,
        customer: Option<String>,
        reason: Option<String>,
    ) {
        if let Some(old) = self.board.get(id).and_then(|s| s.timer.clone()) {
            tx.remove(&old);
        }
        let timer = (state == State::Ready).then(|| {
            let wait = self.config.pickup_timeout_secs.saturating_mul(1000);
            let due = retry::now_ms().saturating_add(i64::try_from(wait).unwrap_or(i64::MAX));
            let key = timer_key(due, id);
            self.alarm.at(due);
            tx.put(&key, &());
            key
        });
        let slot = self.board.set(id, state, customer, reason, timer);
        tx.put(&entry_key(id), slot);
        if matches!(state, State::Canceled | State::Failed) {
            for old in self.board.beyond(state, self.config.board_size) {
                self.take_off(tx, old);
            }
        }
    }

    /// Takes order `id` off the board, with its timer.
    fn take_off(&mut self, tx: &mut Tx, id: Uuid) {
        if let Some(Slot {
            timer: Some(key), ..
        }) = self.board.remove(id)
        {
            tx.remove(&key);
        }
        tx.remove(&entry_key(id));
    }

    /// Tells the customer the order's outcome (`customers/notified`), once.
    fn tell(
        &self,
        tx: &mut Tx,
        id: Uuid,
        state: State,
        customer: Option<String>,
        reason: Option<String>,
        cause: Uuid,
    ) -> Result<(), Rejection> {
        let who = customer
            .clone()
            .unwrap_or_else(|| format!("order {}", short(id)));
        let message = match (state, &reason) {
            (State::Canceled, Some(r)) => format!("Sorry {who}, your order was canceled: {r}."),
            (_, Some(r)) => format!("Sorry {who}, your order could not be made: {r}."),
            (_, None) => format!("{who}, your order is ready for pickup."),
        };
        info!(order_id = %id, customer = %who, "{message}");
        let data = CustomerNotified {
            order_id: id,
            customer,
            message,
        };
        tx.publish(&tx.event(id, Some(cause), data))?;
        tx.put(&told_key(id), &true);
        tx.remove(&customer_key(id));
        Ok(())
    }

    /// Ready orders not collected in time leave the board; then the board is published if it
    /// changed.
    fn tick(&mut self, tx: &mut Tx) -> Result<(), Rejection> {
        for (id, key) in self.board.take_due(retry::now_ms()) {
            tx.remove(&key);
            let current = self
                .board
                .get(id)
                .filter(|s| s.timer.as_ref() == Some(&key));
            if next(current.map(|s| s.state), true, Move::Expired) == Next::Remove {
                info!(order_id = %id, "Not collected in time; off the board.");
                self.take_off(tx, id);
                self.changed();
            }
        }
        if self.dirty {
            let board = self.board.render(self.config.board_size);
            // A board the broker would refuse must not stop the service: the next change
            // tries again.
            match tx.publish_retained(&tx.event(Uuid::nil(), None, board)) {
                Ok(()) => self.dirty = false,
                Err(e) => warn!(error = %e, "Pickup board not published."),
            }
        }
        let retry = self.dirty.then(retry::now_ms);
        self.alarm
            .next(retry.into_iter().chain(self.board.next_due()).min());
        Ok(())
    }
}

fn short(id: Uuid) -> String {
    let s = id.simple().to_string();
    s[s.len() - 6..].to_owned()
}

impl Service for NotificationService {
    type Command = Command;

    fn name(&self) -> String {
        "notification".into()
    }

    /// Off the critical path: gather bigger groups, spare the disk.
    fn linger(&self) -> std::time::Duration {
        std::time::Duration::from_millis(100)
    }

    fn subscriptions(&self) -> Vec<String> {
        [
            topics::ORDERS_CREATED,
            topics::ORDERS_READY,
            topics::ORDERS_PREPARED,
            topics::TICKETS_RECALLED,
            topics::TICKETS_BUMPED,
            topics::ORDERS_CANCELED,
            topics::ORDERS_REJECTED,
            topics::ORDERS_COLLECTED,
        ]
        .map(String::from)
        .to_vec()
    }

    fn on_start(&mut self, store: &Store, commands: &Commands<Command>) -> Result<(), Rejection> {
        let mut slots = Vec::new();
        for (id, slot) in store.scan::<Slot>(ENTRY_PREFIX, None, usize::MAX)? {
            match id.parse::<Uuid>() {
                Ok(id) => slots.push((id, slot)),
                Err(_) => warn!(key = %id, "Board entry with a bad key; ignored."),
            }
        }
        let timers = store
            .scan::<()>(retry::TIMER_PREFIX, None, usize::MAX)?
            .into_iter()
            .map(|(tail, ())| format!("{}{tail}", retry::TIMER_PREFIX))
            .collect();
        self.board = Board::load(slots, timers);
        // The broker may have lost the retained board: publish it at the first tick.
        self.dirty = true;
        self.alarm
            .start(commands.clone(), self.config.board_ms, || Command::Tick);
        Ok(())
    }

    fn on_command(&mut self, tx: &mut Tx, cmd: Command) -> Result<(), Rejection> {
        match cmd {
            Command::Tick => self.tick(tx),
        }
    }

    fn on_event(&mut self, tx: &mut Tx, topic: &str, env: &RawEnvelope) -> Result<(), Rejection> {
        let none = (None, None);
        let (id, m, with) = match topic {
            topics::ORDERS_CREATED => {
                let e: OrderCreated = env.decode()?;
                if tx.get::<bool>(&told_key(e.order_id))?.is_none() {
                    tx.put(&customer_key(e.order_id), &e.customer);
                }
                return Ok(());
            }
            topics::ORDERS_READY => {
                let e: OrderReady = env.decode()?;
                (e.order_id, Move::Queued, (e.customer, None))
            }
            topics::ORDERS_PREPARED => (
                env.decode::<OrderPrepared>()?.order_id,
                Move::Prepared,
                none,
            ),
            topics::TICKETS_RECALLED => (
                env.decode::<TicketRecalled>()?.order_id,
                Move::Recalled,
                none,
            ),
            topics::TICKETS_BUMPED => (env.decode::<TicketBumped>()?.order_id, Move::Bumped, none),
            topics::ORDERS_CANCELED => {
                let e: OrderCanceled = env.decode()?;
                (e.order_id, Move::Canceled, (None, Some(e.reason)))
            }
            topics::ORDERS_REJECTED => {
                let e: OrderRejected = env.decode()?;
                (e.order_id, Move::Rejected, (None, Some(e.reason)))
            }
            topics::ORDERS_COLLECTED => (
                env.decode::<OrderCollected>()?.order_id,
                Move::Collected,
                none,
            ),
            _ => return Err(env.unexpected().into()),
        };
        self.apply(tx, id, m, with, env.id)
    }
}
