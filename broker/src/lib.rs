//! Milo's embedded MQTT broker: rumqttd on its own thread, configured from Milo's config.
//!
//! rumqttd keeps everything in memory, gives no ready signal, has no stop, and its router
//! thread can panic while the process stays up. So [`start`] checks the port first, waits
//! until the listener accepts, and [`watchdog`] round-trips a probe through the broker every
//! few seconds and reports failure so the process can exit and be restarted.
//!
//! # Layout
//! - [`config`]: [`BrokerConfig`] and its translation to rumqttd's settings.
//! - [`gate`]: the only door to the broker when security is on: credentials, client ids and
//!   the authority table checked on every CONNECT, PUBLISH and SUBSCRIBE.
//! - [`watchdog`]: the round-trip probe.
#![forbid(unsafe_code)]

pub mod config;
pub mod gate;
pub mod meters;
pub mod watchdog;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
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
    /// The gate needs a tokio runtime to run on.
    #[error("the broker's gate must be started inside a tokio runtime")]
    NoRuntime,
}

/// A running embedded broker. rumqttd has no stop: it lives as long as the process.
#[derive(Debug)]
pub struct BrokerHandle {
    /// Where MQTT clients connect.
    pub addr: SocketAddr,
}

/// Starts rumqttd on its own thread and returns once its listener accepts connections.
pub fn start(config: &BrokerConfig, max_payload: usize) -> Result<BrokerHandle, BrokerError> {
    start_rumqttd(config.listen, config.to_rumqttd(max_payload, config.listen))
}

/// Starts rumqttd on a loopback port of its own, admitting only the gate (with a secret made
/// now), and the gate on `config.listen` on the current tokio runtime. Returns once both
/// accept connections; the gate's counters are in the returned [`Gate`].
pub fn start_gated(
    config: &BrokerConfig,
    max_payload: usize,
    settings: gate::GateSettings,
) -> Result<(BrokerHandle, Arc<gate::Gate>), BrokerError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| BrokerError::NoRuntime)?;
    let addr = config.listen;
    let public = TcpListener::bind(addr).map_err(|source| BrokerError::Listen { addr, source })?;
    // rumqttd cannot report the port it took for port 0: take a free one and hand it over.
    let inner = SocketAddr::from(([127, 0, 0, 1], 0));
    let inner = TcpListener::bind(inner)
        .and_then(|l| l.local_addr())
        .map_err(|source| BrokerError::Listen {
            addr: inner,
            source,
        })?;
    let user = "milo-gate".to_owned();
    let secret = milo_bus::credentials::fresh_secret();
    let mut rumqttd = config.to_rumqttd(max_payload, inner);
    if let Some(server) = rumqttd.v4.as_mut().and_then(|m| m.get_mut("1")) {
        let (u, p) = (user.clone(), secret.expose().to_owned());
        server
            .connections
            .set_auth_handler(move |_client, user, pass| {
                let ok = user == u && pass == p;
                async move { ok }
            });
    }
    let handle = start_rumqttd(inner, rumqttd)?;
    let gate = Arc::new(gate::Gate::new(
        settings,
        handle.addr,
        user,
        secret,
        max_payload,
    ));
    public
        .set_nonblocking(true)
        .map_err(|source| BrokerError::Listen { addr, source })?;
    let listener = {
        let _guard = runtime.enter();
        tokio::net::TcpListener::from_std(public)
            .map_err(|source| BrokerError::Listen { addr, source })?
    };
    let addr = listener.local_addr().unwrap_or(addr);
    runtime.spawn(gate.clone().serve(listener));
    tracing::info!(%addr, "Broker gate listening: credentials and authority checked.");
    Ok((BrokerHandle { addr }, gate))
}

fn start_rumqttd(addr: SocketAddr, settings: rumqttd::Config) -> Result<BrokerHandle, BrokerError> {
    // rumqttd reports a taken port only in its own log: find out first.
    TcpListener::bind(addr).map_err(|source| BrokerError::Listen { addr, source })?;
    std::thread::Builder::new()
        .name("broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(settings);
            meters::forward(&broker);
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
