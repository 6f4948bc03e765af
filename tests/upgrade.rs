//! Upgrades: a data directory written by Milo before stores carried a format stamp (commit
//! a90e3ec, `tests/fixtures/data-format-0`, see its README) opens in this Milo with every
//! order and every cent as they were, stamped once; a data directory from a newer Milo is
//! refused by part and path, untouched, in process and by the real `milo up`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use milo::shop::{Shop, ShopError};
use milo::MiloConfig;
use milo_bus::format::{self, FormatError, VERSION_KEY};
use milo_bus::{ShutdownTrigger, Store, StoreConfig, StoreError, FORMAT};
use milo_payment::{Transaction, TxnState};
use milo_pos::{Request, Update};
use milo_testkit::{
    eventually, eventually_blocking, free_port, lock_held, when_unlocked, when_unlocked_async,
    PATIENCE,
};
use serde_json::Value;
use uuid::Uuid;

const MILO: &str = env!("CARGO_BIN_EXE_milo");
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/data-format-0");

/// Every part's store in the fixture.
const PARTS: [&str; 7] = [
    "analytics",
    "barista",
    "barista-device-bar-1",
    "inventory",
    "notification",
    "order",
    "payment",
];

/// Payment's record of an order, if it has one: state and cents.
type Paid = Option<(TxnState, u64)>;

/// The fixture's orders: id, final status, payment's record.
const ORDERS: [(&str, &str, Paid); 4] = [
    (
        "01a20143-9a62-75fe-b62b-c1a372212d6c",
        "prepared",
        Some((TxnState::Charged, 610)),
    ),
    (
        "01a20143-9a64-7663-b0a0-dcf7587947af",
        "canceled",
        Some((TxnState::Refunded, 410)),
    ),
    (
        "01a20143-9a66-708d-8302-08a8c87cd263",
        "prepared",
        Some((TxnState::Charged, 420)),
    ),
    ("01a20143-9a68-736a-aeec-2bcba1e4a6d4", "rejected", None),
];

/// A copy of the fixture's stores under `dir/data` (never open the fixture itself).
fn copy_fixture(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    for part in PARTS {
        std::fs::create_dir_all(data.join(part)).unwrap();
        for file in ["conf", "db"] {
            let from = Path::new(FIXTURE).join(part).join(file);
            std::fs::copy(from, data.join(part).join(file)).unwrap();
        }
    }
    data
}

/// Every key and value of every part's store, read with sled alone. (Each open waits for the
/// handle dropped just before to let go of the store: sled's flusher holds it a moment more.)
fn dump(data: &Path) -> BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>> {
    let one = |part: &str| {
        let db = when_unlocked(|| sled::open(data.join(part))).unwrap();
        let kvs = db.iter().map(|kv| kv.unwrap());
        kvs.map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
    };
    PARTS.iter().map(|p| (p.to_string(), one(p))).collect()
}

/// Stamps every store of `data` with `version`, as that Milo would have.
fn stamp_all(data: &Path, version: u32) {
    for part in PARTS {
        let db = when_unlocked(|| sled::open(data.join(part))).unwrap();
        db.insert(VERSION_KEY, version.to_string().as_bytes())
            .unwrap();
        db.flush().unwrap();
    }
}

/// INFO and above, as `milo up` logs them, kept for the test to read.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn lines(&self, needle: &str) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        text.lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

/// The store running in this process on `data`.
struct Running {
    shop: Shop,
    trigger: ShutdownTrigger,
    config: MiloConfig,
}

/// The store on `data`, once no store is held by a handle just dropped (the test's own reads,
/// the store just stopped).
async fn start(scratch: &Path, data: &Path) -> Result<Running, ShopError> {
    when_unlocked_async(|| start_once(scratch, data)).await
}

async fn start_once(scratch: &Path, data: &Path) -> Result<Running, ShopError> {
    let mut config = milo_testkit::config(scratch);
    config.data_dir = data.to_owned();
    let trigger = ShutdownTrigger::new().0;
    let shop = common::start_shop(&config, &trigger).await?;
    Ok(Running {
        shop,
        trigger,
        config,
    })
}

