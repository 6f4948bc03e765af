//! `milo tail [--order ID] [--type T]... [--part P]... [--all] [--count N]`: the live event
//! stream, one readable line per event (`milo::tail`), read with the operator's credential as
//! `milo dlq` reads. Runs until Ctrl-C, or until `--count` lines were printed.
//!
//! Exit codes: 0 stopped (Ctrl-C or `--count` reached); 2 a bad broker address or credential.

use std::io::Write;
use std::process::ExitCode;

use milo::tail::{self, Filter};
use milo::MiloConfig;
use milo_bus::link::{self, LinkCommand, LinkConfig};
use milo_bus::ShutdownTrigger;
use uuid::Uuid;

/// `milo tail`'s arguments.
#[derive(clap::Args)]
pub struct TailArgs {
    /// Only this order's events.
    #[arg(long)]
    pub order: Option<Uuid>,
    /// Only events of this type (repeatable), e.g. OrderPrepared.
    #[arg(long = "type")]
    pub types: Vec<String>,
    /// Only events this part made (repeatable), e.g. payment or barista-device-bar-1.
    #[arg(long = "part")]
    pub parts: Vec<String>,
    /// Also what is not an event: presence, telemetry, the pickup board.
    #[arg(long)]
    pub all: bool,
    /// Stop after this many lines.
    #[arg(long)]
    pub count: Option<u64>,
    /// Broker address (default: mqtt.address).
    #[arg(long)]
    pub mqtt: Option<String>,
}

/// Runs `milo tail`.
pub async fn run(args: TailArgs, mut config: MiloConfig) -> anyhow::Result<ExitCode> {
    if let Some(m) = args.mqtt {
        config.mqtt.address = m;
    }
    let mqtt = match crate::cmd::dlq::operator_mqtt(&config) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("milo tail: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let filter = Filter {
        order: args.order,
        types: args.types,
        parts: args.parts,
        all: args.all,
    };
    let (trigger, shutdown) = ShutdownTrigger::new();
    let client_id = format!("tail-{}", std::process::id());
    let address = mqtt.address.clone();
    let config = LinkConfig {
        client_id,
        mqtt,
        subscriptions: vec!["#".to_owned()],
        presence: None,
        clean_session: true,
    };
    let mut link = match link::spawn(config, shutdown) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("milo tail: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut printed = 0u64;
    let mut out = std::io::stdout().lock();
    let (mut ready, mut said) = (link.ready.clone(), false);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            changed = ready.changed(), if !said => {
                if changed.is_err() {
                    break;
                }
                if *ready.borrow_and_update() {
                    eprintln!("milo tail: watching the events on {address} (Ctrl-C to stop)");
                    said = true;
                }
            }
            d = link.deliveries.recv() => {
                let Some(d) = d else { break };
                let shown = tail::line(&d.publish.topic, &d.publish.payload, &filter);
                let _ = link.commands.send(LinkCommand::Ack(d));
                if let Some(text) = shown {
                    // A closed pipe (`milo tail | head`) ends the tail.
                    if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
                        break;
                    }
                    printed += 1;
                    if args.count.is_some_and(|n| printed >= n) {
                        break;
                    }
                }
            }
        }
    }
    trigger.trigger();
    Ok(ExitCode::SUCCESS)
}
