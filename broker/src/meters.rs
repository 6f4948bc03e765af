//! The router's own counts in Milo's metrics: rumqttd sends its meters every
//! [`EVERY_SECS`] while something is published (publishes and failed publishes since the last
//! meter, connections now); a thread adds them to `milo_broker_publishes_total`,
//! `milo_broker_failed_publishes_total` and sets `milo_broker_connections`.

use rumqttd::Meter;
use tracing::warn;

/// Seconds between two meters.
pub const EVERY_SECS: u64 = 2;

/// Starts forwarding `broker`'s meters (before `broker.start()`).
pub fn forward(broker: &rumqttd::Broker) {
    let link = match broker.meters() {
        Ok(link) => link,
        Err(e) => {
            warn!(error = %e, "Broker meters unavailable.");
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("broker-meters".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
                return;
            };
            runtime.block_on(async move {
                while let Ok(meters) = link.next().await {
                    for meter in meters {
                        if let Meter::Router(_, r) = meter {
                            metrics::counter!("milo_broker_publishes_total")
                                .increment(r.total_publishes as u64);
                            metrics::counter!("milo_broker_failed_publishes_total")
                                .increment(r.failed_publishes as u64);
                            metrics::gauge!("milo_broker_connections")
                                .set(r.total_connections as f64);
                        }
                    }
                }
            });
        });
    if let Err(e) = spawned {
        warn!(error = %e, "Broker meters not forwarded.");
    }
}
