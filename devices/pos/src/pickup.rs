//! Pickup: the customer collected the order, so the POS publishes `orders/collected` and the
//! pickup board drops it. The publish counts only once the broker confirms it (PUBACK).

use std::time::Duration;

use milo_bus::{BusError, MqttConfig, Shutdown};
use milo_contracts::counter::OrderCollected;
use milo_contracts::{Envelope, Event};
use rumqttc::{AsyncClient, Event as MqttEvent, Outgoing, Packet, QoS};
use uuid::Uuid;

use crate::PosError;

/// Wait between connection attempts while the broker is unreachable.
const RETRY: Duration = Duration::from_millis(200);

/// Publishes `OrderCollected` for `order_id` (correlation = the order id, QoS 1) and returns
/// once the broker acknowledged it, trying until `limit`.
pub async fn pickup(
    mqtt: &MqttConfig,
    terminal: &str,
    order_id: Uuid,
    limit: Duration,
    shutdown: Shutdown,
) -> Result<(), PosError> {
    let event = Envelope::new(terminal, order_id, None, OrderCollected { order_id });
    let client_id = format!("milo-{terminal}-pickup-{}", Uuid::now_v7().simple());
    let publish = Publish {
        client_id,
        topic: OrderCollected::TOPIC,
        payload: event.to_json(),
    };
    publish_confirmed(mqtt, publish, limit, shutdown).await
}

/// One message to publish and have acknowledged.
struct Publish {
    client_id: String,
    topic: &'static str,
    payload: Vec<u8>,
}

/// Publishes at QoS 1 on a clean session and waits for the PUBACK, publishing again after
/// any reconnect (rumqttc drops what was in flight on a new session).
async fn publish_confirmed(
    mqtt: &MqttConfig,
    msg: Publish,
    limit: Duration,
    mut shutdown: Shutdown,
) -> Result<(), PosError> {
    if msg.payload.len() > mqtt.max_payload {
        return Err(PosError::Bus(BusError::Oversized {
            topic: msg.topic.into(),
            size: msg.payload.len(),
            limit: mqtt.max_payload,
        }));
    }
    let mut opts = mqtt.options(msg.client_id.clone())?;
    let packet = mqtt.max_payload + 4096;
    opts.set_keep_alive(Duration::from_secs(mqtt.keep_alive_secs.max(1)))
        .set_clean_session(true)
        .set_max_packet_size(packet, packet);
    if let (Some(user), Some(pass)) = (&mqtt.username, &mqtt.password) {
        opts.set_credentials(user.clone(), pass.expose().to_owned());
    }
    let (client, mut eventloop) = AsyncClient::new(opts, 16);
    let confirmed = async {
        let mut in_flight = None;
        loop {
            match eventloop.poll().await {
                Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                    eventloop.pending.clear();
                    in_flight = None;
                    let payload = msg.payload.clone();
                    // The request channel is empty here: this does not wait.
                    let _ = client
                        .publish(msg.topic, QoS::AtLeastOnce, false, payload)
                        .await;
                }
                Ok(MqttEvent::Outgoing(Outgoing::Publish(pkid))) => in_flight = Some(pkid),
                Ok(MqttEvent::Incoming(Packet::PubAck(ack))) if Some(ack.pkid) == in_flight => {
                    break;
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(RETRY).await,
            }
        }
        // A clean goodbye; the message is already confirmed, so this is best effort.
        let _ = client.try_disconnect();
        let bye = async {
            while let Ok(ev) = eventloop.poll().await {
                if matches!(ev, MqttEvent::Outgoing(Outgoing::Disconnect)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), bye).await;
    };
    tokio::select! {
        () = confirmed => Ok(()),
        _ = tokio::time::sleep(limit) => Err(PosError::Unreachable(mqtt.address.clone())),
        _ = shutdown.wait() => Err(PosError::Interrupted),
    }
}
