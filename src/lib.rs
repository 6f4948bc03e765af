//! Milo: the software that runs a coffee shop's orders inside the store.
//!
//! This crate is the `milo` binary's library: it wires the parts (broker, services, devices)
//! into a running store. Each part lives in its own crate with `Config` and `run`; see
//! docs/ARCHITECTURE.md for the whole picture.
//!
//! # Layout
//! - [`shop`]: start the whole store in one process ([`shop::Shop`]) or one part alone.
//! - [`http`]: serve the HTTP API with graceful shutdown and JSON errors.
//! - [`bench`]: `milo bench`, the in-process load run.
//! - [`chaos`]: `milo chaos`, the fault-injection harness over separate processes.
//! - [`dlq`]: `milo dlq`, the dead-letter commands.
//! - [`trace`]: `milo trace`, an order's timeline across every part.
//! - [`web`]: the web screens: pickup board, the bar's tablet, the manager's dashboard.
//! - [`systemd`]: readiness, health-gated watchdog pings and status for systemd (`sd_notify`).
#![forbid(unsafe_code)]

pub mod bench;
pub mod chaos;
pub mod dlq;
pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod replay;
pub mod shop;
pub mod systemd;
pub mod tail;
pub mod trace;
pub mod web;

pub use milo_config::{load as load_config, ConfigError, MiloConfig};
