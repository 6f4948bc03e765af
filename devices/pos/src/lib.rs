//! Milo's POS terminal: places an order on `orders/placed` and follows its events until it is
//! prepared, rejected or canceled; asks for a cancellation on `cancellations/requested` and
//! waits for the answer.
//!
//! The POS makes the order id (UUID v7); it is the idempotency key end to end, so the POS
//! sends the same `orders/placed` again until the order service answers, and the store still
//! makes one order, one charge and one drink.
//!
//! # Layout
//! - [`place`]: place one order and report each [`Update`].
//! - [`cancel`]: ask to cancel an order; [`Update::Canceled`] or [`Update::CancelRefused`].
#![forbid(unsafe_code)]

use std::time::Duration;

use milo_bus::link::{self, LinkCommand, LinkConfig};
use milo_bus::{BusError, MqttConfig, Shutdown};
use milo_contracts::events::{
    InventoryFailed, OrderCanceled, OrderCreated, OrderFailed, OrderLine, OrderPlaced,
    OrderPrepared, OrderRejected, PaymentFailed,
};
use milo_contracts::saga::{CancelRefused, CancelRequested};
use milo_contracts::{topics, Envelope, RawEnvelope};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// POS settings (`[pos]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Give up following an order after this many seconds.
    pub timeout_secs: u64,
    /// Send `orders/placed` again after this many seconds without an answer.
    pub resend_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            timeout_secs: 120,
            resend_secs: 3,
        }
    }
}

/// An order as the counter takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The order id (UUID v7), made by the POS.
    pub order_id: Uuid,
    /// What the customer asked for.
    pub items: Vec<OrderLine>,
    /// Name to call out.
    pub customer: Option<String>,
}

/// A status change of the order, as the POS shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Accepted and priced.
    Created {
        /// Total in cents.
        total_cents: u64,
    },
    /// Paid.
    Paid,
    /// Ingredients set aside.
    Reserved,
    /// Paid and stocked: being made.
    Ready,
    /// Made: ready for pickup.
    Prepared {
        /// Station that made it.
        station: String,
    },
    /// Refused at placement.
    Rejected {
        /// Why.
        reason: String,
    },
    /// Could not be completed: what was done is being undone (`orders/canceled` follows).
    Failed {
        /// Why.
        reason: String,
    },
    /// Canceled, everything undone.
    Canceled {
        /// Why.
        reason: String,
        /// Amount given back, in cents.
        refunded_cents: u64,
    },
    /// A cancellation was refused; the order goes on.
    CancelRefused {
        /// Why.
        reason: String,
    },
    /// Payment declined (a failure follows).
    Declined {
        /// Why.
        reason: String,
    },
}

impl Update {
    /// True when no further update will come.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Update::Prepared { .. } | Update::Rejected { .. } | Update::Canceled { .. }
        )
    }
}

/// POS errors.
#[derive(Debug, thiserror::Error)]
pub enum PosError {
    /// Bad broker address.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// No broker connection in time.
    #[error("cannot reach the broker at {0}")]
    Unreachable(String),
    /// The order did not finish in time.
    #[error("no final status within {0:?}")]
    TimedOut(Duration),
    /// Stopped by the user.
    #[error("interrupted")]
    Interrupted,
}

fn update_of(env: &RawEnvelope) -> Option<Update> {
    Some(match env.kind.as_str() {
        "OrderCreated" => Update::Created {
            total_cents: env.decode::<OrderCreated>().ok()?.total_cents,
        },
        "PaymentCompleted" => Update::Paid,
        "InventoryReserved" => Update::Reserved,
        "OrderReady" => Update::Ready,
        "OrderPrepared" => Update::Prepared {
            station: env.decode::<OrderPrepared>().ok()?.station,
        },
        "OrderRejected" => Update::Rejected {
            reason: env.decode::<OrderRejected>().ok()?.reason,
        },
        "OrderFailed" => Update::Failed {
            reason: env.decode::<OrderFailed>().ok()?.reason,
        },
        "OrderCanceled" => {
            let e = env.decode::<OrderCanceled>().ok()?;
            Update::Canceled {
                reason: e.reason,
                refunded_cents: e.refunded_cents,
            }
        }
        "CancelRefused" => Update::CancelRefused {
            reason: env.decode::<CancelRefused>().ok()?.reason,
        },
        "PaymentFailed" => Update::Declined {
            reason: env.decode::<PaymentFailed>().ok()?.reason,
        },
        "InventoryFailed" => Update::Declined {
            reason: env.decode::<InventoryFailed>().ok()?.reason,
        },
        _ => return None,
    })
}

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
    };
    let payload = Envelope::new("pos", order_id, None, placed).to_json();
    // The broker drops a client that publishes more than it accepts, and the publish would be
    // retried forever: refuse here, with the sizes.
    if payload.len() > mqtt.max_payload {
        return Err(PosError::Bus(BusError::Oversized {
            topic: topics::ORDERS_PLACED.into(),
            size: payload.len(),
            limit: mqtt.max_payload,
        }));
    }
    let send = Outgoing {
        topic: topics::ORDERS_PLACED,
        payload,
    };
    follow(
        mqtt,
        &config,
        order_id,
        send,
        &mut on_update,
        Update::is_final,
        shutdown,
    )
    .await
}

/// Asks the store to cancel `order_id` and waits for the answer: [`Update::Canceled`] or
/// [`Update::CancelRefused`].
pub async fn cancel(
    mqtt: MqttConfig,
    config: Config,
    order_id: Uuid,
    reason: Option<String>,
    mut on_update: impl FnMut(&Update),
    shutdown: Shutdown,
) -> Result<Update, PosError> {
    let request = CancelRequested { order_id, reason };
    let send = Outgoing {
        topic: topics::CANCELLATIONS_REQUESTED,
        payload: Envelope::new("pos", order_id, None, request).to_json(),
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
    payload: Vec<u8>,
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
    let subscriptions = topics::ORDER_FLOW
        .iter()
        .filter(|t| **t != topics::ORDERS_PLACED && **t != topics::CANCELLATIONS_REQUESTED)
        .map(|t| t.to_string())
        .collect();
    let link_config = LinkConfig {
        client_id: format!("milo-pos-{}", Uuid::now_v7().simple()),
        mqtt,
        subscriptions,
        presence: None,
        clean_session: true,
    };
    let mut link = link::spawn(link_config, None, shutdown.clone())?;
    let connect = tokio::time::timeout(Duration::from_secs(10), link.ready.wait_for(|r| *r));
    if !matches!(connect.await, Ok(Ok(_))) {
        return Err(PosError::Unreachable(address));
    }
    let send = |link: &link::Link| {
        let _ = link.commands.send(LinkCommand::Publish {
            topic: out.topic.into(),
            payload: out.payload.clone(),
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
