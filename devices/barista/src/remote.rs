//! Talking to a running station from outside (`milo barista <command>`): [`send`] publishes
//! a [`DeviceCommand`] on `devices/<id>/commands` and returns once the broker has it (its
//! PUBACK, not just queued in the client); [`status`] reads the station's retained presence
//! and telemetry.
//!
//! These are one-shot clients with a clean session: nothing to resume, nothing to keep.

use std::time::Duration;

use milo_bus::{BusError, MqttConfig};
use milo_contracts::bar::{DeviceCommand, Telemetry};
use milo_contracts::{topics, Envelope};
use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS};
use tokio::time::Instant;
use uuid::Uuid;

/// The source of commands sent from the command line.
pub const SOURCE: &str = milo_contracts::dead_letters::OPERATOR;

/// Why a command or a status read did not go through.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// Bad broker address, or a payload too large for the broker.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// No connection to the broker.
    #[error("cannot reach the broker at {address}: {reason}")]
    Unreachable {
        /// Broker address.
        address: String,
        /// The last connection error.
        reason: String,
    },
    /// Connected, but the broker did not confirm the command in time (it may or may not
    /// have it).
    #[error("the broker at {0} did not confirm the command in time")]
    Unconfirmed(String),
}

/// What a station says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct StationStatus {
    /// Retained presence (`online`/`offline`), if any.
    pub presence: Option<String>,
    /// Retained telemetry, if any (and if it reads).
    pub telemetry: Option<Telemetry>,
}

/// Sends `command` to `station` and returns the command's event id once the broker has
/// acknowledged it, within `limit`.
pub async fn send(
    mqtt: &MqttConfig,
    station: &str,
    command: DeviceCommand,
    limit: Duration,
) -> Result<Uuid, RemoteError> {
    let topic = topics::device_commands(station);
    let envelope = Envelope::new(SOURCE, Uuid::nil(), None, command);
    let payload = envelope.to_json();
    if payload.len() > mqtt.max_payload {
        return Err(BusError::Oversized {
            topic,
            size: payload.len(),
            limit: mqtt.max_payload,
        }
        .into());
    }
    let deadline = Instant::now() + limit;
    let (client, mut events) = connect(mqtt, deadline).await?;
    let unconfirmed = || RemoteError::Unconfirmed(mqtt.address.clone());
    client
        .publish(topic, QoS::AtLeastOnce, false, payload)
        .await
        .map_err(|_| unconfirmed())?;
    loop {
        match tokio::time::timeout_at(deadline, events.poll()).await {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => break,
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => return Err(unconfirmed()),
        }
    }
    goodbye(&client, &mut events).await;
    Ok(envelope.id)
}

/// Reads `station`'s retained presence and telemetry: what arrives within `grace` of
/// subscribing (a retained message comes at once), all within `limit`.
pub async fn status(
    mqtt: &MqttConfig,
    station: &str,
    grace: Duration,
    limit: Duration,
) -> Result<StationStatus, RemoteError> {
    let deadline = Instant::now() + limit;
    let (client, mut events) = connect(mqtt, deadline).await?;
    let (presence_topic, telemetry_topic) = (
        topics::device_status(station),
        topics::device_telemetry(station),
    );
    for t in [&presence_topic, &telemetry_topic] {
        let _ = client.subscribe(t.clone(), QoS::AtLeastOnce).await;
    }
    let mut found = StationStatus {
        presence: None,
        telemetry: None,
    };
    let mut until = deadline;
    while found.presence.is_none() || found.telemetry.is_none() {
        let Ok(Ok(event)) = tokio::time::timeout_at(until, events.poll()).await else {
            break;
        };
        match event {
            Event::Incoming(Packet::SubAck(_)) => until = until.min(Instant::now() + grace),
            Event::Incoming(Packet::Publish(p)) if p.topic == presence_topic => {
                found.presence = Some(String::from_utf8_lossy(&p.payload).into_owned());
            }
            Event::Incoming(Packet::Publish(p)) if p.topic == telemetry_topic => {
                found.telemetry = serde_json::from_slice(&p.payload).ok();
            }
            _ => {}
        }
    }
    goodbye(&client, &mut events).await;
    Ok(found)
}

/// A clean-session client connected to the broker, or why not by `deadline`.
async fn connect(
    mqtt: &MqttConfig,
    deadline: Instant,
) -> Result<(AsyncClient, EventLoop), RemoteError> {
    let id = format!("milo-operator-barista-{}", Uuid::now_v7().simple());
    let mut opts = mqtt.options(id)?;
    opts.set_keep_alive(Duration::from_secs(mqtt.keep_alive_secs.max(1)))
        .set_clean_session(true)
        .set_max_packet_size(mqtt.max_payload + 4096, mqtt.max_payload + 4096);
    if let (Some(user), Some(pass)) = (&mqtt.username, &mqtt.password) {
        opts.set_credentials(user.clone(), pass.expose().to_owned());
    }
    let (client, mut events) = AsyncClient::new(opts, 16);
    let mut reason = "no answer".to_owned();
    loop {
        match tokio::time::timeout_at(deadline, events.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => return Ok((client, events)),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                reason = e.to_string();
                // A refused connection fails at once: try again shortly, until the deadline.
                let pause = Instant::now() + Duration::from_millis(100);
                tokio::time::sleep_until(pause.min(deadline)).await;
            }
            Err(_) => {
                return Err(RemoteError::Unreachable {
                    address: mqtt.address.clone(),
                    reason,
                })
            }
        }
    }
}

/// Disconnects cleanly (briefly: the work is done either way).
async fn goodbye(client: &AsyncClient, events: &mut EventLoop) {
    if client.disconnect().await.is_err() {
        return;
    }
    let drain = async {
        loop {
            match events.poll().await {
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}
