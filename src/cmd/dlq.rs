//! `milo dlq list|show|replay|purge`: a part's dead letters, whether it runs or not.
//!
//! The store is tried first: a stopped part's letters are read there, and a replay is queued
//! for its next start. sled locks a store to the process that opened it, so when the part
//! runs the same request goes to it over MQTT (`commands/<part>/dead-letters`, `--mqtt` or
//! `mqtt.address`), and a replay happens now.
//!
//! Exit codes: 0 done; 1 no such store or dead letter; 2 bad part name or broker address;
//! 3 the part holds its store and did not answer in time (as `milo pos`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use milo::{dlq, MiloConfig};
use milo_bus::dlq::{AskError, Requester};
use milo_bus::{MqttConfig, Store, StoreError};
use milo_contracts::dead_letters::{valid_part, DeadLetterAnswer, DeadLetterOp, OPERATOR};
use milo_contracts::policy::Role;

/// Dead-letter commands.
#[derive(Subcommand)]
pub enum DlqCommand {
    /// List dead letters.
    List(DlqWhere),
    /// Show one dead letter in full (from a running part, cut to fit one MQTT message).
    Show {
        /// Dead-letter id.
        id: u64,
        #[command(flatten)]
        at: DlqWhere,
    },
    /// Replay dead letters (after a fix): a running part hands them to its handler now and
    /// says what became of each; a stopped one when it next starts.
    Replay {
        /// Dead-letter id (default: every dead letter).
        #[arg(long)]
        id: Option<u64>,
        #[command(flatten)]
        at: DlqWhere,
    },
    /// Delete every dead letter.
    Purge(DlqWhere),
}

/// Whose dead letters, and where.
#[derive(clap::Args)]
pub struct DlqWhere {
    /// Part whose dead letters to read (order, payment, ..., barista-device-<station>).
    #[arg(long)]
    pub service: String,
    /// Data directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Broker address, to ask the part when it runs (default: mqtt.address).
    #[arg(long)]
    pub mqtt: Option<String>,
}

/// No such store or dead letter.
const NOT_FOUND: u8 = 1;
/// A part name or broker address that cannot be right.
const USAGE: u8 = 2;
/// The part holds its store and did not answer in time.
const UNREACHABLE: u8 = 3;
/// How long to wait for the broker, then for each answer.
const WAIT: Duration = Duration::from_secs(5);

/// Runs a dead-letter command.
pub async fn run(command: DlqCommand, config: MiloConfig) -> anyhow::Result<ExitCode> {
    let at = match &command {
        DlqCommand::List(at) | DlqCommand::Purge(at) => at,
        DlqCommand::Show { at, .. } | DlqCommand::Replay { at, .. } => at,
    };
    let part = at.service.clone();
    if !valid_part(&part) {
        eprintln!("milo dlq: {part:?} is not a part's name (letters, digits, - and _)");
        return Ok(ExitCode::from(USAGE));
    }
    let mut config = config;
    let data_dir = at.data_dir.clone().unwrap_or(config.data_dir.clone());
    config.data_dir = data_dir.clone();
    config.mqtt.address = at.mqtt.clone().unwrap_or(config.mqtt.address);
    let dir = data_dir.join(&part);
    match dlq::open(&data_dir, &part) {
        Ok(store) => direct(command, &store, &part),
        Err(StoreError::Locked { .. }) => {
            let mqtt = operator_mqtt(&config)?;
            match remote(command, &mqtt, &part).await {
                Ok(code) => Ok(code),
                Err(AskError::Address(e)) => {
                    eprintln!("milo dlq: {e}");
                    Ok(ExitCode::from(USAGE))
                }
                Err(e) => {
                    let dir = dir.display();
                    eprintln!("milo dlq: the {part} store in {dir} is in use by a running process, and {e}");
                    Ok(ExitCode::from(UNREACHABLE))
                }
            }
        }
        Err(StoreError::Io { error, .. }) if error.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("milo dlq: there is no {part} store in {}", dir.display());
            Ok(ExitCode::from(NOT_FOUND))
        }
        Err(e) => Err(e).with_context(|| format!("dead letters of {part}")),
    }
}

