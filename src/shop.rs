//! Starting the store: every part in one process (`milo up`), or one part alone
//! (`milo service NAME`, `milo barista`, `milo broker`), as systemd does on a Pi.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use milo_barista_device::{Ageing, Display, MemoryDisplay, SimulatedMachine};
use milo_broker::gate::{Gate, GateSettings};
use milo_bus::{
    MqttConfig, Rejection, RunDeps, Shutdown, ShutdownTrigger, Store, StoreError, StoreStats,
};
use milo_config::{ConfigError, MiloConfig};
use milo_contracts::policy::{self, Role};
use milo_contracts::{Menu, SagaMode};
use milo_payment::SimulatedGateway;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::health::Health;
use crate::systemd::Check;

/// The broker's own store: the publishes its gate refused (`milo dlq list --service broker`).
pub const BROKER_PART: &str = "broker";

/// Every service `milo service NAME` can run (`saga` only in orchestration mode): the
/// services the authority table knows.
pub use milo_contracts::policy::SERVICES;

/// The services that run in `config`'s saga mode.
pub fn services(config: &MiloConfig) -> impl Iterator<Item = &'static str> {
    services_in(config.saga.mode)
}

/// The services that run in saga `mode`: the coordinator only in orchestration.
pub fn services_in(mode: SagaMode) -> impl Iterator<Item = &'static str> {
    let orchestration = mode == SagaMode::Orchestration;
    SERVICES
        .into_iter()
        .filter(move |s| *s != "saga" || orchestration)
}

/// Errors starting or running the store.
#[derive(Debug, thiserror::Error)]
pub enum ShopError {
    /// Bad configuration (exit 78).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The embedded broker did not start.
    #[error(transparent)]
    Broker(#[from] milo_broker::BrokerError),
    /// A store did not open.
    // The cause is in the message, so it is not also a `source` (`{e:#}` would say it twice).
    #[error("{part}: {error}")]
    Store {
        /// Part.
        part: String,
        /// Cause.
        error: StoreError,
    },
    /// The HTTP listener did not bind.
    #[error("cannot serve HTTP on {addr}: {error}")]
    Http {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        error: std::io::Error,
    },
    /// The saga coordinator asked for in choreography mode.
    #[error("the saga coordinator runs only with saga.mode = \"orchestration\" (it is \"choreography\")")]
    NotOrchestrating,
    /// No such part.
    #[error("unknown service {0:?}; expected one of: {list}", list = SERVICES.join(", "))]
    UnknownPart(String),
    /// A part stopped with an error.
    #[error("{part} stopped: {reason}")]
    PartFailed {
        /// Part.
        part: String,
        /// Why.
        reason: String,
    },
}

/// A running part.
pub struct Part {
    /// Service name.
    pub name: String,
    /// Its store (tests read it after the fact).
    pub store: Store,
    /// Its HTTP routes, if it has any.
    pub router: Option<Router>,
    /// True while it is connected and subscribed.
    pub ready: watch::Receiver<bool>,
    /// Its task.
    pub task: JoinHandle<Result<(), Rejection>>,
}

/// Deps for a part connecting with `mqtt`, with a readiness signal.
fn deps<C: Send + 'static>(
    mqtt: &MqttConfig,
    store: &Store,
) -> (RunDeps<C>, milo_bus::Commands<C>, watch::Receiver<bool>) {
    let (mut deps, commands) = RunDeps::new(mqtt.clone(), store.clone());
    let (tx, rx) = watch::channel(false);
    deps.ready = Some(tx);
    (deps, commands, rx)
}

fn open(config: &MiloConfig, part: &str) -> Result<Store, ShopError> {
    Store::open(&config.data_of(part), &config.store).map_err(|error| ShopError::Store {
        part: part.to_owned(),
        error,
    })
}

