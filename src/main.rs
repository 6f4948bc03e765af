//! `milo`: parses arguments, loads configuration, wires signals and runs a part of the store.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

mod args;
mod cmd;
use args::{Cli, Command, ConfigCommand, Where};
use milo::bench::{self, BenchOptions, Until};
use milo::shop::{self, Shop, ShopError};
use milo::systemd::{self, Check, Supervisor};
use milo::MiloConfig;
use milo_barista_device::{Display, MemoryDisplay, TerminalDisplay};
use milo_broker::gate::Gate;
use milo_bus::ShutdownTrigger;
use milo_contracts::SagaMode;

/// Exit code for bad configuration (sysexits EX_CONFIG).
const EX_CONFIG: u8 = 78;
/// Exit code when the broker watchdog gives up (sysexits EX_SOFTWARE).
const EX_SOFTWARE: i32 = 70;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(
        cli.command,
        Command::Pos { .. }
            | Command::Inventory { .. }
            | Command::Payments { .. }
            | Command::Barista {
                command: Some(_),
                ..
            }
            | Command::Bench { .. }
            | Command::Trace(_)
            | Command::Replay(_)
            | Command::Tail(_)
            | Command::Config { .. }
            | Command::Chaos { .. }
    );
    let config = match milo::load_config(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("milo: invalid configuration: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    // rumqttd logs every ordinary disconnect as an ERROR: off unless RUST_LOG asks for it.
    // A replay re-runs handlers: what they would log (a stock alert of the past) is not news.
    let default = if matches!(cli.command, Command::Replay(_)) {
        "error,rumqttd=off"
    } else if quiet {
        "warn,rumqttd=off"
    } else {
        "info,rumqttd=off,sled=warn"
    };
    milo::logging::init(config.log.format, default);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("milo: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let systemd = systemd::Settings::from_env();
    match runtime.block_on(dispatch(cli.command, config, systemd)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("milo: {e:#}");
            let config_error = e
                .downcast_ref::<ShopError>()
                .is_some_and(|e| matches!(e, ShopError::Config(_)));
            ExitCode::from(if config_error { EX_CONFIG } else { 1 })
        }
    }
}

/// Applies `--data-dir`, `--mqtt` and `--http`.
fn place(mut config: MiloConfig, at: Where) -> anyhow::Result<MiloConfig> {
    if let Some(d) = at.data_dir {
        config.data_dir = d;
    }
    if let Some(m) = at.mqtt {
        if config.broker.embedded {
            config.broker.listen = m
                .parse()
                .with_context(|| format!("--mqtt {m:?}: expected ip:port"))?;
        }
        config.mqtt.address = m;
    }
    if let Some(h) = at.http {
        // As `milo config validate` does for http.listen: no open door to the café's network.
        config
            .http
            .check_exposure("--http", h)
            .map_err(ShopError::Config)?;
        config.http.listen = h;
    }
    Ok(config)
}

/// A shutdown that fires on Ctrl-C or SIGTERM.
pub(crate) fn signals() -> anyhow::Result<ShutdownTrigger> {
    let (trigger, _) = ShutdownTrigger::new();
    let t = trigger.clone();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("Shutting down.");
        t.trigger();
    });
    Ok(trigger)
}

/// The station's display: on standard output, or kept in memory with `device.display = false`
/// (a journal needs no drawing).
fn display(config: &MiloConfig) -> Box<dyn Display> {
    if config.device.display {
        Box::new(TerminalDisplay::default())
    } else {
        Box::new(MemoryDisplay::default())
    }
}

/// `milo up`'s station display: off (kept in memory) unless `--display` asks for it on an
/// interactive terminal, where it is pinned above the log.
fn up_display(wanted: bool) -> Box<dyn Display> {
    if wanted {
        if let Some(d) = TerminalDisplay::pinned() {
            return Box::new(d);
        }
        tracing::warn!("--display needs an interactive terminal: the display stays off.");
    }
    Box::new(MemoryDisplay::default())
}

/// What a part run alone serves over HTTP: its own routes (if any), `/healthz` and `/readyz`
/// over its checks, and `/metrics`.
struct Routes(axum::Router);

impl Routes {
    fn new(own: Option<axum::Router>, checks: Vec<Check>, gate: Option<Arc<Gate>>) -> Routes {
        let health = milo::health::router(milo::health::Health::new(checks));
        let router = own.unwrap_or_default().merge(health);
        Routes(router.merge(milo::metrics::router(gate)))
    }

    /// Serves them on `listen` until shutdown; the task ends once the server has.
    async fn serve(
        self,
        name: &str,
        listen: std::net::SocketAddr,
        config: &MiloConfig,
        trigger: &ShutdownTrigger,
    ) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let (addr, task) = milo::http::serve(listen, self.0, &config.http, trigger.subscribe())
            .await
            .with_context(|| format!("cannot serve HTTP on {listen}"))?;
        println!("{name}: HTTP on http://{addr}");
        Ok(task)
    }
}

fn broker_failed() {
    std::process::exit(EX_SOFTWARE);
}