impl Running {
    /// Stops every part and waits until each store is let go of.
    async fn stop(self) {
        self.trigger.trigger();
        self.shop.run(&self.trigger).await.unwrap();
        let data = self.config.data_dir;
        let released = eventually(PATIENCE, || {
            let all = PARTS.iter().all(|p| {
                let store = Store::open(&data.join(p), &StoreConfig::default());
                store.is_ok()
            });
            std::future::ready(all)
        })
        .await;
        assert!(released, "a store was still held after the store stopped");
    }

    async fn order(&self, id: &str) -> Value {
        let path = format!("/orders/{id}");
        milo::http::client::get(self.shop.http, &path)
            .await
            .unwrap()
            .1
    }

    /// Waits ([`PATIENCE`] at most) until the order service has the order in `status`.
    async fn wait_status(&self, id: Uuid, status: &str) {
        let done = eventually(PATIENCE, || async move {
            self.order(&id.to_string()).await["status"] == status
        })
        .await;
        let last = self.order(&id.to_string()).await;
        assert!(done, "order {id} never became {status}; last: {last}");
    }

    fn versions(&self) -> Vec<Option<u32>> {
        let store = |p| self.shop.store(p).expect("a part of the store");
        PARTS.map(|p| format::version(store(p)).unwrap()).to_vec()
    }

