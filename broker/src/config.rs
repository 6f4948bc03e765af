//! Broker settings and their translation to rumqttd's.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use milo_bus::Secret;
use serde::{Deserialize, Serialize};

/// Settings of the embedded broker (`[broker]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// Run rumqttd inside Milo; when false every part uses `mqtt.address` (e.g. mosquitto).
    pub embedded: bool,
    /// Listen address of the MQTT listener.
    pub listen: SocketAddr,
    /// Most clients at once.
    pub max_connections: usize,
    /// QoS 1 messages in flight to one client before the broker waits for acks.
    pub max_inflight: usize,
    /// Size of one in-memory log segment per subscription filter, in bytes.
    pub segment_bytes: usize,
    /// Segments kept per filter; the oldest is dropped when a slow subscriber falls behind.
    pub segment_count: usize,
    /// Seconds between watchdog round trips (0 disables the watchdog).
    pub watchdog_secs: u64,
    /// Users and passwords; empty means anonymous clients are accepted (development only).
    pub users: BTreeMap<String, Secret>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            embedded: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 1883)),
            max_connections: 64,
            max_inflight: 512,
            // 1 MiB × 6 per filter: a few dozen filters stay well inside a 512 MB board.
            segment_bytes: 1024 * 1024,
            segment_count: 6,
            watchdog_secs: 5,
            users: BTreeMap::new(),
        }
    }
}

impl BrokerConfig {
    /// rumqttd's settings: one MQTT 3.1.1 listener, no console, its router's meters, bounded
    /// logs.
    pub fn to_rumqttd(&self, max_payload: usize, listen: SocketAddr) -> rumqttd::Config {
        let mut connections = rumqttd::ConnectionSettings {
            connection_timeout_ms: 5000,
            max_payload_size: max_payload,
            max_inflight_count: self.max_inflight,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        };
        if !self.users.is_empty() {
            // The async hook, not the static map: config-rs lowercases map keys.
            let users: HashMap<String, String> = self
                .users
                .iter()
                .map(|(u, p)| (u.clone(), p.expose().to_owned()))
                .collect();
            connections.set_auth_handler(move |_client, user, pass| {
                let ok = users.get(&user).is_some_and(|p| *p == pass);
                async move { ok }
            });
        }
        let server = rumqttd::ServerSettings {
            name: "milo".into(),
            listen,
            tls: None,
            next_connection_delay_ms: 1,
            connections,
        };
        rumqttd::Config {
            id: 0,
            router: rumqttd::RouterConfig {
                max_connections: self.max_connections,
                max_outgoing_packet_count: 200,
                max_segment_size: self.segment_bytes.max(max_payload * 2),
                max_segment_count: self.segment_count.max(2),
                custom_segment: None,
                initialized_filters: None,
                shared_subscriptions_strategy: Default::default(),
            },
            v4: Some(HashMap::from([("1".to_owned(), server)])),
            // The router's meters every few seconds (when something was published), read by
            // `crate::meters` into Milo's metrics; no HTTP exporter of rumqttd's own. rumqttd's
            // timer unwraps both intervals whichever is set (it panicked with meters alone):
            // alerts too, hourly, read by nobody.
            metrics: serde_json::from_value(serde_json::json!({
                "meters": { "push_interval": crate::meters::EVERY_SECS },
                "alerts": { "push_interval": 3600 }
            }))
            .ok(),
            ..Default::default()
        }
    }
}
