//! `milo payments declined-offline`: the card charges authorized offline that the processor
//! declined when they were captured (the drink was made, the money was not taken), for the
//! manager, with the offline queue as it stands.
//!
//! As `milo dlq` does, the payment store is read directly when the part is stopped; while it
//! runs (sled locks the store) the same list comes from its HTTP API,
//! `GET /payments/declined-offline`: at `--http`, else `http.payment` (the part run alone)
//! then `http.listen` (`milo up`).
//!
//! Exit codes: 0 listed (maybe none); 1 no payment store; 3 the part holds its store and
//! its HTTP API did not answer.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use milo::http::client;
use milo::{dlq, MiloConfig};
use milo_bus::StoreError;
use milo_contracts::payments::money;
use milo_payment::offline::{self, DeclinedOffline};
use milo_payment::Exposure;

/// Payment commands.
#[derive(Subcommand)]
pub enum PaymentsCommand {
    /// The charges authorized offline and declined when captured: order, amount, customer,
    /// reason, time.
    DeclinedOffline {
        /// Data directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// HTTP address of the running payment service (or of `milo up`).
        #[arg(long)]
        http: Option<SocketAddr>,
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
    },
}

const PATH: &str = "/payments/declined-offline";

/// Runs a payment command.
pub async fn run(command: PaymentsCommand, config: MiloConfig) -> anyhow::Result<ExitCode> {
    let PaymentsCommand::DeclinedOffline {
        data_dir,
        http,
        json,
    } = command;
    let data_dir = data_dir.unwrap_or(config.data_dir.clone());
    let answer = match http {
        Some(addr) => ask(&[addr]).await,
        None => match dlq::open(&data_dir, "payment") {
            Ok(store) => {
                let list = offline::declined(&store, usize::MAX)?;
                Some((list, offline::exposure(&store)?))
            }
            Err(StoreError::Locked { .. }) => ask(&[config.http.payment, config.http.listen]).await,
            Err(StoreError::Io { error, .. }) if error.kind() == std::io::ErrorKind::NotFound => {
                eprintln!(
                    "milo payments: there is no payment store in {}",
                    data_dir.display()
                );
                return Ok(ExitCode::from(1));
            }
            Err(e) => return Err(e).context("the payment store"),
        },
    };
    let Some((declined, queued)) = answer else {
        eprintln!("milo payments: the payment service holds its store and its HTTP API ({PATH}) did not answer");
        return Ok(ExitCode::from(3));
    };
    if json {
        let body = serde_json::json!({
            "declined": declined,
            "queued": queued.count,
            "queued_cents": queued.cents,
        });
        println!("{body:#}");
    } else {
        print!("{}", table(&declined, queued));
    }
    Ok(ExitCode::SUCCESS)
}

/// The list from the first of `addrs` that answers it.
async fn ask(addrs: &[SocketAddr]) -> Option<(Vec<DeclinedOffline>, Exposure)> {
    for addr in addrs {
        let Ok((200, body)) = client::get(*addr, PATH).await else {
            continue;
        };
        let Ok(list) = serde_json::from_value(body["declined"].clone()) else {
            continue;
        };
        let queued = Exposure {
            count: body["queued"].as_u64().unwrap_or(0),
            cents: body["queued_cents"].as_u64().unwrap_or(0),
        };
        return Some((list, queued));
    }
    None
}

/// One line per declined charge, then the totals.
fn table(declined: &[DeclinedOffline], queued: Exposure) -> String {
    let mut out = String::new();
    if !declined.is_empty() {
        out.push_str("order                                 amount  customer          declined at                reason\n");
    }
    for d in declined {
        out.push_str(&format!(
            "{}  {:>7}  {:<16}  {:<25}  {}\n",
            d.order_id,
            money(d.amount_cents),
            d.customer.as_deref().unwrap_or("-"),
            d.at,
            d.reason
        ));
    }
    let total: u64 = declined.iter().map(|d| d.amount_cents).sum();
    out.push_str(&format!(
        "{} declined offline ({} not taken); {} authorized offline waiting to be captured ({})\n",
        declined.len(),
        money(total),
        queued.count,
        money(queued.cents)
    ));
    out
}
