//! Milo's configuration, one typed struct per part, layered with the `config` crate:
//! built-in defaults (`config/milo.toml`) → `--config FILE` or `/etc/milo/milo.toml` →
//! `MILO_<SECTION>__<KEY>` environment. Unknown keys and bad values are refused with the key
//! named; the binary exits 78 (EX_CONFIG).
//!
//! # Layout
//! - [`MiloConfig`]: the whole configuration; [`load`] builds it; [`MiloConfig::validate`]
//!   checks what types cannot; [`MiloConfig::menu`] loads the menu.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Environment, File, FileFormat};
use milo_bus::{Credentials, MqttConfig, Secret, StoreConfig};
use milo_contracts::policy::Role;
use milo_contracts::Menu;
use serde::{Deserialize, Serialize};

/// The built-in defaults.
pub const DEFAULT_TOML: &str = include_str!("../milo.toml");
/// The built-in menu.
pub const DEFAULT_MENU: &str = include_str!("../menu.toml");
/// Where a Pi installation keeps its configuration.
pub const SYSTEM_PATH: &str = "/etc/milo/milo.toml";

/// A configuration error, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// The key (dotted path) or file at fault.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error about `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// HTTP settings (`[http]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address of the HTTP API: every route with `milo up`, the order service's alone
    /// with `milo service order`.
    pub listen: SocketAddr,
    /// Where `milo service analytics` serves its routes (its own process under systemd).
    pub analytics: SocketAddr,
    /// Where `milo service saga` serves its routes.
    pub saga: SocketAddr,
    /// Where `milo service payment` serves `/metrics`, `/healthz` and `/readyz`.
    pub payment: SocketAddr,
    /// Where `milo service inventory` serves them.
    pub inventory: SocketAddr,
    /// Where `milo service barista` serves them.
    pub barista: SocketAddr,
    /// Where `milo service notification` serves them.
    pub notification: SocketAddr,
    /// Where `milo broker` serves them (the broker's connections and messages).
    pub broker: SocketAddr,
    /// Where `milo barista` (a station's device) serves them; unset, it serves nothing (two
    /// stations on one board would want the same port: give each its own, or `--http`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station: Option<SocketAddr>,
    /// The time limit of every request, in ms: to send its head and body, and to be answered.
    pub request_timeout_ms: u64,
    /// Bearer tokens by name (one per POS, kiosk, operator): every request but GET and HEAD
    /// must carry one when any is set, or when the listener is not on loopback.
    #[serde(default)]
    pub tokens: BTreeMap<String, Secret>,
}

/// The shortest token accepted: a guessable one is no lock.
pub const MIN_TOKEN_LEN: usize = 16;

impl HttpConfig {
    /// Where `milo service <service>` (or `milo broker`, as `broker`) serves HTTP: each part
    /// its own address, the order service `listen`.
    pub fn of(&self, service: &str) -> SocketAddr {
        match service {
            "analytics" => self.analytics,
            "saga" => self.saga,
            "payment" => self.payment,
            "inventory" => self.inventory,
            "barista" => self.barista,
            "notification" => self.notification,
            "broker" => self.broker,
            _ => self.listen,
        }
    }

    /// The time limit of every request (`http.request_timeout_ms`).
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// How long a handler waits for a service's answer: nine tenths of the request limit, so
    /// that its own answer (which names the order) goes out before the server's generic 504.
    pub fn answer_within(&self) -> Duration {
        self.request_timeout() * 9 / 10
    }

    /// Refuses `addr` (set by `key`) if it is beyond loopback while no token is configured:
    /// anyone on the café's network could then place and cancel orders.
    pub fn check_exposure(&self, key: &str, addr: SocketAddr) -> Result<(), ConfigError> {
        if addr.ip().is_loopback() || !self.tokens.is_empty() {
            return Ok(());
        }
        let why = format!(
            "{addr} is reachable beyond loopback but [http.tokens] is empty: set a token per \
             POS or kiosk (e.g. pos-1 = \"...\"), or listen on 127.0.0.1"
        );
        Err(ConfigError::new(key, why))
    }

