//! The device in-process against a real broker: a [`Rig`] runs the embedded broker on a free
//! loopback port, the device on a temporary store, and an observer that records every
//! message; tests publish tickets and commands and wait for the answers with deadlines.

mod attempts;
mod faults;
mod rail;
mod restart;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use milo_bus::link::{self, LinkCommand, LinkConfig};
use milo_bus::{MqttConfig, RunDeps, ShutdownTrigger, Store, StoreConfig};
use milo_contracts::events::{PricedLine, TicketAssigned};
use milo_contracts::{topics, Envelope, Event, Menu, RawEnvelope};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{Ageing, Config, MemoryDisplay, SimulatedMachine};

pub(super) const STATION: &str = "bar-1";

/// How long a test waits for something before it fails: a bound for a loaded machine (two
/// cores, a build beside the tests), not a speed claim; waits end when their condition holds.
pub(super) const PATIENCE: Duration = Duration::from_secs(60);

use crate::test_menu::MENU;

type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A broker, a device that can be stopped and started again on the same store, and an
/// observer of everything.
pub(super) struct Rig {
    pub mqtt: MqttConfig,
    pub store: Store,
    pub menu: Arc<Menu>,
    pub display: MemoryDisplay,
    seen: Seen,
    to_broker: tokio::sync::mpsc::UnboundedSender<LinkCommand>,
    device: Option<(ShutdownTrigger, JoinHandle<Result<(), milo_bus::Rejection>>)>,
    _observer: ShutdownTrigger,
    _dir: tempfile::TempDir,
}

/// The embedded broker on a free loopback port: the port and how to reach it. A port picked
/// free can be taken before the broker binds it: then another one.
fn broker() -> (u16, MqttConfig) {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let broker = milo_broker::BrokerConfig {
            listen: ([127, 0, 0, 1], port).into(),
            ..Default::default()
        };
        let mqtt = MqttConfig {
            address: format!("127.0.0.1:{port}"),
            ..MqttConfig::default()
        };
        match milo_broker::start(&broker, mqtt.max_payload) {
            Ok(_) => return (port, mqtt),
            Err(milo_broker::BrokerError::Listen { .. }) => continue,
            Err(e) => panic!("embedded broker: {e}"),
        }
    }
}

/// A device configuration for tests: instant, warm, the display in memory.
pub(super) fn config(edit: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config {
        station: STATION.into(),
        speed: 0.0,
        display: false,
        warmup_secs: 0.0,
        ..Config::default()
    };
    edit(&mut c);
    c
}

pub(super) fn line(item: &str, qty: u32) -> PricedLine {
    let milk = (item == "latte").then(|| "whole".to_owned());
    let size = if item == "latte" { "small" } else { "single" };
    PricedLine {
        item: item.into(),
        size: size.into(),
        milk,
        qty,
        unit_price_cents: 0,
        modifiers: Vec::new(),
    }
}

impl Rig {
    pub async fn new() -> Rig {
        let (port, mqtt) = broker();
        let dir = tempfile::tempdir().unwrap();
        let store_config = StoreConfig {
            fsync: false,
            ..StoreConfig::default()
        };
        let store = Store::open(dir.path(), &store_config).unwrap();
        let (trigger, shutdown) = ShutdownTrigger::new();
        let observer = LinkConfig {
            client_id: format!("milo-test-observer-{port}"),
            mqtt: mqtt.clone(),
            subscriptions: vec!["#".into()],
            presence: None,
            clean_session: true,
        };
        let mut link = link::spawn(observer, shutdown).unwrap();
        let subscribed = tokio::time::timeout(PATIENCE, link.ready.wait_for(|r| *r));
        assert!(
            matches!(subscribed.await, Ok(Ok(_))),
            "observer not subscribed"
        );
        let seen: Seen = Arc::default();
        let (record, to_broker) = (seen.clone(), link.commands.clone());
        tokio::spawn(async move {
            while let Some(d) = link.deliveries.recv().await {
                let item = (d.publish.topic.clone(), d.publish.payload.to_vec());
                let _ = link.commands.send(LinkCommand::Ack(d));
                record.lock().unwrap().push(item);
            }
        });
        Rig {
            mqtt,
            store,
            menu: Arc::new(Menu::from_toml(MENU).unwrap()),
            display: MemoryDisplay::default(),
            seen,
            to_broker,
            device: None,
            _observer: trigger,
            _dir: dir,
        }
    }

