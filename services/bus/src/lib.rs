//! Milo's bus: how a part talks to the broker and keeps its state, following the
//! reliability model in docs/ARCHITECTURE.md.
//!
//! A part is a [`Service`]: it names its subscriptions and handles each event (or local
//! command) inside a [`Tx`] that stages its state changes and the events it will publish.
//! [`run`] drives it: it takes every message in hand, applies each one's `Tx` atomically
//! (state + outbox + inbox record in one sled batch), makes the whole group durable with one
//! real fsync (group commit), then acks the messages in the order received and lets the
//! relay publish the new outbox entries. The relay deletes an entry only after its PUBACK
//! and publishes everything again after a reconnect. Bad input becomes a dead letter.
//!
//! # Layout
//! - [`config`]: [`MqttConfig`] and [`Secret`].
//! - [`store`]: [`Store`], a sled database whose `sync` really reaches the disk, and what its
//!   disk work cost so far ([`StoreStats`]).
//! - [`format`](mod@format): the on-disk format stamped in every store ([`FORMAT`]) and its migrations.
//! - [`tx`]: [`Tx`], the staged effect of one message.
//! - [`log`](mod@log): what a part published, kept for days and numbered per topic, to publish
//!   again to a consumer that missed some.
//! - [`link`]: the MQTT connection task: ordered acks, outbox relay, presence, reconnects, and
//!   putting back the retained topics it publishes when they are erased or overwritten.
//! - [`runner`]: the [`Service`] trait and the group-commit loop [`run`].
//! - [`retry`]: durable timers and the retry policy of a flow's owner.
//! - [`alarm`]: a service's ticks, only when something is due.
//! - [`dlq`]: dead-letter records, and [`dlq::Requester`] asking a running part about them
//!   (its answers come from [`runner`]).
//! - [`trace`]: what a store holds about one order (its events, inbox, dead letters), for
//!   `milo trace`.
//! - [`shutdown`]: the shutdown signal handed to every `run`.
#![forbid(unsafe_code)]

pub mod alarm;
pub mod config;
pub mod credentials;
pub mod dlq;
pub mod format;
pub mod link;
pub mod log;
pub mod retry;
pub mod runner;
pub mod shutdown;
pub mod store;
pub mod tls;
pub mod trace;
pub mod tx;

pub use alarm::Alarm;
pub use config::{MqttConfig, Secret};
pub use credentials::{Credentials, CredentialsError};
pub use dlq::DeadLetter;
pub use format::FORMAT;
pub use retry::{RetryConfig, Timer, Wait};
pub use runner::{run, Commands, Rejection, RunDeps, Service};
pub use shutdown::{Shutdown, ShutdownTrigger};
pub use store::{Store, StoreConfig, StoreError, StoreStats};
pub use tx::{Published, Tx};

/// Errors at the bus boundary.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The local database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker address could not be understood.
    #[error("invalid broker address {0:?}: expected host:port")]
    Address(String),
    /// A payload larger than the broker accepts.
    #[error("payload of {size} bytes on {topic} exceeds the broker limit of {limit}")]
    Oversized {
        /// Topic.
        topic: String,
        /// Size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// TLS to the broker cannot be set up (the store's certificate).
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
}

/// FNV-1a: a stable 64-bit fingerprint of a payload, to tell a repeat from a conflict.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
