//! Subcommands that talk to a running store over MQTT, one module each.

pub mod barista;
pub mod credentials;
pub mod dlq;
pub mod inventory;
pub mod payments;
pub mod pos;
pub mod replay;
pub mod tail;
pub mod trace;
pub mod up;