    /// Starts the device (again, on the same store) and waits until it is subscribed.
    pub async fn start(&mut self, config: Config) {
        let (mut deps, _) = RunDeps::new(self.mqtt.clone(), self.store.clone());
        let (ready, mut is_ready) = watch::channel(false);
        deps.ready = Some(ready);
        let (trigger, shutdown) = ShutdownTrigger::new();
        let machine = SimulatedMachine::new(&config);
        let task = tokio::spawn(crate::run(
            config,
            Ageing::default(),
            deps,
            self.menu.clone(),
            machine,
            self.display.clone(),
            shutdown,
        ));
        let up = tokio::time::timeout(PATIENCE, is_ready.wait_for(|r| *r));
        assert!(matches!(up.await, Ok(Ok(_))), "device not ready");
        self.device = Some((trigger, task));
    }

    /// Stops the device and waits until it has.
    pub async fn stop(&mut self) {
        let (trigger, task) = self.device.take().expect("a running device");
        trigger.trigger();
        let stopped = tokio::time::timeout(PATIENCE, task).await;
        assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
    }

    /// Publishes an event on `topic`; returns its payload.
    pub fn publish<E: Event>(&self, topic: &str, correlation: Uuid, data: E) -> Vec<u8> {
        let payload = Envelope::new("test", correlation, None, data).to_json();
        self.publish_raw(topic, payload.clone());
        payload
    }

    pub fn publish_raw(&self, topic: &str, payload: Vec<u8>) {
        let topic = topic.to_owned();
        self.to_broker
            .send(LinkCommand::Publish { topic, payload })
            .unwrap();
    }

    /// Hands `lines` of `order` to the station as hand-out `attempt`.
    pub fn ticket(&self, order: Uuid, attempt: u32, lines: Vec<PricedLine>) -> Vec<u8> {
        let t = TicketAssigned {
            order_id: order,
            station: STATION.into(),
            lines,
            customer: Some("Ada".into()),
            attempt,
            queued_at: Some(time::OffsetDateTime::now_utc()),
        };
        self.publish(&topics::device_tickets(STATION), order, t)
    }

    /// Sends a command to the station.
    pub fn command(&self, cmd: milo_contracts::bar::DeviceCommand) {
        self.publish(&topics::device_commands(STATION), Uuid::nil(), cmd);
    }

    /// Payloads seen on `topic`.
    pub fn on(&self, topic: &str) -> Vec<Vec<u8>> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|(t, _)| t == topic)
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// Events of type `E` seen for `order` on `E`'s topic, with their raw payloads.
    pub fn events<E: Event>(&self, order: Uuid) -> Vec<(E, Vec<u8>)> {
        self.on(E::TOPIC)
            .into_iter()
            .filter_map(|p| {
                let env = RawEnvelope::parse(&p).ok()?;
                (env.correlation_id == order).then_some(())?;
                Some((env.decode::<E>().ok()?, p))
            })
            .collect()
    }

    /// How many different events `E` (by event id) were seen for `order`: a relay publishes
    /// its recent outbox again after a reconnect, and a repeat is answered with the same event.
    pub fn distinct<E: Event>(&self, order: Uuid) -> usize {
        let mut ids: Vec<Uuid> = self
            .events::<E>(order)
            .iter()
            .filter_map(|(_, p)| RawEnvelope::parse(p).ok().map(|e| e.id))
            .collect();
        ids.sort();
        ids.dedup();
        ids.len()
    }

    /// The state of `order`'s job, if there is one.
    pub fn state(&self, order: Uuid) -> Option<crate::JobState> {
        let job = self.store.get::<crate::Job>(&crate::job::job_key(order));
        job.unwrap().map(|j| j.state)
    }

    /// Waits until `cond` holds ([`PATIENCE`] at most); panics naming `what` otherwise.
    pub async fn wait(&self, what: &str, mut cond: impl FnMut(&Rig) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !cond(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `n` events `E` for `order` were seen, and returns them.
    pub async fn wait_for<E: Event>(&self, order: Uuid, n: usize) -> Vec<(E, Vec<u8>)> {
        self.wait(&format!("{n} × {} for {order}", E::TYPE), |r| {
            r.events::<E>(order).len() >= n
        })
        .await;
        self.events(order)
    }

    /// The last telemetry seen.
    pub fn telemetry(&self) -> Option<milo_contracts::bar::Telemetry> {
        let all = self.on(&topics::device_telemetry(STATION));
        serde_json::from_slice(all.last()?).ok()
    }

    /// The job record of `order`.
    pub fn job(&self, order: Uuid) -> crate::Job {
        self.store
            .get(&crate::job::job_key(order))
            .unwrap()
            .expect("a job")
    }
}