    /// Checks the limit and the tokens: names, length, no two alike.
    fn check(&self) -> Result<(), ConfigError> {
        if !(100..=600_000).contains(&self.request_timeout_ms) {
            let why = "must be between 100 ms and 600000 ms (10 minutes)";
            return Err(ConfigError::new("http.request_timeout_ms", why));
        }
        for (i, (name, token)) in self.tokens.iter().enumerate() {
            let key = format!("http.tokens.{name}");
            let name_ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !name_ok {
                return Err(ConfigError::new(
                    key,
                    "names: letters, digits, - and _ only",
                ));
            }
            let t = token.expose();
            if t.len() < MIN_TOKEN_LEN || !t.bytes().all(|b| b.is_ascii_graphic()) {
                let why = format!(
                    "a token is at least {MIN_TOKEN_LEN} visible ASCII characters, no spaces \
                     (e.g. `openssl rand -hex 24`)"
                );
                return Err(ConfigError::new(key, why));
            }
            let twin = self
                .tokens
                .iter()
                .skip(i + 1)
                .find(|(_, o)| o.expose() == t);
            if let Some((other, _)) = twin {
                let why = format!("same token as http.tokens.{other}: one token per device");
                return Err(ConfigError::new(key, why));
            }
        }
        self.check_exposure("http.listen", self.listen)
    }

    /// The first two keys that name the same address (port 0, "any free port", never clashes).
    fn clash(&self) -> Option<(&'static str, &'static str)> {
        let keys = [
            ("http.listen", self.listen),
            ("http.analytics", self.analytics),
            ("http.saga", self.saga),
            ("http.payment", self.payment),
            ("http.inventory", self.inventory),
            ("http.barista", self.barista),
            ("http.notification", self.notification),
            ("http.broker", self.broker),
        ];
        let station = self.station.map(|s| ("http.station", s));
        let keys: Vec<_> = keys.into_iter().chain(station).collect();
        keys.iter().enumerate().find_map(|(i, (a, x))| {
            keys[i + 1..]
                .iter()
                .find(|(_, y)| x.port() != 0 && x == y)
                .map(|(b, _)| (*b, *a))
        })
    }
}

/// Who may connect to the embedded broker and say what (`[security]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// Put the gate in front of the embedded broker: every client needs a credential (or is an
    /// anonymous observer, see `anonymous`), client ids belong to their part, and each topic
    /// and event type only from the part allowed to say it (`milo_contracts::policy`).
    pub enabled: bool,
    /// The credentials file; empty means `data_dir/credentials.toml`, which `milo up` makes
    /// (mode 0640) the first time it starts without one.
    pub credentials: PathBuf,
    /// Admit clients without a credential as read-only observers (`mosquitto_sub -t '#'`).
    /// Refused by `milo config validate` when the broker listens beyond loopback.
    pub anonymous: bool,
    /// Stations given a credential when the file is made (besides `device.station`).
    pub stations: Vec<String>,
    /// POS terminals (and kiosks) given a credential when the file is made (besides
    /// `pos.terminal`).
    pub terminals: Vec<String>,
    /// TLS on the broker's listener: the embedded broker's gate speaks only TLS, with the
    /// store's certificate, and every part connects with TLS trusting that certificate alone.
    pub tls: bool,
    /// The store's certificate (PEM); empty means `tls-cert.pem` beside the credentials file.
    /// Made with the key (mode 0644 and 0640) by `milo credentials init` / `milo credentials
    /// cert`, or by `milo up` when both paths are the defaults. A part on another board needs
    /// a copy of it.
    pub tls_cert: PathBuf,
    /// The broker's private key (PEM); empty means `tls-key.pem` beside the credentials file.
    /// Only the store server needs it.
    pub tls_key: PathBuf,
    /// Names the certificate carries besides `localhost`, `127.0.0.1`, `::1` and the host
    /// name (and `<host>.local`): DNS names or IP addresses, for tools that check the name
    /// (`mosquitto_sub --cafile`). Milo's own parts pin the certificate and need none.
    pub tls_names: Vec<String>,
}

