//! Round-trips a probe through the broker; reports when it stops coming back.
//!
//! rumqttd's router thread can panic while the process stays up and refuses every client;
//! only a real round trip tells. After three missed rounds in a row `on_failure` runs (the
//! binary exits so systemd restarts the broker).

use std::time::Duration;

use milo_bus::link::{self, LinkCommand, LinkConfig};
use milo_bus::{MqttConfig, Shutdown};
use milo_contracts::topics;
use tracing::{error, warn};

const MISSES_ALLOWED: u32 = 3;

/// Probes the broker at `mqtt.address` every `every` until `shutdown`; calls `on_failure`
/// after three missed round trips in a row.
pub async fn watchdog(
    mqtt: MqttConfig,
    every: Duration,
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
    let mut link = match link::spawn(config, None, shutdown.clone()) {
        Ok(link) => link,
        Err(e) => {
            error!(error = %e, "Broker watchdog cannot start.");
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
                Ok(true) => misses = 0,
                _ => {
                    misses += 1;
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
