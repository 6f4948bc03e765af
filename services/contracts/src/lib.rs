//! Milo's event contracts: every topic, the JSON envelope and the typed data of each event.
//!
//! No other crate writes a topic string: topics are constants or builder functions in
//! [`topics`]. Every payload on the bus is one [`Envelope`] whose `data` is one of the
//! event structs in [`events`], identified by `type` and `version`.
//!
//! # Layout
//! - [`topics`]: topic constants and builders (`dlq/<service>/<topic>`, presence, tickets).
//! - [`envelope`]: the envelope, decoding with reasons, and the [`Event`] trait.
//! - [`events`]: the data of every step of the order flow.
//! - [`saga`]: [`SagaMode`], coordinator commands, cancellation and bar events.
//! - [`bar`]: tickets handed back, bumped, recalled and aged; ETAs; device commands and
//!   telemetry.
//! - [`payments`]: how an order is paid (card or cash), the card processor's state as the
//!   payment service's circuit breaker sees it (`payments/gateway`), what to do while it is
//!   offline.
//! - [`counter`]: menu availability (86'ing), low stock, restocking, orders collected.
//! - [`dead_letters`]: dead letters and the operator's requests about them (list, show,
//!   replay, purge) with their bounded answers.
//! - [`trace`]: what a part tells `milo trace` about one order (its events, its inbox, its
//!   dead letters).
//! - [`policy`]: who may publish each topic and event type, who may read what, whose client
//!   ids are whose (enforced by the broker's gate).
//! - [`menu`]: the menu (`config/menu.toml`): items, sizes, prices, recipes, milks.
#![forbid(unsafe_code)]

pub mod bar;
pub mod counter;
pub mod dead_letters;
pub mod envelope;
pub mod events;
pub mod menu;
pub mod payments;
pub mod policy;
pub mod replay;
pub mod saga;
pub mod topics;
pub mod trace;

pub use envelope::{DecodeError, Envelope, Event, RawEnvelope};
pub use menu::{Menu, MenuError, PricedOrder};
pub use saga::SagaMode;
