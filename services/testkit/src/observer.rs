//! An MQTT client that records every message on its filters.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use milo_bus::link::{self, LinkCommand, LinkConfig};
use milo_bus::{MqttConfig, ShutdownTrigger};

type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// Observers started by this process: each gets its own client id (the broker drops a
/// client when another connects with the same id).
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// Records `(topic, payload)` of everything on its filters until dropped.
pub struct Observer {
    seen: Seen,
    commands: tokio::sync::mpsc::UnboundedSender<LinkCommand>,
    _stop: StopOnDrop,
}

struct StopOnDrop(ShutdownTrigger);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.trigger();
    }
}

impl Observer {
    /// Connects to `mqtt`, subscribes to `filters`, and returns once subscribed.
    pub async fn start(mqtt: &MqttConfig, filters: &[&str]) -> Observer {
        let (trigger, shutdown) = ShutdownTrigger::new();
        let config = LinkConfig {
            // Not a `milo-` id: those belong to Milo's parts (the broker's gate refuses them
            // to anyone else).
            client_id: format!(
                "test-observer-{}-{}",
                std::process::id(),
                STARTED.fetch_add(1, Ordering::Relaxed)
            ),
            mqtt: mqtt.clone(),
            subscriptions: filters.iter().map(|f| f.to_string()).collect(),
            presence: None,
            clean_session: true,
        };
        let mut link = link::spawn(config, shutdown).expect("observer link");
        let mut ready = link.ready.clone();
        let subscribed = tokio::time::timeout(crate::PATIENCE, async {
            ready.wait_for(|r| *r).await.is_ok()
        });
        assert!(
            matches!(subscribed.await, Ok(true)),
            "observer could not subscribe"
        );
        let seen: Seen = Arc::default();
        let (record, commands) = (seen.clone(), link.commands.clone());
        tokio::spawn(async move {
            while let Some(d) = link.deliveries.recv().await {
                let item = (d.publish.topic.clone(), d.publish.payload.to_vec());
                let _ = link.commands.send(LinkCommand::Ack(d));
                if let Ok(mut s) = record.lock() {
                    s.push(item);
                }
            }
        });
        Observer {
            seen,
            commands,
            _stop: StopOnDrop(trigger),
        }
    }

    /// Everything seen so far.
    pub fn seen(&self) -> Vec<(String, Vec<u8>)> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Messages seen on `topic`.
    pub fn on(&self, topic: &str) -> Vec<Vec<u8>> {
        self.seen()
            .into_iter()
            .filter(|(t, _)| t == topic)
            .map(|(_, p)| p)
            .collect()
    }

    /// Publishes raw bytes (QoS 1) through this client.
    pub fn publish(&self, topic: &str, payload: &[u8]) {
        let _ = self.commands.send(LinkCommand::Publish {
            topic: topic.into(),
            payload: payload.to_vec(),
        });
    }
}