impl SecurityConfig {
    /// Where the credentials file is.
    pub fn credentials_path(&self, data_dir: &Path) -> PathBuf {
        if self.credentials.as_os_str().is_empty() {
            data_dir.join("credentials.toml")
        } else {
            self.credentials.clone()
        }
    }

    /// Where the store's certificate and key are.
    pub fn tls_paths(&self, data_dir: &Path) -> (PathBuf, PathBuf) {
        let credentials = self.credentials_path(data_dir);
        let dir = credentials.parent().unwrap_or(Path::new("."));
        let or = |p: &PathBuf, name: &str| {
            if p.as_os_str().is_empty() {
                dir.join(name)
            } else {
                p.clone()
            }
        };
        (
            or(&self.tls_cert, "tls-cert.pem"),
            or(&self.tls_key, "tls-key.pem"),
        )
    }

    /// Makes the store's certificate and key unless both exist; true when made.
    pub fn ensure_tls(&self, data_dir: &Path) -> Result<bool, ConfigError> {
        let (cert, key) = self.tls_paths(data_dir);
        let made = milo_bus::tls::ensure_certificate(&cert, &key, &self.tls_names)
            .map_err(|e| ConfigError::new("security.tls_cert", e.to_string()))?;
        if made == milo_bus::tls::Made::Made {
            tracing::info!(cert = %cert.display(), key = %key.display(), "Made the store's TLS certificate.");
        }
        Ok(made == milo_bus::tls::Made::Made)
    }
}

/// The shop itself (`[shop]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopConfig {
    /// The shop's time zone, an IANA name (`Europe/London`): the day each figure of
    /// `GET /analytics/summary` belongs to. Read from the system's tzdb (`/usr/share/zoneinfo`,
    /// Debian's tzdata); `UTC` needs none.
    pub timezone: String,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MiloConfig {
    /// Parent of every part's database directory.
    pub data_dir: PathBuf,
    /// Menu file; empty for the built-in menu.
    pub menu: PathBuf,
    /// The shop: its time zone.
    pub shop: ShopConfig,
    /// How parts reach the broker.
    pub mqtt: MqttConfig,
    /// The embedded broker.
    pub broker: milo_broker::BrokerConfig,
    /// Credentials and authority at the broker's gate.
    pub security: SecurityConfig,
    /// The HTTP API.
    pub http: HttpConfig,
    /// Every part's store.
    pub store: StoreConfig,
    /// Order service.
    pub order: milo_order::Config,
    /// Payment service and its simulated gateway.
    pub payment: milo_payment::Config,
    /// Inventory service.
    pub inventory: milo_inventory::Config,
    /// Notification service.
    pub notification: milo_notification::Config,
    /// Barista service: routing to stations, estimates, ticket ageing.
    pub barista: milo_barista::Config,
    /// Saga style and the coordinator's timeouts.
    pub saga: milo_saga::Config,
    /// Barista device.
    pub device: milo_barista_device::Config,
    /// POS terminal.
    pub pos: milo_pos::Config,
    /// How log lines are written.
    pub log: LogConfig,
}

/// How log lines are written (`[log]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `auto`: for the journal when stderr is systemd's journal stream (`JOURNAL_STREAM`),
    /// else text; `text`: a time, the level and the message; `journal`: a syslog priority
    /// prefix (`<4>` for a warning) and no time (the journal keeps its own); `json`: one JSON
    /// object per line (with the priority prefix when stderr is the journal).
    pub format: LogFormat,
}

/// A log line format (`log.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// The journal's under systemd, text otherwise.
    Auto,
    /// Time, level, message.
    Text,
    /// Priority prefix, no time.
    Journal,
    /// JSON lines.
    Json,
}

/// Loads the configuration: defaults, then `file` (or `/etc/milo/milo.toml` if present), then
/// `MILO_…` environment variables.
pub fn load(file: Option<&Path>) -> Result<MiloConfig, ConfigError> {
    let mut builder =
        config::Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
    match file {
        Some(path) => {
            if !path.is_file() {
                return Err(ConfigError::new(path.display().to_string(), "no such file"));
            }
            builder = builder.add_source(File::from(path).format(FileFormat::Toml));
        }
        None if Path::new(SYSTEM_PATH).is_file() => {
            builder = builder.add_source(File::with_name(SYSTEM_PATH).format(FileFormat::Toml));
        }
        None => {}
    }
    builder = builder.add_source(
        Environment::with_prefix("MILO")
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true),
    );
    let layered = builder
        .build()
        .map_err(|e| ConfigError::new("config", e.to_string()))?;
    let config: MiloConfig = serde_path_to_error::deserialize(layered).map_err(|e| {
        let key = e.path().to_string();
        ConfigError::new(
            if key == "." { "config".into() } else { key },
            e.into_inner().to_string(),
        )
    })?;
    config.validate()?;
    Ok(config)
}