/// Starts one service against the configured broker.
pub fn start_service(
    name: &str,
    config: &MiloConfig,
    menu: Arc<Menu>,
    shutdown: &Shutdown,
) -> Result<Part, ShopError> {
    if !SERVICES.contains(&name) {
        return Err(ShopError::UnknownPart(name.to_owned()));
    }
    if !services(config).any(|s| s == name) {
        return Err(ShopError::NotOrchestrating);
    }
    let mode = config.saga.mode;
    let mqtt = config.mqtt_as(name, Role::Service)?;
    let config = &with_mqtt(config, mqtt);
    let store = open(config, name)?;
    let sd = shutdown.clone();
    let (task, router, ready) = match name {
        "order" => {
            let (deps, commands, ready) = deps(&config.mqtt, &store);
            let wait = config.http.answer_within();
            let router = milo_order::http::router(store.clone(), commands, wait);
            let order = config.order.clone();
            let task = tokio::spawn(milo_order::run(order, mode, deps, menu, sd));
            (task, Some(router), ready)
        }
        "payment" => {
            let (deps, _, ready) = deps(&config.mqtt, &store);
            let zone = config.zone()?;
            let clock = Arc::new(move || zone.seconds_of_day());
            let payment = config.payment.clone();
            let mut gateway = SimulatedGateway::with_clock(payment.clone(), clock);
            if let Some(path) = &payment.ledger {
                gateway = gateway.with_ledger(path).map_err(|e| {
                    ConfigError::new("payment.ledger", format!("{}: {e}", path.display()))
                })?;
            }
            let gateway = Arc::new(gateway);
            let router = milo_payment::http::router(store.clone());
            let task =
                tokio::spawn(
                    async move { milo_payment::run(&payment, deps, gateway, mode, sd).await },
                );
            (task, Some(router), ready)
        }
        "inventory" => {
            let (deps, _, ready) = deps(&config.mqtt, &store);
            let inventory = config.inventory.clone();
            let task = tokio::spawn(milo_inventory::run(inventory, mode, menu, deps, sd));
            (task, None, ready)
        }
        "barista" => {
            let (deps, _, ready) = deps(&config.mqtt, &store);
            // Until a station is timed, the bar's model assumes it runs as this store's
            // device does.
            let barista = config.barista.clone().or_device_speed(config.device.speed);
            let task = tokio::spawn(milo_barista::run(barista, mode, menu, deps, sd));
            (task, None, ready)
        }
        "notification" => {
            let (deps, _, ready) = deps(&config.mqtt, &store);
            let notification = config.notification.clone();
            (
                tokio::spawn(milo_notification::run(notification, deps, sd)),
                None,
                ready,
            )
        }
        "saga" => {
            let (deps, _, ready) = deps(&config.mqtt, &store);
            let router = milo_saga::http::router(store.clone());
            let saga = config.saga.clone();
            (
                tokio::spawn(milo_saga::run(saga, deps, sd)),
                Some(router),
                ready,
            )
        }
        _ => {
            let (deps, _, ready) = deps(&config.mqtt, &store);
            let zone = config.zone()?;
            let router = milo_analytics::http::router(store.clone(), zone.clone());
            (
                tokio::spawn(milo_analytics::run(zone, deps, sd)),
                Some(router),
                ready,
            )
        }
    };
    Ok(Part {
        name: name.to_owned(),
        store,
        router,
        ready,
        task,
    })
}

/// Starts the barista device of `config.device.station` with a simulated machine built from
/// `[device]`; its display flags ticket ages by the barista service's thresholds.
pub fn start_device(
    config: &MiloConfig,
    menu: Arc<Menu>,
    display: Box<dyn Display>,
    shutdown: &Shutdown,
) -> Result<Part, ShopError> {
    let name = milo_barista_device::service_name(&config.device.station);
    let mqtt = config.mqtt_as(&config.device.station, Role::Station)?;
    let config = &with_mqtt(config, mqtt);
    let store = open(config, &name)?;
    let (deps, _, ready) = deps(&config.mqtt, &store);
    let machine = SimulatedMachine::new(&config.device);
    let ageing = Ageing {
        warn_secs: config.barista.warn_secs,
        late_secs: config.barista.late_secs,
    };
    let task = tokio::spawn(milo_barista_device::run(
        config.device.clone(),
        ageing,
        deps,
        menu,
        machine,
        display,
        shutdown.clone(),
    ));
    Ok(Part {
        name,
        store,
        router: None,
        ready,
        task,
    })
}

/// `config` with `mqtt` as its broker connection.
fn with_mqtt(config: &MiloConfig, mqtt: MqttConfig) -> MiloConfig {
    let mut c = config.clone();
    c.mqtt = mqtt;
    c
}