/// The connection of the operator's requests to running parts (`config.data_dir` set).
/// With no credentials file (a store that never made one), ask as is: the broker says
/// whether it admits that.
pub fn operator_mqtt(config: &MiloConfig) -> Result<MqttConfig, milo::ConfigError> {
    let file = config.security.credentials_path(&config.data_dir);
    if config.security.enabled && !file.exists() {
        Ok(config.mqtt.clone())
    } else {
        config.mqtt_as(OPERATOR, Role::Operator)
    }
}

/// The store itself, the part stopped.
fn direct(command: DlqCommand, store: &Store, part: &str) -> anyhow::Result<ExitCode> {
    match command {
        DlqCommand::List(_) => {
            for d in dlq::list(store)? {
                println!("{}", dlq::line(&d));
            }
        }
        DlqCommand::Show { id, .. } => {
            let Some(d) = store.dead_letter(id)? else {
                return Ok(no_letter(id, part));
            };
            println!("{}\npayload: {}", dlq::line(&d), d.payload);
        }
        DlqCommand::Replay { id, .. } => {
            let n = dlq::replay(store, id)?;
            println!("{n} dead letters queued; {part} hands them to its handler when it starts");
        }
        DlqCommand::Purge(_) => println!("purged {} dead letters", dlq::purge(store)?),
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks the running part.
async fn remote(command: DlqCommand, mqtt: &MqttConfig, part: &str) -> Result<ExitCode, AskError> {
    let mut requester = Requester::connect(mqtt, part, WAIT).await?;
    let done = ask(&mut requester, command, part).await;
    requester.close().await;
    done
}

async fn ask(r: &mut Requester, command: DlqCommand, part: &str) -> Result<ExitCode, AskError> {
    let (from, upto) = (0, None);
    match command {
        DlqCommand::List(_) => {
            for answer in r.pages(DeadLetterOp::List { from, upto }).await? {
                let DeadLetterAnswer::List { letters, .. } = answer else {
                    continue;
                };
                for d in &letters {
                    println!("{}", dlq::summary_line(d));
                }
            }
        }
        DlqCommand::Show { id, .. } => {
            let answer = r.ask(DeadLetterOp::Show { id }).await?;
            let DeadLetterAnswer::Show {
                letter: Some(d),
                payload_bytes,
            } = answer
            else {
                return Ok(no_letter(id, part));
            };
            println!("{}\npayload: {}", dlq::line(&d), d.payload);
            if d.payload.len() < payload_bytes {
                println!("(cut to fit one MQTT message: {payload_bytes} bytes in all; stop {part} and run this again to see them)");
            }
        }
        DlqCommand::Replay { id, .. } => {
            let (from, upto) = id.map_or((from, upto), |id| (id, Some(id)));
            let mut replayed = Vec::new();
            for answer in r.pages(DeadLetterOp::Replay { from, upto }).await? {
                if let DeadLetterAnswer::Replay { replayed: page, .. } = answer {
                    replayed.extend(page);
                }
            }
            if let (Some(id), true) = (id, replayed.is_empty()) {
                return Ok(no_letter(id, part));
            }
            for one in &replayed {
                println!("{}", dlq::replayed_line(one));
            }
            println!("{}", dlq::replay_summary(part, &replayed));
        }
        DlqCommand::Purge(_) => {
            let mut purged = 0;
            for answer in r.pages(DeadLetterOp::Purge { from, upto }).await? {
                if let DeadLetterAnswer::Purge { purged: n, .. } = answer {
                    purged += n;
                }
            }
            println!("purged {purged} dead letters");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn no_letter(id: u64, part: &str) -> ExitCode {
    eprintln!("milo dlq: {part} has no dead letter {id}");
    ExitCode::from(NOT_FOUND)
}