    /// Asserts each fixture order's final status and payment record.
    async fn assert_fixture_orders(&self) {
        let payment = self.shop.store("payment").unwrap();
        for (id, status, txn) in ORDERS {
            let order = self.order(id).await;
            assert_eq!(order["status"], status, "order {id}: {order}");
            let found = payment.get::<Transaction>(&format!("txn/{id}")).unwrap();
            let found = found.map(|t| (t.state, t.amount_cents));
            assert_eq!(found, txn, "payment of {id}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_from_before_the_stamp_opens_with_every_order_as_it_was() {
    let logs = Logs::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .with_env_filter("info,rumqttd=off,sled=warn")
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let dir = tempfile::tempdir().unwrap();
    let data = copy_fixture(dir.path());
    let scratch = dir.path().join("scratch");

    let running = start(&scratch, &data).await.unwrap();
    let upgraded = logs.lines(&format!("from format 0 to {FORMAT}"));
    assert_eq!(upgraded.len(), PARTS.len(), "{upgraded:#?}");
    for part in PARTS {
        let path = data.join(part).display().to_string();
        assert!(upgraded.iter().any(|l| l.contains(&path)), "{upgraded:#?}");
    }
    assert_eq!(running.versions(), [Some(FORMAT); PARTS.len()]);
    running.assert_fixture_orders().await;
    // A new order goes all the way.
    let request = Request {
        order_id: Uuid::now_v7(),
        items: vec![common::line("flat_white", Some("oat"), 1)],
        customer: Some("Ed".into()),
        payment: Default::default(),
    };
    let new = request.order_id;
    let terminal = &running.config.pos.terminal;
    let mqtt = milo_testkit::mqtt_as(&running.config, terminal);
    let pos = running.config.pos.clone();
    let shutdown = running.trigger.subscribe();
    let update = milo_pos::place(mqtt, pos, request, |_| {}, shutdown)
        .await
        .unwrap();
    assert!(matches!(update, Update::Prepared { .. }), "{update:?}");
    // The order service records it too before the store closes.
    running.wait_status(new, "prepared").await;
    running.stop().await;

    // Started again: nothing to upgrade, nothing changed.
    let running = start(&scratch, &data).await.unwrap();
    assert_eq!(logs.lines("Upgraded").len(), PARTS.len());
    assert_eq!(running.versions(), [Some(FORMAT); PARTS.len()]);
    running.assert_fixture_orders().await;
    assert_eq!(running.order(&new.to_string()).await["status"], "prepared");
    running.stop().await;

    // `milo dlq` still finds the dead letter the old Milo kept, and nothing else.
    let order = when_unlocked(|| milo::dlq::open(&data, "order")).unwrap();
    let letters = milo::dlq::list(&order).unwrap();
    assert_eq!(letters.len(), 1, "{letters:#?}");
    assert_eq!(letters[0].topic, "orders/placed");
    assert!(
        letters[0].reason.starts_with("malformed JSON"),
        "{letters:#?}"
    );
}

#[test]
fn the_upgrade_adds_the_stamp_and_changes_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let data = copy_fixture(dir.path());
    let before = dump(&data);
    for part in PARTS {
        let open = || Store::open(&data.join(part), &StoreConfig::default());
        let store = when_unlocked(open).unwrap();
        assert_eq!(format::version(&store).unwrap(), Some(FORMAT));
    }
    let mut expected = before;
    for kvs in expected.values_mut() {
        kvs.insert(VERSION_KEY.into(), FORMAT.to_string().into_bytes());
    }
    assert_eq!(dump(&data), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_from_a_newer_milo_is_refused_by_part_and_path_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let data = copy_fixture(dir.path());
    stamp_all(&data, FORMAT + 1);
    let before = dump(&data);
    let Err(err) = start(&dir.path().join("scratch"), &data).await else {
        panic!("a store of format {} was opened", FORMAT + 1);
    };
    assert!(
        matches!(
            &err,
            ShopError::Store {
                part,
                error: StoreError::Format(FormatError::Newer { found, newest: FORMAT, .. }),
            } if part == "order" && *found == FORMAT + 1
        ),
        "{err:?}"
    );
    let text = err.to_string();
    let expected = format!(
        "order: {} was written by a newer Milo (format {}); this milo reads formats up to {FORMAT}",
        data.join("order").display(),
        FORMAT + 1,
    );
    assert!(text.starts_with(&expected), "{text}");
    // As `milo` prints it (`{e:#}`, the whole chain): the reason once, not once per cause.
    let printed = format!("{:#}", anyhow::Error::from(err));
    assert_eq!(
        printed.matches("written by a newer Milo").count(),
        1,
        "{printed}"
    );
    assert_eq!(dump(&data), before);
}

#[test]
fn milo_up_on_a_newer_data_directory_exits_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = copy_fixture(dir.path());
    stamp_all(&data, FORMAT + 1);
    let before = dump(&data);
    let (status, stderr) = milo_up_until_it_exits(dir.path());
    assert!(!status.success(), "{stderr}");
    let reason = format!(
        "milo: order: {} was written by a newer Milo (format {})",
        data.join("order").display(),
        FORMAT + 1,
    );
    assert!(stderr.contains(&reason), "{reason:?} not in {stderr}");
    assert!(stderr.contains("install the newer milo again or restore a backup"));
    assert_eq!(dump(&data), before);
}

/// `milo up` on `dir`'s data, run until it exits by itself: its status and standard error.
/// Run again (on other free ports) while it fails for a reason of the test's making: a store
/// the test has just read is still locked (sled's flusher holds it a moment more), or a port
/// was taken between its pick and its bind.
fn milo_up_until_it_exits(dir: &Path) -> (std::process::ExitStatus, String) {
    let run = || {
        let config = milo_testkit::config_file(dir, free_port(), free_port());
        let mut up = Command::new(MILO)
            .arg("--config")
            .arg(&config)
            .arg("up")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut status = None;
        let exited = eventually_blocking(PATIENCE, || {
            status = up.try_wait().unwrap();
            status.is_some()
        });
        if !exited {
            let _ = up.kill();
        }
        let stderr = std::io::read_to_string(up.stderr.take().unwrap()).unwrap();
        assert!(
            exited,
            "milo up kept running on a newer store; stderr: {stderr}"
        );
        (status.unwrap(), stderr)
    };
    let ours = |stderr: &str| lock_held(&stderr) || stderr.contains("Address already in use");
    let mut outcome = run();
    let deadline = std::time::Instant::now() + PATIENCE;
    while ours(&outcome.1) && std::time::Instant::now() < deadline {
        outcome = run();
    }
    outcome
}