async fn dispatch(
    command: Command,
    config: MiloConfig,
    systemd: systemd::Settings,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Up(up) => {
            let config = place(config, up.at)?;
            let trigger = signals()?;
            let shop =
                Shop::start(&config, up_display(up.display), &trigger, broker_failed).await?;
            if cmd::up::wait_open(&shop, &trigger).await {
                println!("{}", cmd::up::open_banner(&config, shop.http));
            }
            let mut checks: Vec<Check> = shop.parts.iter().map(Check::part).collect();
            checks.extend(shop.broker_health.clone().map(Check::broker));
            let open = format!(
                "open: MQTT on {}, HTTP on {}",
                config.mqtt.address, shop.http
            );
            let supervisor = Supervisor::start(&systemd, checks, open, &trigger);
            let result = shop.run(&trigger).await;
            supervisor.stopped().await;
            result?;
        }
        Command::Broker(at) => {
            let at_http = at.http;
            let mut config = place(config, at)?;
            config.broker.embedded = true;
            let trigger = signals()?;
            milo::metrics::install();
            let broker = shop::start_broker(&config, &trigger.subscribe(), broker_failed)?;
            println!("Milo broker listening on {}", config.broker.listen);
            let listening = format!("listening on {}", config.broker.listen);
            let checks: Vec<Check> = broker.health.map(Check::broker).into_iter().collect();
            let listen = at_http.unwrap_or(config.http.broker);
            let routes = Routes::new(None, checks.clone(), broker.gate);
            let server = routes.serve("broker", listen, &config, &trigger).await?;
            let supervisor = Supervisor::start(&systemd, checks, listening, &trigger);
            trigger.subscribe().wait().await;
            supervisor.stopped().await;
            let _ = server.await;
        }
        Command::Service { name, at } => {
            let http = at.http;
            let config = place(config, at)?;
            let trigger = signals()?;
            let menu = Arc::new(config.menu()?);
            milo::metrics::install();
            let part = shop::start_service(&name, &config, menu, &trigger.subscribe())?;
            // Each part its own address: under systemd they run side by side.
            let listen = http.unwrap_or_else(|| config.http.of(&name));
            let routes = Routes::new(part.router.clone(), vec![Check::part(&part)], None);
            let server = routes.serve(&name, listen, &config, &trigger).await?;
            let connected = format!("{name} connected to {}", config.mqtt.address);
            let supervisor =
                Supervisor::start(&systemd, vec![Check::part(&part)], connected, &trigger);
            let result = shop::wait_parts(vec![part], &trigger).await;
            supervisor.stopped().await;
            result?;
            let _ = server.await;
        }
        Command::Barista {
            station,
            at,
            command: Some(command),
        } => return cmd::barista::run(command, station, at.mqtt, config).await,
        Command::Barista {
            station,
            at,
            command: None,
        } => {
            let at_http = at.http;
            let mut config = place(config, at)?;
            if let Some(s) = station {
                config.device.station = s;
                config.validate()?;
            }
            let trigger = signals()?;
            let menu = Arc::new(config.menu()?);
            let display = display(&config);
            milo::metrics::install();
            let part = shop::start_device(&config, menu, display, &trigger.subscribe())?;
            // A station serves HTTP only where told: two on one board would share a default.
            let mut server = None;
            if let Some(listen) = at_http.or(config.http.station) {
                let routes = Routes::new(None, vec![Check::part(&part)], None);
                let name = format!("station {}", config.device.station);
                server = Some(routes.serve(&name, listen, &config, &trigger).await?);
            }
            let station = format!(
                "station {} connected to {}",
                config.device.station, config.mqtt.address
            );
            let supervisor =
                Supervisor::start(&systemd, vec![Check::part(&part)], station, &trigger);
            let result = shop::wait_parts(vec![part], &trigger).await;
            supervisor.stopped().await;
            result?;
            if let Some(server) = server {
                let _ = server.await;
            }
        }
        Command::Pos { command } => return cmd::pos::run(command, config).await,
        Command::Credentials { command } => return cmd::credentials::run(command, &config),
        Command::Inventory { command } => return cmd::inventory::run(command, config).await,
        Command::Dlq { command } => return cmd::dlq::run(command, config).await,
        Command::Payments { command } => return cmd::payments::run(command, config).await,
        Command::Trace(args) => return cmd::trace::run(args, config).await,
        Command::Replay(args) => return cmd::replay::run(args, config),
        Command::Tail(args) => return cmd::tail::run(args, config).await,
        Command::Config { command } => match command {
            ConfigCommand::Validate => println!("configuration is valid"),
            ConfigCommand::Print => print!("{}", config.to_toml()),
        },
        Command::Chaos {
            orders,
            kill_every,
            rate,
            seed,
            mode,
            mosquitto,
        } => {
            let mut config = config;
            match mode.as_deref() {
                Some("orchestration") => config.saga.mode = SagaMode::Orchestration,
                Some(_) => config.saga.mode = SagaMode::Choreography,
                None => {}
            }
            let options = milo::chaos::ChaosOptions {
                orders,
                rate,
                kill_every: std::time::Duration::from_millis(kill_every),
                seed,
                mosquitto,
                outage: None,
            };
            let exe = std::env::current_exe().context("where is milo?")?;
            let report = milo::chaos::run(&exe, &config, options).await?;
            println!("{report}");
            if !report.passed() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Bench {
            orders,
            concurrency,
            stations,
            until,
            timeout,
            no_fsync,
            no_security,
            json,
            keep,
        } => {
            let options = BenchOptions {
                orders: orders as usize,
                concurrency: concurrency as usize,
                stations: stations as usize,
                until: match until.as_str() {
                    "ready" => Until::Ready,
                    _ => Until::Prepared,
                },
                fsync: !no_fsync,
                security: !no_security,
                timeout: std::time::Duration::from_secs(timeout),
                progress: true,
                keep,
            };
            let report = bench::run(&config, options).await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("{report}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