impl MiloConfig {
    /// Checks what the types cannot: ranges and relations between keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let check = |ok: bool, key: &str, msg: &str| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::new(key, msg))
            }
        };
        check(
            self.mqtt.keep_alive_secs >= 1,
            "mqtt.keep_alive_secs",
            "must be at least 1 (rumqttd refuses 0)",
        )?;
        check(
            self.mqtt.host_port().is_ok(),
            "mqtt.address",
            "expected host:port",
        )?;
        check(
            self.store.log_days >= 1,
            "store.log_days",
            "must be at least 1: a consumer away for a while asks for what it missed",
        )?;
        check(
            self.store.log_mb >= 1,
            "store.log_mb",
            "must be at least 1 (megabytes of events kept per part)",
        )?;
        check(
            (512..=16 << 20).contains(&self.mqtt.max_payload),
            "mqtt.max_payload",
            "must be between 512 bytes and 16 MiB",
        )?;
        check(
            (1..=4096).contains(&self.mqtt.window),
            "mqtt.window",
            "must be between 1 and 4096",
        )?;
        check(
            !(self.broker.embedded
                && self.security.anonymous
                && !self.broker.listen.ip().is_loopback()),
            "security.anonymous",
            "must be false when broker.listen is beyond loopback: anyone on the network could read every order",
        )?;
        check(
            !(self.broker.embedded
                && !self.security.enabled
                && !self.broker.listen.ip().is_loopback()),
            "security.enabled",
            "must be true when broker.listen is beyond loopback: anyone on the network could fake a payment",
        )?;
        check(
            !self.security.tls || self.security.enabled,
            "security.tls",
            "needs security.enabled: TLS is the gate's (every part connects with its credential)",
        )?;
        for (i, n) in self.security.tls_names.iter().enumerate() {
            milo_bus::tls::valid_name(n)
                .map_err(|e| ConfigError::new(format!("security.tls_names[{i}]"), e.to_string()))?;
        }
        check(
            self.broker.users.is_empty() || !self.security.enabled,
            "broker.users",
            "not used when security.enabled: every part has its own credential in security.credentials",
        )?;
        if let Some((key, other)) = self.http.clash() {
            let why = format!("same address as {other}: each service serves its own under systemd");
            return Err(ConfigError::new(key, why));
        }
        self.http.check()?;
        check(
            self.broker.max_connections >= 8,
            "broker.max_connections",
            "must be at least 8",
        )?;
        check(
            self.broker.segment_bytes >= 4096,
            "broker.segment_bytes",
            "must be at least 4096",
        )?;
        check(
            self.broker.segment_count >= 2,
            "broker.segment_count",
            "must be at least 2",
        )?;
        let rate = self.payment.success_rate;
        check(
            (0.0..=1.0).contains(&rate),
            "payment.success_rate",
            "must be between 0.0 and 1.0",
        )?;
        check(
            (0.0..=1.0).contains(&self.payment.hang_rate),
            "payment.hang_rate",
            "must be between 0.0 and 1.0",
        )?;
        check(
            (0.0..=1.0).contains(&self.device.fault_rate),
            "device.fault_rate",
            "must be between 0.0 and 1.0",
        )?;
        check(
            self.inventory.max_restock >= 1,
            "inventory.max_restock",
            "must be at least 1",
        )?;
        for (key, units) in [
            ("device.water_ml", self.device.water_ml),
            ("device.beans_g", self.device.beans_g),
            ("device.milk_ml", self.device.milk_ml),
            ("device.telemetry_secs", self.device.telemetry_secs),
        ] {
            check(units >= 1, key, "must be at least 1")?;
        }
        for (key, secs) in [
            ("device.refill_secs", self.device.refill_secs),
            ("device.warmup_secs", self.device.warmup_secs),
        ] {
            check(
                secs >= 0.0 && secs.is_finite(),
                key,
                "must be 0 or more seconds",
            )?;
        }
        if let Err((key, why)) = self.payment.check() {
            return Err(ConfigError::new(format!("payment.{key}"), why));
        }
        let (lo, hi) = (self.payment.min_latency_ms, self.payment.max_latency_ms);
        check(
            lo <= hi,
            "payment.max_latency_ms",
            "must not be below payment.min_latency_ms",
        )?;
        check(
            self.device.speed >= 0.0 && self.device.speed.is_finite(),
            "device.speed",
            "must be 0 or more",
        )?;
        let station_ok = !self.device.station.is_empty()
            && self
                .device
                .station
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        check(
            station_ok,
            "device.station",
            "letters, digits, - and _ only",
        )?;
        for (key, retry) in [
            ("order.retry", &self.order.retry),
            ("saga.retry", &self.saga.retry),
        ] {
            check(
                retry.attempts >= 1,
                &format!("{key}.attempts"),
                "must be at least 1",
            )?;
            check(
                retry.first_ms >= 1 && retry.first_ms <= retry.max_ms,
                &format!("{key}.first_ms"),
                "must be at least 1 and not above max_ms",
            )?;
            check(
                (0.0..=1.0).contains(&retry.jitter),
                &format!("{key}.jitter"),
                "must be between 0.0 and 1.0",
            )?;
        }
        check(
            self.notification.board_size >= 1,
            "notification.board_size",
            "must be at least 1",
        )?;
        check(
            self.barista.warn_secs >= 1 && self.barista.warn_secs <= self.barista.late_secs,
            "barista.warn_secs",
            "must be at least 1 and not above barista.late_secs",
        )?;
        check(
            self.barista.speed.is_none_or(|s| s >= 0.0 && s.is_finite()),
            "barista.speed",
            "must be 0 or more",
        )?;
        check(
            self.barista.tick_ms >= 10,
            "barista.tick_ms",
            "must be at least 10",
        )?;
        check(
            self.inventory.availability_ms >= 10,
            "inventory.availability_ms",
            "must be at least 10",
        )?;
        check(
            self.inventory.republish_secs >= 1,
            "inventory.republish_secs",
            "must be at least 1",
        )?;
        check(
            self.notification.pickup_timeout_secs >= 1,
            "notification.pickup_timeout_secs",
            "must be at least 1",
        )?;
        check(
            self.notification.board_ms >= 10,
            "notification.board_ms",
            "must be at least 10",
        )?;
        let terminal = &self.pos.terminal;
        check(
            (1..=64).contains(&terminal.len())
                && terminal
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "pos.terminal",
            "1 to 64 letters, digits, - and _",
        )?;
        check(
            self.pos.resend_secs >= 1,
            "pos.resend_secs",
            "must be at least 1",
        )?;
        self.zone()?;
        let menu = self.menu()?;
        for ing in self.inventory.low_stock.keys() {
            check(
                menu.ingredients.contains_key(ing),
                &format!("inventory.low_stock.{ing}"),
                "not an ingredient of the menu",
            )?;
        }
        Ok(())
    }

    /// The shop's time zone (`shop.timezone`), from the system's tzdb.
    pub fn zone(&self) -> Result<milo_analytics::Zone, ConfigError> {
        milo_analytics::Zone::named(&self.shop.timezone)
            .map_err(|e| ConfigError::new("shop.timezone", e.to_string()))
    }

    /// The menu: the configured file, or the built-in one.
    pub fn menu(&self) -> Result<Menu, ConfigError> {
        if self.menu.as_os_str().is_empty() {
            return Menu::from_toml(DEFAULT_MENU)
                .map_err(|e| ConfigError::new("menu", e.to_string()));
        }
        let text = std::fs::read_to_string(&self.menu)
            .map_err(|e| ConfigError::new("menu", format!("{}: {e}", self.menu.display())))?;
        Menu::from_toml(&text)
            .map_err(|e| ConfigError::new("menu", format!("{}: {e}", self.menu.display())))
    }

    /// This configuration made self-contained for a test or a bench: data under `data_dir`,
    /// the embedded broker on a free loopback port, HTTP on any free loopback port, every
    /// simulated delay at zero and the display off.
    pub fn isolated(mut self, data_dir: &Path) -> std::io::Result<MiloConfig> {
        let port = free_loopback_port()?;
        self.data_dir = data_dir.to_owned();
        self.broker.embedded = true;
        self.broker.listen = ([127, 0, 0, 1], port).into();
        self.mqtt.address = format!("127.0.0.1:{port}");
        self.http.listen = ([127, 0, 0, 1], 0).into();
        self.http.analytics = ([127, 0, 0, 1], 0).into();
        self.http.saga = ([127, 0, 0, 1], 0).into();
        for addr in [
            &mut self.http.payment,
            &mut self.http.inventory,
            &mut self.http.barista,
            &mut self.http.notification,
            &mut self.http.broker,
        ] {
            *addr = ([127, 0, 0, 1], 0).into();
        }
        self.payment.min_latency_ms = 0;
        self.payment.max_latency_ms = 0;
        // The bar's model follows it (barista.speed unset).
        self.device.speed = 0.0;
        self.device.display = false;
        Ok(self)
    }

    /// The store's credentials when security is on (`None` when off). With `create`, the
    /// default file (`data_dir/credentials.toml`) is made if missing, with every service, the
    /// operator and `security.stations` / `security.terminals`; a configured file is never
    /// made (`milo credentials init` does that).
    pub fn credentials(&self, create: bool) -> Result<Option<Credentials>, ConfigError> {
        if !self.security.enabled {
            return Ok(None);
        }
        let path = self.security.credentials_path(&self.data_dir);
        let err =
            |e: milo_bus::CredentialsError| ConfigError::new("security.credentials", e.to_string());
        if create && self.security.credentials.as_os_str().is_empty() {
            let mut stations = self.security.stations.clone();
            let mut terminals = self.security.terminals.clone();
            for (list, own) in [
                (&mut stations, &self.device.station),
                (&mut terminals, &self.pos.terminal),
            ] {
                if !list.contains(own) {
                    list.push(own.clone());
                }
            }
            let (c, made) =
                Credentials::load_or_create(&path, &stations, &terminals).map_err(err)?;
            if made {
                tracing::info!(path = %path.display(), "Made the store's credentials.");
            }
            return Ok(Some(c));
        }
        Credentials::load(&path).map(Some).map_err(err)
    }

    /// `mqtt` for the part `name` of `role`: its own username and password when security is
    /// on, else `mqtt` as configured.
    pub fn mqtt_as(&self, name: &str, role: Role) -> Result<MqttConfig, ConfigError> {
        let mut mqtt = match self.credentials(false)? {
            Some(c) => c
                .mqtt_for(&self.mqtt, name, role)
                .map_err(|e| ConfigError::new("security.credentials", e.to_string()))?,
            None => self.mqtt.clone(),
        };
        mqtt.tls = self.tls_client();
        Ok(mqtt)
    }

    /// The certificate a part trusts when the broker speaks TLS (`security.tls`), else `None`.
    pub fn tls_client(&self) -> Option<PathBuf> {
        (self.security.enabled && self.security.tls)
            .then(|| self.security.tls_paths(&self.data_dir).0)
    }

    /// Data directory of one part.
    pub fn data_of(&self, part: &str) -> PathBuf {
        self.data_dir.join(part)
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}

