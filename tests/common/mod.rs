//! Shared setup of the in-process store tests.
#![allow(dead_code)]

pub mod broker;
pub mod cli;
pub mod mosquitto;
pub mod rig;

use milo::shop::{Shop, ShopError};
use milo::MiloConfig;
use milo_barista_device::MemoryDisplay;
use milo_bus::{Shutdown, ShutdownTrigger};
use milo_contracts::events::{OrderLine, OrderPlaced};
use milo_contracts::Envelope;
use milo_pos::{Request, Update};
use milo_testkit::PATIENCE;
use uuid::Uuid;

/// The whole store running in this process.
pub struct TestShop {
    /// The store.
    pub shop: Shop,
    /// Stops it (also on drop).
    pub trigger: ShutdownTrigger,
    /// Its configuration.
    pub config: MiloConfig,
    /// Its data, deleted on drop.
    pub _dir: tempfile::TempDir,
    /// Its broker, with `TEST_BROKER=mosquitto`.
    pub _mosquitto: Option<mosquitto::Mosquitto>,
}

/// Starts the store with the test configuration as changed by `edit`, ready to take orders.
pub async fn open_with(edit: impl FnOnce(&mut MiloConfig)) -> TestShop {
    let dir = tempfile::tempdir().unwrap();
    let mut config = milo_testkit::config(dir.path());
    edit(&mut config);
    // A test that set its own external broker keeps it.
    let m = config
        .broker
        .embedded
        .then(|| mosquitto::external(&mut config))
        .flatten();
    let (trigger, _) = ShutdownTrigger::new();
    let shop = start_shop(&config, &trigger).await.unwrap();
    TestShop {
        shop,
        trigger,
        config,
        _dir: dir,
        _mosquitto: m,
    }
}

/// Starts the whole store of `config` in this process (simulated display), ready to take
/// orders; the error if a part cannot start.
pub async fn start_shop(config: &MiloConfig, trigger: &ShutdownTrigger) -> Result<Shop, ShopError> {
    let display = Box::new(MemoryDisplay::default());
    let shop = Shop::start(config, display, trigger, || {
        eprintln!("broker watchdog failed")
    })
    .await?;
    assert!(shop.wait_ready(PATIENCE).await, "store not ready");
    Ok(shop)
}

/// Starts the store with the test configuration.
pub async fn open() -> TestShop {
    open_with(|_| {}).await
}

impl TestShop {
    /// A shutdown signal for clients.
    pub fn shutdown(&self) -> Shutdown {
        self.trigger.subscribe()
    }

    /// Places one order through a real POS client and returns its final update.
    pub async fn pos_order(
        &self,
        item: &str,
        milk: Option<&str>,
        customer: &str,
    ) -> (Uuid, Update) {
        let request = Request {
            order_id: Uuid::now_v7(),
            items: vec![line(item, milk, 1)],
            customer: Some(customer.into()),
            payment: Default::default(),
        };
        let id = request.order_id;
        let update = milo_pos::place(
            milo_testkit::mqtt_as(&self.config, &self.config.pos.terminal),
            self.config.pos.clone(),
            request,
            |_| {},
            self.shutdown(),
        )
        .await
        .unwrap();
        (id, update)
    }

    /// GET a JSON document from the store's HTTP API.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        milo::http::client::get(self.shop.http, path).await.unwrap()
    }

    /// POST a body to the store's HTTP API.
    pub async fn post(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        milo::http::client::post(self.shop.http, path, body)
            .await
            .unwrap()
    }

    /// Waits ([`PATIENCE`] at most) until GET path satisfies `pred`.
    pub async fn wait_json(
        &self,
        path: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let last = std::sync::Mutex::new(serde_json::Value::Null);
        let matched = milo_testkit::eventually(PATIENCE, || {
            let (last, pred) = (&last, &pred);
            async move {
                let (_, v) = self.get(path).await;
                let done = pred(&v);
                *last.lock().unwrap() = v;
                done
            }
        })
        .await;
        let last = last.into_inner().unwrap();
        assert!(matched, "GET {path} never matched; last answer: {last}");
        last
    }
}

impl Drop for TestShop {
    fn drop(&mut self) {
        self.trigger.trigger();
    }
}

/// One order line.
pub fn line(item: &str, milk: Option<&str>, qty: i64) -> OrderLine {
    OrderLine {
        item: item.into(),
        size: None,
        milk: milk.map(Into::into),
        qty,
        modifiers: Vec::new(),
    }
}

/// The payload a POS publishes on `orders/placed`.
pub fn placed_payload(order_id: Uuid, items: Vec<OrderLine>) -> Vec<u8> {
    let placed = OrderPlaced {
        order_id,
        items,
        customer: Some("Ana".into()),
        payment: Default::default(),
    };
    Envelope::new("pos", order_id, None, placed).to_json()
}
