//! Round-trips a probe through the broker; reports when it stops coming back.
//!
//! rumqttd's router thread can panic while the process stays up and refuses every client;
//! only a real round trip tells. After three missed rounds in a row `on_failure` runs (the
//! binary exits so systemd restarts the broker). In between, `healthy` says whether the last
//! round came back: the process stops pinging systemd's watchdog at the first miss.

use std::time::Duration;

use milo_bus::link::{self, LinkCommand, LinkConfig};
use milo_bus::{MqttConfig, Shutdown};
use milo_contracts::topics;
use tokio::sync::watch;
use tracing::{error, warn};

const MISSES_ALLOWED: u32 = 3;

/// Probes the broker at `mqtt.address` every `every` until `shutdown`; calls `on_failure`
/// after three missed round trips in a row. `healthy` is true while the last round trip came
/// back (false until the first one does).
pub async fn watchdog(
    mqtt: MqttConfig,
    every: Duration,
    healthy: watch::Sender<bool>,
    mut shutdown: Shutdown,
    on_failure: impl FnOnce(),
) {
    let client_id = format!("milo-watchdog-{}", std::process::id());
    let probe = topics::probe(&client_id);
    let config = LinkConfig {
        client_id,
        mqtt,
        subscriptions: vec![probe.clone()],
        presence: None,
        clean_session: true,
    };
    let mut link = match link::spawn(config, shutdown.clone()) {
        Ok(link) => link,
        Err(e) => {
            error!(error = %e, "Broker watchdog cannot start.");
            healthy.send_replace(false);
            return on_failure();
        }
    };
    let mut misses = 0;
    loop {
        let nonce = uuid::Uuid::now_v7().to_string();
        let _ = link.commands.send(LinkCommand::Publish {
            topic: probe.clone(),
            payload: nonce.clone().into_bytes(),
        });
        let round = async {
            while let Some(d) = link.deliveries.recv().await {
                let _ = link.commands.send(LinkCommand::Ack(d.clone()));
                if d.publish.payload == nonce.as_bytes() {
                    return true;
                }
            }
            false
        };
        tokio::select! {
            _ = shutdown.wait() => return,
            ok = tokio::time::timeout(every, round) => match ok {
                Ok(true) => {
                    misses = 0;
                    healthy.send_replace(true);
                }
                _ => {
                    misses += 1;
                    healthy.send_replace(false);
                    warn!(misses, "Broker watchdog probe did not come back.");
                    if misses >= MISSES_ALLOWED {
                        error!("Broker fails round trips; stopping so it can be restarted.");
                        return on_failure();
                    }
                }
            },
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
