//! A store whose parts can be stopped, killed and started again one by one, each with its
//! own shutdown signal and HTTP listener, for the saga scenarios.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use milo::http::client;
use milo::shop::{self, Part};
use milo::MiloConfig;
use milo_barista_device::MemoryDisplay;
use milo_bus::{Shutdown, ShutdownTrigger, Store};
use milo_contracts::events::Ingredients;
use milo_contracts::{Menu, SagaMode};
use milo_payment::{Transaction, TxnState};
use milo_testkit::{eventually, PATIENCE};
use serde_json::Value;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// One running part.
struct Running {
    part: Part,
    trigger: ShutdownTrigger,
    http: Option<(SocketAddr, JoinHandle<()>)>,
}

/// The store, part by part.
pub struct Rig {
    /// Its configuration.
    pub config: MiloConfig,
    /// The menu.
    pub menu: Arc<Menu>,
    parts: BTreeMap<String, Running>,
    broker: ShutdownTrigger,
    /// The broker's gate (security on): its counters and the publishes it refused.
    pub gate: Option<Arc<milo_broker::gate::Gate>>,
    _dir: tempfile::TempDir,
    /// Its broker, with `TEST_BROKER=mosquitto` (dropped after the parts).
    _mosquitto: Option<super::mosquitto::Mosquitto>,
}

/// Every part of the store in `mode` (`device` is the barista device).
pub fn all_parts(mode: SagaMode) -> Vec<&'static str> {
    shop::services_in(mode).chain(["device"]).collect()
}

