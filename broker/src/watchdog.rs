//! Round-trips MQTT pings through the broker; reports when they stop coming back.
//!
//! rumqttd's router thread can panic while the process stays up and refuses every client;
//! only a real round trip tells. The router itself answers a PINGREQ (and a CONNECT), so an
//! MQTT keep-alive round trip proves it runs, and unlike a published probe it shows on no
//! topic: `mosquitto_sub -t '#'` sees nothing of it. The watchdog's own connection pings every
//! `every` (its keep-alive); a round is missed when no PINGRESP (or CONNACK) came back for
//! twice that. After three missed rounds in a row `on_failure` runs (the binary exits so
//! systemd restarts the broker). In between, `healthy` says whether answers come back: the
//! process stops pinging systemd's watchdog at the first miss.

use std::time::Duration;

use milo_bus::{MqttConfig, Shutdown};
use rumqttc::{AsyncClient, Event, Packet};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{error, warn};

const MISSES_ALLOWED: u32 = 3;

/// Pings the broker at `mqtt.address` every `every` until `shutdown`; calls `on_failure`
/// after three missed rounds in a row. `healthy` is true while answers come back (false until
/// the first one does).
pub async fn watchdog(
    mqtt: MqttConfig,
    every: Duration,
    healthy: watch::Sender<bool>,
    mut shutdown: Shutdown,
    on_failure: impl FnOnce(),
) {
    let client_id = format!("milo-watchdog-{}", std::process::id());
    let every = every.max(Duration::from_secs(1));
    let mut opts = match mqtt.options(client_id) {
        Ok(o) => o,
        Err(e) => {
            error!(error = %e, "Broker watchdog cannot start.");
            healthy.send_replace(false);
            return on_failure();
        }
    };
    opts.set_keep_alive(every).set_clean_session(true);
    if let (Some(user), Some(pass)) = (&mqtt.username, &mqtt.password) {
        opts.set_credentials(user.clone(), pass.expose().to_owned());
    }
    let (client, mut eventloop) = AsyncClient::new(opts, 8);
    let mut last_answer = Instant::now();
    let mut answered = false;
    let mut misses = 0;
    let mut round = tokio::time::interval_at(Instant::now() + every, every);
    round.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            event = eventloop.poll() => match event {
                Ok(Event::Incoming(Packet::PingResp | Packet::ConnAck(_))) => {
                    last_answer = Instant::now();
                    answered = true;
                    misses = 0;
                    healthy.send_replace(true);
                }
                Ok(_) => {}
                Err(_) => {
                    // A refused or lost connection: try again after a round, without spinning.
                    healthy.send_replace(false);
                    tokio::select! {
                        _ = shutdown.wait() => break,
                        _ = tokio::time::sleep(every) => {}
                    }
                }
            },
            _ = round.tick() => {
                if answered && last_answer.elapsed() <= every * 2 {
                    continue;
                }
                misses += 1;
                healthy.send_replace(false);
                warn!(misses, "Broker watchdog: no answer to its pings.");
                if misses >= MISSES_ALLOWED {
                    error!("Broker fails round trips; stopping so it can be restarted.");
                    return on_failure();
                }
            }
        }
    }
    let _ = client.try_disconnect();
}
