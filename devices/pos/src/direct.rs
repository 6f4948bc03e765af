//! Placing and canceling without the queue: one connection, the request sent again every
//! `resend_secs` until anything about the order comes back, then followed until it is done.
//! For tools and tests that hold the order in memory; the counter uses [`crate::Pos`].

use std::time::Duration;

use milo_bus::link::{self, LinkCommand, LinkConfig};
use milo_bus::{BusError, MqttConfig, Shutdown};
use milo_contracts::events::OrderPlaced;
use milo_contracts::saga::CancelRequested;
use milo_contracts::{topics, Envelope, RawEnvelope};
use uuid::Uuid;

use crate::update::update_of;
use crate::{Config, PosError, Request, Update};

/// Places `request` and reports every update until a final one, which it returns.
pub async fn place(
    mqtt: MqttConfig,
    config: Config,
    request: Request,
    mut on_update: impl FnMut(&Update),
    shutdown: Shutdown,
) -> Result<Update, PosError> {
    let order_id = request.order_id;
    let placed = OrderPlaced {
        order_id,
        items: request.items,
        customer: request.customer,
        payment: request.payment,
    };
    // Every send is the same event, byte for byte: the order service answers an exact repeat
    // with its recorded answer (a different event for a known order changes nothing).
    let bytes = Envelope::new(&config.terminal, order_id, None, placed).to_json();
    let payload = move || bytes.clone();
    // The broker drops a client that publishes more than it accepts, and the publish would be
    // retried forever: refuse here, with the sizes.
    let size = payload().len();
    if size > mqtt.max_payload {
        return Err(PosError::Bus(BusError::Oversized {
            topic: topics::ORDERS_PLACED.into(),
            size,
            limit: mqtt.max_payload,
        }));
    }
    let send = Outgoing {
        topic: topics::ORDERS_PLACED,
        payload: Box::new(payload),
    };
    let done = Update::is_final;
    follow(
        mqtt,
        &config,
        order_id,
        send,
        &mut on_update,
        done,
        shutdown,
    )
    .await
}

/// Asks the store to cancel `order_id` and waits for the answer: [`Update::Canceled`] (also
/// for an order canceled before: the same outcome again) or [`Update::CancelRefused`] (with
/// the reason; [`milo_contracts::saga::UNKNOWN_ORDER`] for an order the store does not have).
pub async fn cancel(
    mqtt: MqttConfig,
    config: Config,
    order_id: Uuid,
    reason: Option<String>,
    mut on_update: impl FnMut(&Update),
    shutdown: Shutdown,
) -> Result<Update, PosError> {
    let request = CancelRequested { order_id, reason };
    let payload = Envelope::new(&config.terminal, order_id, None, request).to_json();
    let send = Outgoing {
        topic: topics::CANCELLATIONS_REQUESTED,
        payload: Box::new(move || payload.clone()),
    };
    let done = |u: &Update| matches!(u, Update::Canceled { .. } | Update::CancelRefused { .. });
    follow(
        mqtt,
        &config,
        order_id,
        send,
        &mut on_update,
        done,
        shutdown,
    )
    .await
}

/// What the POS sends (again until anything about the order comes back).
struct Outgoing {
    topic: &'static str,
    payload: Box<dyn Fn() -> Vec<u8> + Send + Sync>,
}

/// The order-flow topics a POS listens to (not the requests it sends itself).
pub(crate) fn flow_subscriptions() -> Vec<String> {
    milo_contracts::policy::pos_flow()
        .map(str::to_owned)
        .collect()
}

/// Sends `out` and reports the order's updates until `done` says one is the answer.
async fn follow(
    mqtt: MqttConfig,
    config: &Config,
    order_id: Uuid,
    out: Outgoing,
    on_update: &mut impl FnMut(&Update),
    done: impl Fn(&Update) -> bool,
    mut shutdown: Shutdown,
) -> Result<Update, PosError> {
    let address = mqtt.address.clone();
    let link_config = LinkConfig {
        client_id: format!("milo-{}-{}", config.terminal, Uuid::now_v7().simple()),
        mqtt,
        subscriptions: flow_subscriptions(),
        presence: None,
        clean_session: true,
    };
    let mut link = link::spawn(link_config, shutdown.clone())?;
    let connect = tokio::time::timeout(Duration::from_secs(10), link.ready.wait_for(|r| *r));
    if !matches!(connect.await, Ok(Ok(_))) {
        return Err(PosError::Unreachable(address));
    }
    let send = |link: &link::Link| {
        let _ = link.commands.send(LinkCommand::Publish {
            topic: out.topic.into(),
            payload: (out.payload)(),
        });
    };
    send(&link);
    let limit = Duration::from_secs(config.timeout_secs);
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    let mut resend = tokio::time::interval(Duration::from_secs(config.resend_secs.max(1)));
    resend.tick().await;
    let mut answered = false;
    loop {
        tokio::select! {
            _ = &mut deadline => return Err(PosError::TimedOut(limit)),
            _ = shutdown.wait() => return Err(PosError::Interrupted),
            _ = resend.tick(), if !answered => send(&link),
            d = link.deliveries.recv() => {
                let Some(d) = d else { return Err(PosError::Unreachable(address)) };
                let env = RawEnvelope::parse(&d.publish.payload);
                let _ = link.commands.send(LinkCommand::Ack(d));
                let Ok(env) = env else { continue };
                if env.correlation_id != order_id {
                    continue;
                }
                let Some(update) = update_of(&env) else { continue };
                answered = true;
                on_update(&update);
                if done(&update) {
                    return Ok(update);
                }
            }
        }
    }
}
