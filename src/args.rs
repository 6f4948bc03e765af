//! The `milo` command line: subcommands, flags and their help.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "milo",
    version,
    about = "Runs a coffee shop's orders inside the store."
)]
pub struct Cli {
    /// Configuration file (default: /etc/milo/milo.toml if present, else built-in defaults).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Args, Default)]
pub struct Where {
    /// Data directory (each part keeps its database in a subdirectory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// MQTT address: where the embedded broker listens and every part connects.
    #[arg(long)]
    pub mqtt: Option<String>,
    /// HTTP address (default: http.listen for `milo up` and `milo service order`; each other
    /// part its own, http.<part>: `milo broker` http.broker, `milo barista` http.station).
    #[arg(long)]
    pub http: Option<SocketAddr>,
}

/// `milo up`'s flags.
#[derive(clap::Args, Default)]
pub struct Up {
    #[command(flatten)]
    pub at: Where,
    /// Show the simulated barista station's 20x4 display, pinned above the log (only on an
    /// interactive terminal; off by default so the log stays a log).
    #[arg(long)]
    pub display: bool,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the whole store: embedded broker, every service, a simulated barista device.
    Up(Up),
    /// Run the embedded broker alone (with its watchdog).
    Broker(Where),
    /// Run one service alone against the configured broker.
    Service {
        /// order, payment, inventory, barista, notification or analytics.
        name: String,
        #[command(flatten)]
        at: Where,
    },
    /// Run a barista device against the configured broker.
    Barista {
        /// Station id (default: device.station).
        #[arg(long)]
        station: Option<String>,
        #[command(flatten)]
        at: Where,
        /// A command to a running station (bump, recall, fault...); none runs the device.
        #[command(subcommand)]
        command: Option<crate::cmd::barista::BaristaCommand>,
    },
    /// The POS terminal.
    Pos {
        #[command(subcommand)]
        command: crate::cmd::pos::PosCommand,
    },
    /// Stock: show it, restock an ingredient.
    Inventory {
        #[command(subcommand)]
        command: crate::cmd::inventory::InventoryCommand,
    },
    /// Payments: the card charges declined after being authorized offline.
    Payments {
        #[command(subcommand)]
        command: crate::cmd::payments::PaymentsCommand,
    },
    /// Dead letters of a part: read from its store when it is stopped, asked over MQTT while
    /// it runs.
    Dlq {
        #[command(subcommand)]
        command: crate::cmd::dlq::DlqCommand,
    },
    /// An order's whole timeline across every part, in causal order, with what each part
    /// did with each event: read from the stores of stopped parts, asked over MQTT of
    /// running ones.
    Trace(crate::cmd::trace::TraceArgs),
    /// Re-run a period's events from the parts' logs with this Milo, into scratch stores,
    /// and show which orders' outcome would differ (after a fix, or with another
    /// configuration). Reads a stopped data directory.
    Replay(crate::cmd::replay::ReplayArgs),
    /// The live event stream, one readable line per event (time, topic, type, order, customer,
    /// key fields, producer), filtered by order, type or part.
    Tail(crate::cmd::tail::TailArgs),
    /// The store's credentials: one secret per service, station, POS terminal and operator.
    Credentials {
        #[command(subcommand)]
        command: crate::cmd::credentials::CredentialsCommand,
    },
    /// Check or print the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Run the store as separate processes, SIGKILL them at random while orders flow, and
    /// check that nothing was lost or doubled (exit 1 if an invariant fails).
    Chaos {
        /// Orders to place.
        #[arg(long, default_value_t = 200)]
        orders: usize,
        /// Milliseconds between two kills.
        #[arg(long, default_value_t = 400)]
        kill_every: u64,
        /// Orders placed per second.
        #[arg(long, default_value_t = 25.0)]
        rate: f64,
        /// Seed of the random choices.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Saga mode to run (default: the configured `saga.mode`); in orchestration the saga
        /// coordinator is one of the processes killed.
        #[arg(long, value_parser = ["choreography", "orchestration"])]
        mode: Option<String>,
        /// Run this mosquitto as the broker process instead of `milo broker` (with
        /// persistence, killed like any part), e.g. /usr/sbin/mosquitto.
        #[arg(long)]
        mosquitto: Option<std::path::PathBuf>,
    },
    /// Load the store in-process and print completed orders/s, latency, CPU, disk and memory.
    Bench {
        /// Orders to place.
        #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        orders: u32,
        /// Concurrent POS clients, each one MQTT connection.
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
        concurrency: u32,
        /// Barista stations run in-process (bar-1, bar-2...).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
        stations: u32,
        /// What a POS client waits for before its next order: prepared (completion) or ready
        /// (the intake alone; the bar's queue may grow).
        #[arg(long, default_value = "prepared", value_parser = ["prepared", "ready"])]
        until: String,
        /// Limit of the whole run in seconds: orders unanswered by then count as timed out.
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        timeout: u64,
        /// Skip the real fsync (to measure what durability costs).
        #[arg(long)]
        no_fsync: bool,
        /// Run without the broker's gate and credentials (to measure what security costs).
        #[arg(long)]
        no_security: bool,
        /// Print one JSON object with every figure instead of the text.
        #[arg(long)]
        json: bool,
        /// Keep the store's data in this directory (made if missing) instead of a temporary
        /// one, and open the store on what an earlier run left there: a store with past
        /// orders, its opening time and its size on disk.
        #[arg(long)]
        keep: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Check the configuration; exit 78 naming the bad key.
    Validate,
    /// Print the effective configuration, secrets redacted.
    Print,
}
