//! Milo's POS terminal: takes orders at the counter, keeps each one in a durable local queue
//! until the store has it, follows it (status and estimated ready time) until it is
//! prepared, and tells the store when the customer collected it.
//!
//! The POS makes the order id (UUID v7); it is the idempotency key end to end. An order
//! taken is first written to the queue (a [`milo_bus::Store`] under `<data_dir>/pos`, with a
//! real fsync), then sent on `orders/placed` whenever the broker is reachable, and again
//! every `resend_secs` until the order service answers (`orders/created` or
//! `orders/rejected`); only that answer takes it out of the queue. The order service makes
//! one order per id however often it is sent, and answers a repeat with the answer it
//! recorded. While the broker is down the counter keeps taking orders; a POS restarted with
//! orders in its queue sends them. Before queueing, an order the shop cannot make now
//! (retained `menu/availability`) is refused with the shop's reason.
//!
//! # Layout
//! - [`terminal`]: [`Pos`], a running terminal: open, take orders, read updates, close.
//! - [`queue`]: the durable queue, its lock, and the service that writes it.
//! - `sender`: sends queued orders until answered; hears updates and availability.
//! - [`follow`]: follow one order until done, or the queue until answered ([`sync`]).
//! - [`update`]: [`Update`], what an event means to the counter, and how it is printed.
//! - [`dialogue`]: the interactive counter's dialogue over any `BufRead` + `Write`.
//! - [`menu_view`]: the menu as shown, with 86'd items and options.
//! - [`live`]: the dialogue on a terminal over a running [`Pos`] ([`shell`]).
//! - [`pickup`]: `orders/collected`, confirmed by the broker.
//! - [`direct`]: [`place`] and [`cancel`] without the queue (tools and tests).
#![forbid(unsafe_code)]

pub mod dialogue;
pub mod direct;
pub mod follow;
pub mod live;
pub mod menu_view;
pub mod pickup;
pub mod queue;
mod sender;
pub mod terminal;
pub mod update;

use std::path::{Path, PathBuf};
use std::time::Duration;

use milo_bus::{BusError, StoreError};
use milo_contracts::events::OrderLine;
use milo_contracts::payments::PaymentMethod;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use direct::{cancel, place};
pub use follow::{follow_order, sync, unreachable_note, Followed};
pub use live::shell;
pub use pickup::pickup;
pub use queue::Queued;
pub use terminal::{Pos, Settings};
pub use update::{describe, OrderUpdate, Update};

/// POS settings (`[pos]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Give up following an order (or waiting for the broker) after this many seconds.
    pub timeout_secs: u64,
    /// Send a queued `orders/placed` again after this many seconds without an answer.
    pub resend_secs: u64,
    /// Directory of the order queue; empty for `<data_dir>/pos`.
    pub queue_dir: PathBuf,
    /// This terminal's name: client ids `milo-<terminal>…`, presence
    /// `services/<terminal>/status`, events' `source`. Unique per POS on one broker.
    pub terminal: String,
    /// How long to wait for another POS process to let go of the queue before failing.
    pub lock_wait_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            timeout_secs: 120,
            resend_secs: 3,
            queue_dir: PathBuf::new(),
            terminal: "pos".into(),
            lock_wait_secs: 10,
        }
    }
}

impl Config {
    /// The queue directory: `queue_dir`, or `<data_dir>/pos` when that is empty.
    pub fn queue_path(&self, data_dir: &Path) -> PathBuf {
        queue::queue_path(&self.queue_dir, data_dir)
    }
}

/// An order as the counter takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The order id (UUID v7), made by the POS.
    pub order_id: Uuid,
    /// What the customer asked for.
    pub items: Vec<OrderLine>,
    /// Name to call out.
    pub customer: Option<String>,
    /// How the customer pays (`--cash` at the till; card by default).
    pub payment: PaymentMethod,
}

/// POS errors.
#[derive(Debug, thiserror::Error)]
pub enum PosError {
    /// Bad broker address, or a payload too large for the broker.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The queue's store failed.
    #[error("POS queue: {0}")]
    Store(#[from] StoreError),
    /// The queue directory or lock file could not be used.
    #[error("POS queue: cannot use {path}: {source}")]
    Io {
        /// File or directory involved.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Another POS process holds the queue.
    #[error(
        "the POS queue in {dir} is in use by another milo pos ({holder}); \
         close it, or give this one its own [pos] queue_dir"
    )]
    QueueBusy {
        /// The queue directory.
        dir: PathBuf,
        /// Who holds it, as its lock file says.
        holder: String,
    },
    /// The terminal name cannot be used in client ids and topics.
    #[error("invalid [pos] terminal {0:?}: letters, digits, - and _ only (1 to 64)")]
    BadTerminal(String),
    /// The shop cannot make the order now.
    #[error("{0}")]
    Refused(String),
    /// The queue service stopped (its store failed); the POS must be restarted.
    #[error("the POS queue stopped")]
    Stopped,
    /// No broker connection in time.
    #[error("cannot reach the broker at {0}")]
    Unreachable(String),
    /// The order did not finish in time.
    #[error("no final status within {0:?}")]
    TimedOut(Duration),
    /// Stopped by the user.
    #[error("interrupted")]
    Interrupted,
}