/// Starts the embedded broker (if configured) and its watchdog. Returns the watchdog's verdict
/// (true while its last round trip came back), if one runs. With `security.enabled` the
/// broker's gate stands in front of it (credentials made if the default file is missing), and
/// refused publishes are kept in `data_dir/broker`.
pub fn start_broker(
    config: &MiloConfig,
    shutdown: &Shutdown,
    on_failure: impl FnOnce() + Send + 'static,
) -> Result<BrokerRun, ShopError> {
    let mut run = BrokerRun::default();
    if !config.broker.embedded {
        return Ok(run);
    }
    let mut mqtt = config.mqtt.clone();
    match config.credentials(true)? {
        Some(credentials) => {
            let tls = broker_tls(config)?;
            let watchdog = milo_bus::credentials::fresh_secret();
            let settings = GateSettings {
                credentials: Arc::new(credentials),
                anonymous: config.security.anonymous,
                watchdog: watchdog.clone(),
                dead_letters: Some((config.data_of(BROKER_PART), config.store.clone())),
                tls,
            };
            let (_, gate) =
                milo_broker::start_gated(&config.broker, config.mqtt.max_payload, settings)?;
            run.gate = Some(gate);
            mqtt.username = Some(policy::WATCHDOG.to_owned());
            mqtt.password = Some(watchdog);
            mqtt.tls = config.tls_client();
        }
        None => {
            milo_broker::start(&config.broker, config.mqtt.max_payload)?;
        }
    }
    if config.broker.watchdog_secs == 0 {
        return Ok(run);
    }
    mqtt.address = config.broker.listen.to_string();
    let every = Duration::from_secs(config.broker.watchdog_secs);
    let (healthy, verdict) = watch::channel(false);
    tokio::spawn(milo_broker::watchdog(
        mqtt,
        every,
        healthy,
        shutdown.clone(),
        on_failure,
    ));
    run.health = Some(verdict);
    Ok(run)
}

/// The broker's TLS settings when `security.tls` is on: the store's certificate and key (made
/// first when missing and every path is the default one, as the credentials file is).
fn broker_tls(config: &MiloConfig) -> Result<Option<Arc<rustls::ServerConfig>>, ShopError> {
    let s = &config.security;
    if !s.tls {
        return Ok(None);
    }
    let defaults = [&s.credentials, &s.tls_cert, &s.tls_key];
    if defaults.iter().all(|p| p.as_os_str().is_empty()) {
        s.ensure_tls(&config.data_dir)?;
    }
    let (cert, key) = s.tls_paths(&config.data_dir);
    let server = milo_bus::tls::server_config(&cert, &key).map_err(|e| {
        ConfigError::new(
            "security.tls_cert",
            format!("{e} (`milo credentials cert` makes the certificate and key)"),
        )
    })?;
    Ok(Some(server))
}

/// The embedded broker as started by [`start_broker`].
#[derive(Default)]
pub struct BrokerRun {
    /// The watchdog's verdict (true while its last round trip came back), if one runs.
    pub health: Option<watch::Receiver<bool>>,
    /// The gate in front of it, when security is on: its counters and refused publishes.
    pub gate: Option<Arc<Gate>>,
}

/// The whole store in one process.
pub struct Shop {
    /// Where the HTTP API listens.
    pub http: SocketAddr,
    /// Every running part.
    pub parts: Vec<Part>,
    /// The embedded broker's watchdog verdict, if it runs (see [`start_broker`]).
    pub broker_health: Option<watch::Receiver<bool>>,
    /// The broker's gate, when security is on.
    pub gate: Option<Arc<Gate>>,
    menu: Arc<Menu>,
    http_task: JoinHandle<()>,
}