/// A free loopback TCP port (bound, read back, released).
pub fn free_loopback_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn the_default_credentials_file_is_made_once_with_this_stores_parts() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = load(Some(write("").path())).unwrap();
        c.data_dir = dir.path().to_owned();
        c.device.station = "bar-7".into();
        let made = c.credentials(true).unwrap().unwrap();
        let path = dir.path().join("credentials.toml");
        assert!(path.is_file());
        for name in [
            "order", "payment", "saga", "operator", "bar-1", "bar-7", "pos",
        ] {
            assert!(made.identity(name).is_some(), "{name}");
        }
        let again = c.credentials(true).unwrap().unwrap();
        assert_eq!(again.secret("payment"), made.secret("payment"));
        let mqtt = c.mqtt_as("payment", Role::Service).unwrap();
        assert_eq!(mqtt.username.as_deref(), Some("payment"));
        // A configured file is never made: a missing one is an error naming the key.
        c.security.credentials = dir.path().join("elsewhere.toml");
        let err = c.credentials(true).unwrap_err();
        assert_eq!(err.key, "security.credentials");
        c.security.enabled = false;
        assert!(c.credentials(true).unwrap().is_none());
        assert_eq!(c.mqtt_as("payment", Role::Service).unwrap(), c.mqtt);
    }

    #[test]
    fn an_open_broker_needs_the_gate_and_no_anonymous_clients() {
        let mut c = load(Some(write("").path())).unwrap();
        c.broker.listen = "0.0.0.0:1883".parse().unwrap();
        assert_eq!(c.validate().unwrap_err().key, "security.anonymous");
        c.security.anonymous = false;
        c.validate().unwrap();
        c.security.enabled = false;
        assert_eq!(c.validate().unwrap_err().key, "security.enabled");
    }

    #[test]
    fn defaults_load_and_validate() {
        let c = load(Some(write("").path())).unwrap();
        assert_eq!(c.mqtt.address, "127.0.0.1:1883");
        assert!(c.broker.embedded);
        assert!(c.menu().unwrap().items.contains_key("latte"));
        assert_eq!(
            c.barista.speed, None,
            "the bar's model follows device.speed"
        );
    }

    #[test]
    fn unknown_and_bad_keys_are_named() {
        let err = load(Some(write("[broker]\nlisten_port = 3\n").path())).unwrap_err();
        assert!(err.to_string().contains("broker"), "{err}");
        assert!(err.to_string().contains("listen_port"), "{err}");
        let err = load(Some(write("[payment]\nsuccess_rate = 2.0\n").path())).unwrap_err();
        assert_eq!(err.key, "payment.success_rate");
        let err = load(Some(write("[payment]\noutages = [\"10:00-9\"]\n").path())).unwrap_err();
        assert_eq!(err.key, "payment.outages[0]", "{err}");
        let err = load(Some(write("[payment.breaker]\nfailures = 0\n").path())).unwrap_err();
        assert_eq!(err.key, "payment.breaker.failures", "{err}");
        let err = load(Some(write("[payment.breaker]\nopen_after = 3\n").path())).unwrap_err();
        assert!(err.to_string().contains("open_after"), "{err}");
        let err = load(Some(write("[payment]\nwhen_offline = \"pray\"\n").path())).unwrap_err();
        assert_eq!(err.key, "payment.when_offline", "{err}");
        let queue =
            "[payment]\nwhen_offline = \"queue\"\n[payment.offline]\nper_order_limit_cents = 900\n";
        let c = load(Some(write(queue).path())).unwrap();
        assert_eq!(
            c.payment.when_offline,
            milo_contracts::payments::WhenOffline::Queue
        );
        assert_eq!(c.payment.offline.per_order_limit_cents, 900);
        assert_eq!(
            c.payment.offline.exposure_limit_cents, 20_000,
            "the default"
        );
        for (bad, key) in [
            ("per_order_limit_cents = 0", "per_order_limit_cents"),
            ("exposure_limit_cents = 0", "exposure_limit_cents"),
            ("per_order_limit_cents = 30000", "per_order_limit_cents"),
        ] {
            let err = load(Some(write(&format!("[payment.offline]\n{bad}\n")).path())).unwrap_err();
            assert_eq!(err.key, format!("payment.offline.{key}"), "{err}");
        }
        let err = load(Some(write("[payment.offline]\nlimit = 3\n").path())).unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
        let c = load(Some(
            write("[payment]\noutages = [\"23:50-00:10\"]\n").path(),
        ))
        .unwrap();
        assert_eq!(c.payment.outages, ["23:50-00:10"]);
        let err = load(Some(write("[mqtt]\nkeep_alive_secs = \"soon\"\n").path())).unwrap_err();
        assert_eq!(err.key, "mqtt.keep_alive_secs", "{err}");
    }

    #[test]
    fn the_shops_time_zone_is_an_iana_name_of_the_system_tzdb() {
        let c = load(Some(write("").path())).unwrap();
        assert_eq!(c.zone().unwrap().name(), "UTC");
        let london = "[shop]\ntimezone = \"Europe/London\"\n";
        let c = load(Some(write(london).path())).unwrap();
        assert_eq!(c.zone().unwrap().name(), "Europe/London");
        let err = load(Some(
            write("[shop]\ntimezone = \"Europe/Atlantis\"\n").path(),
        ))
        .unwrap_err();
        assert_eq!(err.key, "shop.timezone", "{err}");
        assert!(err.message.contains("Europe/Atlantis"), "{err}");
        let err = load(Some(write("[shop]\nzone = \"UTC\"\n").path())).unwrap_err();
        assert!(err.to_string().contains("zone"), "{err}");
    }

    #[test]
    fn each_http_service_has_its_own_address() {
        let c = load(Some(write("").path())).unwrap();
        assert_eq!(c.http.of("order"), c.http.listen);
        assert_eq!(c.http.of("analytics").port(), 8081);
        assert_eq!(c.http.of("saga").port(), 8082);
        let ports: Vec<u16> = ["payment", "inventory", "barista", "notification", "broker"]
            .iter()
            .map(|p| c.http.of(p).port())
            .collect();
        assert_eq!(ports, [8083, 8084, 8085, 8086, 8087]);
        assert_eq!(c.http.station, None);
        let err = load(Some(write("[http]\nbroker = \"127.0.0.1:8083\"\n").path())).unwrap_err();
        assert_eq!(err.key, "http.broker", "{err}");
        let err = load(Some(write("[http]\nstation = \"127.0.0.1:8080\"\n").path())).unwrap_err();
        assert_eq!(err.key, "http.station", "{err}");
        let err = load(Some(write("[http]\nanalytics = \"nope\"\n").path())).unwrap_err();
        assert_eq!(err.key, "http.analytics", "{err}");
        let err = load(Some(write("[http]\nsaga = \"127.0.0.1:8081\"\n").path())).unwrap_err();
        assert_eq!(err.key, "http.saga", "{err}");
        assert!(err.message.contains("http.analytics"), "{err}");
    }

    #[test]
    fn http_beyond_loopback_needs_tokens() {
        let open = "[http]\nlisten = \"0.0.0.0:8080\"\n";
        let err = load(Some(write(open).path())).unwrap_err();
        assert_eq!(err.key, "http.listen", "{err}");
        assert!(err.message.contains("http.tokens"), "{err}");
        let token = "[http.tokens]\npos-1 = \"0123456789abcdef0123\"\n";
        let c = load(Some(write(&format!("{open}{token}")).path())).unwrap();
        assert_eq!(c.http.tokens.len(), 1);
        assert!(!format!("{c:?}").contains("0123456789abcdef0123"));
        assert!(!c.to_toml().contains("0123456789abcdef0123"));
        let short = "[http.tokens]\npos-1 = \"short\"\n";
        let err = load(Some(write(short).path())).unwrap_err();
        assert_eq!(err.key, "http.tokens.pos-1", "{err}");
        assert!(!err.to_string().contains("short"), "{err}");
        let twins = format!("{token}kiosk-1 = \"0123456789abcdef0123\"\n");
        let err = load(Some(write(&twins).path())).unwrap_err();
        assert!(err.key.starts_with("http.tokens."), "{err}");
        let err = load(Some(write("[http]\nrequest_timeout_ms = 0\n").path())).unwrap_err();
        assert_eq!(err.key, "http.request_timeout_ms", "{err}");
    }

    #[test]
    fn secrets_are_redacted_in_print() {
        let c = load(Some(
            write("[mqtt]\nusername = \"pos\"\npassword = \"hunter2\"\n").path(),
        ))
        .unwrap();
        assert_eq!(c.mqtt.password.as_ref().unwrap().expose(), "hunter2");
        assert!(!c.to_toml().contains("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
