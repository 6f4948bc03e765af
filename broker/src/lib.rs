//! Milo's embedded MQTT broker: rumqttd on its own thread, configured from Milo's config.
//!
//! rumqttd keeps everything in memory, gives no ready signal, has no stop, and its router
//! thread can panic while the process stays up. So [`start`] checks the port first, waits
//! until the listener accepts, and [`watchdog`] round-trips a probe through the broker every
//! few seconds and reports failure so the process can exit and be restarted.
//!
//! # Layout
//! - [`config`]: [`BrokerConfig`] and its translation to rumqttd's settings.
//! - [`watchdog`]: the round-trip probe.
#![forbid(unsafe_code)]

pub mod config;
pub mod watchdog;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

pub use config::BrokerConfig;
pub use watchdog::watchdog;

/// Broker errors.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The listen address is taken or not ours.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The broker thread could not start.
    #[error("cannot start the broker thread: {0}")]
    Thread(std::io::Error),
    /// The listener never accepted a connection.
    #[error("broker on {0} did not accept connections within {1:?}")]
    NotReady(SocketAddr, Duration),
}

/// A running embedded broker. rumqttd has no stop: it lives as long as the process.
#[derive(Debug)]
pub struct BrokerHandle {
    /// Where MQTT clients connect.
    pub addr: SocketAddr,
}

/// Starts rumqttd on its own thread and returns once its listener accepts connections.
pub fn start(config: &BrokerConfig, max_payload: usize) -> Result<BrokerHandle, BrokerError> {
    let addr = config.listen;
    // rumqttd reports a taken port only in its own log: find out first.
    TcpListener::bind(addr).map_err(|source| BrokerError::Listen { addr, source })?;
    let settings = config.to_rumqttd(max_payload);
    std::thread::Builder::new()
        .name("broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(settings);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "Embedded broker stopped.");
            }
        })
        .map_err(BrokerError::Thread)?;
    let limit = Duration::from_secs(10);
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            tracing::info!(%addr, "Embedded broker listening.");
            return Ok(BrokerHandle { addr });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(BrokerError::NotReady(addr, limit))
}
