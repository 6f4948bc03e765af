//! The web layer's own MQTT client: one clean-session link with the operator's credential,
//! subscribed to the shop's retained state (pickup board, availability, whether card payments
//! work, telemetry, presence) and to the flow topics whose events change what a screen shows
//! (a charge declined after the fact among them). It keeps the last payload
//! of each retained topic and counts changes; the screens' event streams wake on that count.
//!
//! Why the operator's credential: the gate lets the operator read every topic (a station or a
//! POS terminal may read only its own and the public ones, an anonymous observer exists only
//! on a loopback-only store), and `milo barista bump|recall` already publishes device commands
//! as the operator. The link reads only what authenticated parts published: the gate refuses a
//! forged `boards/pickup` or telemetry before it reaches the broker.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use milo_bus::link::{self, Delivery, Link, LinkCommand, LinkConfig};
use milo_bus::{BusError, MqttConfig, Shutdown};
use milo_contracts::topics;
use tokio::sync::watch;

/// How often the screens are woken even with no event (ticket ages, the day's chart).
const TICK: Duration = Duration::from_secs(5);

/// The filters the web layer reads: retained state first, then the flow.
fn subscriptions() -> Vec<String> {
    [
        topics::BOARDS_PICKUP,
        topics::MENU_AVAILABILITY,
        topics::PAYMENTS_GATEWAY,
        topics::PAYMENTS_DECLINED_OFFLINE,
        topics::DEVICE_TELEMETRY_ALL,
        topics::DEVICE_STATUS_ALL,
        topics::SERVICE_STATUS_ALL,
        topics::ORDERS_ALL,
        topics::TICKETS_ALL,
        topics::INVENTORY_ALL,
        topics::DLQ_ALL,
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

/// True for the topics whose last payload is the state (retained topics).
fn is_state(topic: &str) -> bool {
    topic == topics::BOARDS_PICKUP
        || topic == topics::MENU_AVAILABILITY
        || topic == topics::PAYMENTS_GATEWAY
        || topics::device_of_telemetry(topic).is_some()
        || topics::device_of_status(topic).is_some()
        || topics::service_of_status(topic).is_some()
}

/// What the link has seen: the retained state and a change counter.
#[derive(Clone)]
pub struct Live {
    state: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    changes: watch::Receiver<u64>,
    /// True while the link is connected and subscribed (none: no link to make).
    connected: Option<watch::Receiver<bool>>,
}

impl Live {
    /// Connects (and reconnects by itself) with `mqtt` until `shutdown`; with no connection
    /// to make, or a bad one, the screens show only what the stores hold.
    pub fn start(mqtt: Option<MqttConfig>, shutdown: Shutdown) -> Live {
        let state: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
        let (tx, changes) = watch::channel(0u64);
        let link = match mqtt.map(|m| Live::link(m, &shutdown)).transpose() {
            Ok(link) => link,
            Err(e) => {
                tracing::warn!(error = %e, "Web screens: no live data.");
                None
            }
        };
        let connected = link.as_ref().map(|l| l.ready.clone());
        let live = Live {
            state: state.clone(),
            changes,
            connected: connected.clone(),
        };
        tokio::spawn(follow(link, connected, state, tx, shutdown));
        live
    }

    fn link(mqtt: MqttConfig, shutdown: &Shutdown) -> Result<Link, BusError> {
        let config = LinkConfig {
            client_id: "milo-operator-web".to_owned(),
            mqtt,
            subscriptions: subscriptions(),
            presence: None,
            clean_session: true,
        };
        link::spawn(config, shutdown.clone())
    }

    /// The last payload on `topic`, if any.
    pub fn get(&self, topic: &str) -> Option<Vec<u8>> {
        self.state.lock().ok()?.get(topic).cloned()
    }

    /// Every state topic seen that `name` names (e.g. `topics::device_of_status`): by name.
    pub fn matching(&self, name: impl Fn(&str) -> Option<&str>) -> Vec<(String, Vec<u8>)> {
        let Ok(s) = self.state.lock() else {
            return Vec::new();
        };
        s.iter()
            .filter_map(|(t, p)| Some((name(t)?.to_owned(), p.clone())))
            .collect()
    }

    /// True while the screens' link to the broker is up: otherwise what they show of the
    /// retained state (presence, the pickup board, telemetry) is as last seen.
    pub fn connected(&self) -> bool {
        self.connected.as_ref().is_some_and(|c| *c.borrow())
    }

    /// A receiver that changes whenever something arrived, the link went up or down, or the
    /// tick passed.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }
}

/// Keeps the retained state and counts changes until `shutdown` (with no link, only ticks).
async fn follow(
    mut link: Option<Link>,
    mut connected: Option<watch::Receiver<bool>>,
    state: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    changes: watch::Sender<u64>,
    mut shutdown: Shutdown,
) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = tick.tick() => {}
            () = flips(&mut connected) => {}
            Some(d) = next(&mut link) => {
                let topic = d.publish.topic.clone();
                if is_state(&topic) {
                    if let Ok(mut s) = state.lock() {
                        s.insert(topic, d.publish.payload.to_vec());
                    }
                }
                if let Some(l) = &link {
                    let _ = l.commands.send(LinkCommand::Ack(d));
                }
            }
        }
        changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Resolves when the link goes up or down; never, with no link (or once it ended).
async fn flips(connected: &mut Option<watch::Receiver<bool>>) {
    let changed = match connected {
        Some(c) => c.changed().await.is_ok(),
        None => false,
    };
    if !changed {
        *connected = None;
        std::future::pending::<()>().await
    }
}

/// The link's next delivery; never, with no link (or once it ended).
async fn next(link: &mut Option<Link>) -> Option<Delivery> {
    match link {
        Some(l) => match l.deliveries.recv().await {
            Some(d) => Some(d),
            None => {
                *link = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}