impl Shop {
    /// Starts the broker (if embedded), every service, the barista device and the HTTP API.
    pub async fn start(
        config: &MiloConfig,
        display: Box<dyn Display>,
        shutdown: &ShutdownTrigger,
        on_broker_failure: impl FnOnce() + Send + 'static,
    ) -> Result<Shop, ShopError> {
        // Before any part counts anything.
        crate::metrics::install();
        let menu = Arc::new(config.menu()?);
        let sd = shutdown.subscribe();
        let broker = start_broker(config, &sd, on_broker_failure)?;
        let mut parts = Vec::new();
        for name in services(config) {
            parts.push(start_service(name, config, menu.clone(), &sd)?);
        }
        parts.push(start_device(config, menu.clone(), display, &sd)?);
        let mut checks: Vec<Check> = parts.iter().map(Check::part).collect();
        checks.extend(broker.health.clone().map(Check::broker));
        let router = parts
            .iter()
            .filter_map(|p| p.router.clone())
            .fold(crate::health::router(Health::new(checks)), Router::merge)
            .merge(crate::metrics::router(broker.gate.clone()))
            .merge(crate::web::router(config, &parts, &sd));
        let (http, http_task) = crate::http::serve(config.http.listen, router, &config.http, sd)
            .await
            .map_err(|error| ShopError::Http {
                addr: config.http.listen,
                error,
            })?;
        let mode = config.saga.mode.as_str();
        info!(mqtt = %config.mqtt.address, %http, saga = mode, "Milo is starting.");
        Ok(Shop {
            http,
            parts,
            broker_health: broker.health,
            gate: broker.gate,
            menu,
            http_task,
        })
    }

    /// Starts one more barista device, `station`, with `config`'s `[device]` settings
    /// otherwise and its display in memory (`milo bench --stations`).
    pub fn add_station(
        &mut self,
        config: &MiloConfig,
        station: &str,
        shutdown: &ShutdownTrigger,
    ) -> Result<(), ShopError> {
        let mut config = config.clone();
        config.device.station = station.to_owned();
        let display = Box::new(MemoryDisplay::default());
        let sd = shutdown.subscribe();
        let part = start_device(&config, self.menu.clone(), display, &sd)?;
        self.parts.push(part);
        Ok(())
    }

    /// The disk work of each part's store since it opened, by part name (add them up with
    /// `.values().copied().sum()`).
    pub fn store_stats(&self) -> BTreeMap<String, StoreStats> {
        let stats = self.parts.iter().map(|p| (p.name.clone(), p.store.stats()));
        stats.collect()
    }

    /// What every part's log holds: numbered events and their bytes ([`milo_bus::log::size`]).
    pub fn log_size(&self) -> (u64, u64) {
        let sizes = self
            .parts
            .iter()
            .filter_map(|p| milo_bus::log::size(&p.store).ok());
        sizes.fold((0, 0), |(e, b), (e2, b2)| (e + e2, b + b2))
    }

    /// Waits until every part is connected and subscribed; false if `limit` passed first.
    pub async fn wait_ready(&self, limit: Duration) -> bool {
        wait_ready(&self.parts, limit).await
    }

    /// The store of a part, by service name.
    pub fn store(&self, name: &str) -> Option<&Store> {
        self.parts.iter().find(|p| p.name == name).map(|p| &p.store)
    }

    /// Runs until `shutdown` fires or a part fails; then stops every part and waits for them.
    pub async fn run(self, shutdown: &ShutdownTrigger) -> Result<(), ShopError> {
        wait_parts(self.parts, shutdown).await?;
        let _ = self.http_task.await;
        Ok(())
    }
}

/// Waits until every part is connected and subscribed; false if `limit` passed first.
pub async fn wait_ready(parts: &[Part], limit: Duration) -> bool {
    let all = async {
        for p in parts {
            let mut r = p.ready.clone();
            if r.wait_for(|ready| *ready).await.is_err() {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(limit, all).await.unwrap_or(false)
}

/// Waits until `shutdown` or until one part ends (which stops the others); returns the
/// first failure.
pub async fn wait_parts(parts: Vec<Part>, shutdown: &ShutdownTrigger) -> Result<(), ShopError> {
    let mut set = tokio::task::JoinSet::new();
    for p in parts {
        let name = p.name;
        let task = p.task;
        set.spawn(async move { (name, task.await) });
    }
    let mut first = None;
    while let Some(done) = set.join_next().await {
        // Any part ending stops the rest: systemd (or the operator) restarts the process.
        shutdown.trigger();
        let Ok((part, result)) = done else { continue };
        let reason = match result {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        error!(%part, %reason, "Part stopped with an error.");
        first.get_or_insert(ShopError::PartFailed { part, reason });
    }
    first.map_or(Ok(()), Err)
}