impl Rig {
    /// A store in `mode` with fast retries, as changed by `edit`, with `parts` started.
    pub async fn start(mode: SagaMode, parts: &[&str], edit: impl FnOnce(&mut MiloConfig)) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let mut config = milo_testkit::config(dir.path());
        config.saga.mode = mode;
        for retry in [&mut config.order.retry, &mut config.saga.retry] {
            retry.first_ms = 150;
            retry.max_ms = 600;
            retry.attempts = 4;
            retry.tick_ms = 20;
            retry.prepare_secs = 60;
        }
        edit(&mut config);
        let mosquitto = config
            .broker
            .embedded
            .then(|| super::mosquitto::external(&mut config))
            .flatten();
        let broker = ShutdownTrigger::new().0;
        let run = shop::start_broker(&config, &broker.subscribe(), || {}).unwrap();
        let menu = Arc::new(config.menu().unwrap());
        let mut rig = Rig {
            config,
            menu,
            parts: BTreeMap::new(),
            broker,
            gate: run.gate,
            _dir: dir,
            _mosquitto: mosquitto,
        };
        for name in parts {
            rig.up(name).await;
        }
        rig
    }

    /// A store in `mode` with every part.
    pub async fn full(mode: SagaMode, edit: impl FnOnce(&mut MiloConfig)) -> Rig {
        Rig::start(mode, &all_parts(mode), edit).await
    }

    /// Starts a part (again) and waits until it is connected and subscribed.
    pub async fn up(&mut self, name: &str) {
        let (config, menu) = (self.config.clone(), self.menu.clone());
        self.launch(name, |sd| match name {
            "device" => shop::start_device(
                &config,
                menu.clone(),
                Box::new(MemoryDisplay::default()),
                sd,
            )
            .ok(),
            _ => shop::start_service(name, &config, menu.clone(), sd).ok(),
        })
        .await;
    }

    /// Starts (again) a barista device for `station`, with the store's `[device]` settings as
    /// changed by `edit` (its own speed, faults...), and waits until it is connected and
    /// subscribed. Its part name is the station id (for [`Rig::down`], [`Rig::store`]).
    pub async fn station_up(
        &mut self,
        station: &str,
        edit: impl FnOnce(&mut milo_barista_device::Config),
    ) {
        let mut config = self.config.clone();
        config.device.station = station.to_owned();
        edit(&mut config.device);
        let menu = self.menu.clone();
        self.launch(station, |sd| {
            let display = Box::new(MemoryDisplay::default());
            shop::start_device(&config, menu.clone(), display, sd).ok()
        })
        .await;
    }

    /// Starts a part with `start` (retried while its database is still held) under `name`.
    async fn launch(&mut self, name: &str, mut start: impl FnMut(&Shutdown) -> Option<Part>) {
        let trigger = ShutdownTrigger::new().0;
        let sd = trigger.subscribe();
        // A part just stopped may still hold its database for a moment.
        let mut part = None;
        let opened = eventually(PATIENCE, || {
            part = start(&sd);
            std::future::ready(part.is_some())
        })
        .await;
        assert!(opened, "{name} did not start");
        let part = part.unwrap();
        assert!(shop::wait_ready(std::slice::from_ref(&part), PATIENCE).await);
        let http = match part.router.clone() {
            Some(router) => {
                let any = ([127, 0, 0, 1], 0).into();
                let http = &self.config.http;
                Some(milo::http::serve(any, router, http, sd).await.unwrap())
            }
            None => None,
        };
        self.parts.insert(
            name.to_owned(),
            Running {
                part,
                trigger,
                http,
            },
        );
    }

    /// Stops a part; `kill` aborts it mid-work instead of letting it finish its group.
    pub async fn down(&mut self, name: &str, kill: bool) {
        let r = self.parts.remove(name).expect("a running part");
        if kill {
            r.part.task.abort();
        }
        r.trigger.trigger();
        let _ = tokio::time::timeout(PATIENCE, r.part.task).await;
        if let Some((_, task)) = r.http {
            let _ = tokio::time::timeout(PATIENCE, task).await;
        }
    }

    /// Stops every part (the broker stays) and waits until no handle holds their stores: a
    /// stopped data directory, as `milo trace` and `milo replay` read it.
    pub async fn stop_all(&mut self) {
        let parts = all_parts(self.config.saga.mode);
        for part in &parts {
            self.down(part, false).await;
        }
        for part in parts {
            let part = match part {
                "device" => milo_barista_device::service_name(&self.config.device.station),
                p => p.to_owned(),
            };
            super::cli::free(&self.config.data_of(&part)).await;
        }
    }

    /// The publishes the broker's gate refused, with their reasons.
    pub fn refused(&self) -> Vec<milo_bus::DeadLetter> {
        let gate = self.gate.as_ref().expect("security on");
        gate.refused(10_000).unwrap()
    }

    /// Waits until the gate has refused a publish whose reason contains `reason`; returns it.
    pub async fn wait_refused(&self, reason: &str) -> milo_bus::DeadLetter {
        let mut found = None;
        let seen = eventually(PATIENCE, || {
            found = self
                .refused()
                .into_iter()
                .find(|l| l.reason.contains(reason));
            std::future::ready(found.is_some())
        })
        .await;
        assert!(seen, "no refusal {reason:?}; refused: {:?}", self.refused());
        found.unwrap()
    }

    /// `(user, password)` of a credential of this store.
    pub fn credential(&self, name: &str) -> (String, String) {
        let c = self
            .config
            .credentials(false)
            .unwrap()
            .expect("security on");
        let secret = c
            .secret(name)
            .unwrap_or_else(|| panic!("no credential {name}"));
        (name.to_owned(), secret.expose().to_owned())
    }

    /// Places `items` orders until `sub` (a `mosquitto_sub -C 1`, which exits after the first
    /// message) has heard one ([`PATIENCE`] at most; mosquitto_sub gives no sign it has
    /// subscribed): what it printed, empty if it never heard one (then it is killed).
    pub async fn place_until_heard(&self, items: &str, sub: &mut std::process::Child) -> String {
        use std::io::Read;
        let deadline = std::time::Instant::now() + PATIENCE;
        let mut heard = false;
        while !heard && std::time::Instant::now() < deadline {
            self.place(items, None).await;
            heard = eventually(std::time::Duration::from_secs(1), || {
                std::future::ready(matches!(sub.try_wait(), Ok(Some(_))))
            })
            .await;
        }
        let mut out = String::new();
        match sub.stdout.take() {
            Some(mut stdout) if heard => {
                let _ = stdout.read_to_string(&mut out);
            }
            _ => {
                let _ = sub.kill();
            }
        }
        out
    }

    /// The broker's port.
    pub fn mqtt_port(&self) -> u16 {
        self.config.broker.listen.port()
    }

    /// A part's store.
    pub fn store(&self, name: &str) -> &Store {
        &self.parts[name].part.store
    }

    /// A part's HTTP address.
    pub fn http(&self, name: &str) -> SocketAddr {
        self.parts[name].http.as_ref().expect("a part with HTTP").0
    }

    /// Places an order over HTTP; returns its id.
    pub async fn place(&self, items: &str, order_id: Option<Uuid>) -> Uuid {
        let id = order_id.unwrap_or_else(Uuid::now_v7);
        let body = format!(r#"{{"order_id":"{id}","items":{items},"customer":"Ana"}}"#);
        let (code, reply) = client::post(self.http("order"), "/orders", &body)
            .await
            .unwrap();
        assert_eq!(code, 202, "{reply}");
        id
    }

    /// The order as the order service has it.
    pub async fn order(&self, id: Uuid) -> Value {
        client::get(self.http("order"), &format!("/orders/{id}"))
            .await
            .unwrap()
            .1
    }

    /// Waits ([`PATIENCE`] at most) until the order satisfies `pred`; returns it.
    pub async fn wait_order(&self, id: Uuid, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let answer = wait_answer(|| self.order(id), pred).await;
        answer.unwrap_or_else(|last| panic!("order {id} never became {what}; last: {last}"))
    }

    /// Waits until the order's status is `status`.
    pub async fn wait_status(&self, id: Uuid, status: &str) -> Value {
        self.wait_order(id, status, |o| o["status"] == status).await
    }

    /// The saga as the coordinator has it (orchestration): status code and body.
    pub async fn saga(&self, id: Uuid) -> (u16, Value) {
        client::get(self.http("saga"), &format!("/sagas/{id}"))
            .await
            .unwrap()
    }

    /// Waits ([`PATIENCE`] at most) until the coordinator's saga satisfies `pred`; returns it.
    /// The coordinator hears each event on its own, apart from the order service: what the
    /// order says is no sign of where the saga is.
    pub async fn wait_saga(&self, id: Uuid, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let answer = wait_answer(|| async { self.saga(id).await.1 }, pred).await;
        answer.unwrap_or_else(|last| panic!("saga {id} never became {what}; last: {last}"))
    }

    /// Asks to cancel over HTTP: status code and body.
    pub async fn cancel(&self, id: Uuid) -> (u16, Value) {
        let path = format!("/orders/{id}/cancel");
        client::post(self.http("order"), &path, r#"{"reason":"changed my mind"}"#)
            .await
            .unwrap()
    }

    /// Cents charged minus cents refunded for the order, from payment's own store.
    pub fn money(&self, id: Uuid) -> i64 {
        let Some(t) = self
            .store("payment")
            .get::<Transaction>(&format!("txn/{id}"))
            .unwrap()
        else {
            return 0;
        };
        let amount = t.amount_cents as i64;
        match t.state {
            TxnState::Charged | TxnState::Refunding => amount,
            _ => 0,
        }
    }

    /// Waits until every payment is settled (no charge, void or refund in flight); then the
    /// money of the order.
    pub async fn settled_money(&self, id: Uuid) -> i64 {
        let settled = eventually(PATIENCE, || {
            let t = self
                .store("payment")
                .get::<Transaction>(&format!("txn/{id}"))
                .unwrap();
            std::future::ready(!t.is_some_and(|t| {
                matches!(
                    t.state,
                    TxnState::Charging | TxnState::Voiding | TxnState::Refunding
                )
            }))
        })
        .await;
        assert!(settled, "payment of {id} never settled");
        self.money(id)
    }

    /// Waits ([`PATIENCE`] at most) until inventory's stock is `expected`. Inventory hears
    /// each event on its own (waste from the bar, a release from the order's owner): an
    /// order's final status is no sign that its last stock change is in.
    pub async fn assert_stock(&self, expected: &Ingredients, context: &dyn std::fmt::Display) {
        let there = eventually(PATIENCE, || std::future::ready(self.stock() == *expected)).await;
        let stock = self.stock();
        assert!(
            there,
            "stock never became {expected:?}; last {stock:?}; {context}"
        );
    }

    /// Stock left, from inventory's own store, as it stands now.
    pub fn stock(&self) -> Ingredients {
        self.store("inventory")
            .get::<Ingredients>("stock")
            .unwrap()
            .unwrap_or_else(|| self.config.inventory.stock.clone())
    }

    /// What inventory took off stock as wasted (drinks begun and poured away), from its own
    /// store.
    pub fn waste(&self) -> Ingredients {
        self.store("inventory")
            .get::<Ingredients>("waste")
            .unwrap()
            .unwrap_or_default()
    }

    /// The opening stock less `drinks` of `items` (a JSON list of lines).
    pub fn stock_less(&self, items: &str, drinks_fraction: (u64, u64)) -> Ingredients {
        let lines: Vec<milo_contracts::events::OrderLine> = serde_json::from_str(items).unwrap();
        let priced = self.menu.price(&lines).unwrap();
        let (num, den) = drinks_fraction;
        let mut stock = self.config.inventory.stock.clone();
        for (ing, units) in priced.ingredients {
            if let Some(have) = stock.get_mut(&ing) {
                *have -= units * num / den;
            }
        }
        stock
    }

    /// Total price of `items`.
    pub fn total(&self, items: &str) -> i64 {
        let lines: Vec<milo_contracts::events::OrderLine> = serde_json::from_str(items).unwrap();
        self.menu.price(&lines).unwrap().total_cents as i64
    }
}

/// Asks `get` until its answer satisfies `pred` ([`PATIENCE`] at most): the answer, or the
/// last one.
async fn wait_answer<F, Fut>(mut get: F, pred: impl Fn(&Value) -> bool) -> Result<Value, Value>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let last = std::sync::Mutex::new(Value::Null);
    let ok = eventually(PATIENCE, || {
        let answer = get();
        let (last, pred) = (&last, &pred);
        async move {
            let answer = answer.await;
            let done = pred(&answer);
            *last.lock().unwrap() = answer;
            done
        }
    })
    .await;
    let last = last.into_inner().unwrap();
    if ok {
        Ok(last)
    } else {
        Err(last)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for r in self.parts.values() {
            r.trigger.trigger();
        }
        self.broker.trigger();
        // What the broker's gate refused (shown only when the test fails): a part publishing
        // what the authority table does not allow shows up here.
        if let Some(gate) = &self.gate {
            for letter in gate.refused(50).unwrap_or_default() {
                eprintln!("gate refused on {}: {}", letter.topic, letter.reason);
            }
        }
    }
}
