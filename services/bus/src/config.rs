//! How a part reaches the broker.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize, Serializer};

use crate::BusError;

/// A secret string: never shown by `Debug`, `Display` or serialisation.
#[derive(Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// Connection settings shared by every part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Broker address, `host:port`.
    pub address: String,
    /// Username, if the broker authenticates.
    pub username: Option<String>,
    /// Password, if the broker authenticates.
    pub password: Option<Secret>,
    /// MQTT keep-alive in seconds (rumqttd refuses 0).
    pub keep_alive_secs: u64,
    /// Largest payload the broker accepts; larger ones are refused before publishing.
    pub max_payload: usize,
    /// Outbox entries in flight (published, not yet PUBACKed) at once.
    pub window: usize,
    /// The store's certificate (PEM) when the broker speaks TLS: the part connects with TLS
    /// and trusts that certificate alone ([`crate::tls`]). Not a key of `[mqtt]`: filled in
    /// from `[security] tls` by `MiloConfig::mqtt_as`.
    #[serde(skip)]
    pub tls: Option<PathBuf>,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            address: "127.0.0.1:1883".into(),
            username: None,
            password: None,
            keep_alive_secs: 10,
            max_payload: 64 * 1024,
            window: 256,
            tls: None,
        }
    }
}

impl MqttConfig {
    /// Splits `address` into host and port.
    pub fn host_port(&self) -> Result<(String, u16), BusError> {
        let bad = || BusError::Address(self.address.clone());
        let (host, port) = self.address.rsplit_once(':').ok_or_else(bad)?;
        let port = port.parse().map_err(|_| bad())?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad());
        }
        Ok((host.to_owned(), port))
    }

    /// rumqttc's options for `client_id` at `address`: with TLS (trusting the store's
    /// certificate alone) when `tls` is set. Every MQTT client of Milo starts here.
    pub fn options(&self, client_id: impl Into<String>) -> Result<rumqttc::MqttOptions, BusError> {
        let (host, port) = self.host_port()?;
        let mut opts = rumqttc::MqttOptions::new(client_id, host, port);
        if let Some(cert) = &self.tls {
            let config = crate::tls::client_config(cert)?;
            opts.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(config),
            ));
        }
        Ok(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_secret() {
        let c = MqttConfig {
            password: Some(Secret::new("hunter2")),
            ..MqttConfig::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&c).unwrap().contains("hunter2"));
    }

    #[test]
    fn parses_addresses() {
        let mut c = MqttConfig::default();
        assert_eq!(c.host_port().unwrap(), ("127.0.0.1".into(), 1883));
        c.address = "[::1]:1884".into();
        assert_eq!(c.host_port().unwrap(), ("::1".into(), 1884));
        c.address = "nope".into();
        assert!(c.host_port().is_err());
    }
}
