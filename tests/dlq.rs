//! `milo dlq` (the binary) on a part that runs: poisoned with a real MQTT client, its dead
//! letters listed, shown, replayed and purged over MQTT; on a stopped part's store; and the
//! one sentence it says when the store is held and nobody answers.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use common::cli::{output, Out, MILO};
use milo::MiloConfig;
use milo_bus::{ShutdownTrigger, Store};
use milo_contracts::topics;
use milo_testkit::{eventually, free_port, Observer, PATIENCE};

const GARBAGE: &[u8] = b"{\"id\": nope";

/// `milo dlq ARGS --service PART` against `config`'s data and broker (no other configuration,
/// no `RUST_LOG`).
async fn dlq(config: &MiloConfig, args: &[&str]) -> Out {
    let empty = config.data_dir.join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let mut cmd = Command::new(MILO);
    cmd.env_remove("RUST_LOG")
        // The operator's credential, as on the store's own board.
        .env("MILO_SECURITY__CREDENTIALS", milo_testkit::credentials())
        .arg("--config")
        .arg(empty)
        .arg("dlq")
        .args(args)
        .arg("--data-dir")
        .arg(&config.data_dir)
        .args(["--mqtt", &config.mqtt.address]);
    output(cmd).await
}

async fn payment_dlq(config: &MiloConfig, args: &[&str]) -> Out {
    let args: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--service", "payment"])
        .collect();
    dlq(config, &args).await
}

/// Waits until `store` holds a dead letter on `topic`; its id.
async fn dead_letter_on(store: &Store, topic: &str) -> u64 {
    let found = || {
        let letters = store.dead_letters(0, 1000).unwrap();
        letters.into_iter().find(|d| d.topic == topic).map(|d| d.id)
    };
    assert!(eventually(PATIENCE, || async { found().is_some() }).await);
    found().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn milo_dlq_lists_shows_replays_and_purges_a_running_parts_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = milo_testkit::config(dir.path());
    // Poisoned with malformed JSON, which the broker's gate refuses before any part sees it
    // (tests/security.rs): here the part itself keeps it, as behind an external broker.
    config.security.enabled = false;
    let (trigger, _) = ShutdownTrigger::new();
    milo::shop::start_broker(&config, &trigger.subscribe(), || {}).unwrap();
    let menu = Arc::new(config.menu().unwrap());
    let part = milo::shop::start_service("payment", &config, menu, &trigger.subscribe()).unwrap();
    assert!(milo::shop::wait_ready(std::slice::from_ref(&part), PATIENCE).await);
    let watch = Observer::start(&config.mqtt, &["payments/#"]).await;
    watch.publish(topics::ORDERS_CREATED, GARBAGE);
    let bad = dead_letter_on(&part.store, topics::ORDERS_CREATED).await;
    // An order payment could not take earlier (its gateway was down), good now, kept twice.
    let (order, good) = milo_testkit::espresso_created();
    let why = "handler failed: gateway offline";
    let first = part
        .store
        .record_dead_letter(topics::ORDERS_CREATED, &good, why)
        .unwrap();
    let second = part
        .store
        .record_dead_letter(topics::ORDERS_CREATED, &good, why)
        .unwrap();

    let list = payment_dlq(&config, &["list"]).await;
    assert_eq!((list.code, list.stderr.as_str()), (0, ""), "{list:?}");
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{list:?}");
    assert!(
        lines[0].trim_start().starts_with(&format!("{bad} ")),
        "{list:?}"
    );
    assert!(lines[0].contains("orders/created") && lines[0].contains("malformed JSON"));
    assert!(lines[1].contains(why) && lines[2].trim_start().starts_with(&second.to_string()));

    let show = payment_dlq(&config, &["show", &bad.to_string()]).await;
    assert_eq!(show.code, 0, "{show:?}");
    assert!(show.stdout.contains("payload: {\"id\": nope"), "{show:?}");

    // Still malformed: refused again, under a new id, with the reason.
    let again = payment_dlq(&config, &["replay", "--id", &bad.to_string()]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("dead-lettered again as"), "{again:?}");
    assert!(again.stdout.contains("malformed JSON"), "{again:?}");
    assert!(part.store.dead_letter(bad).unwrap().is_none());

    // All of them: the order is charged once, its copy is a repeat, the garbage comes back.
    let all = payment_dlq(&config, &["replay"]).await;
    assert_eq!(all.code, 0, "{all:?}");
    let summary = "replayed 3 dead letters: 1 applied, 1 dead-lettered again, 1 repeats";
    assert!(all.stdout.contains(summary), "{all:?}");
    assert!(all
        .stdout
        .lines()
        .any(|l| l.trim_start().starts_with(&format!("{first} ")) && l.ends_with("applied")));
    let charged = || {
        let id = order.to_string();
        let paid = watch.on(topics::PAYMENTS_COMPLETED);
        paid.iter()
            .filter(|p| String::from_utf8_lossy(p).contains(&id))
            .count()
    };
    assert!(
        eventually(PATIENCE, || async { charged() > 0 }).await,
        "never charged"
    );
    assert_eq!(charged(), 1);
    let left = part.store.dead_letters(0, 100).unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].payload.contains("nope"));

    let purge = payment_dlq(&config, &["purge"]).await;
    assert_eq!(purge.stdout, "purged 1 dead letters\n", "{purge:?}");
    let empty = payment_dlq(&config, &["list"]).await;
    assert_eq!((empty.code, empty.stdout.as_str()), (0, ""), "{empty:?}");
    assert!(part.store.dead_letters(0, 100).unwrap().is_empty());
    let none = payment_dlq(&config, &["show", &bad.to_string()]).await;
    assert_eq!(none.code, 1, "{none:?}");
    assert_eq!(
        none.stderr,
        format!("milo dlq: payment has no dead letter {bad}\n")
    );
    trigger.trigger();
}

/// A `milo service payment` process on `config`; killed on drop.
struct Service(std::process::Child);

impl Service {
    fn start(config: &MiloConfig) -> Service {
        let file = config.data_dir.join("milo.toml");
        std::fs::write(&file, config.to_toml()).unwrap();
        let child = Command::new(MILO)
            .env_remove("RUST_LOG")
            .arg("--config")
            .arg(file)
            .args(["service", "payment"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Service(child)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn milo_dlq_asks_a_part_running_in_its_own_process_and_reads_its_store_once_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = milo_testkit::config(dir.path());
    // Poisoned with malformed JSON, which the broker's gate refuses before any part sees it
    // (tests/security.rs): here the part itself keeps it, as behind an external broker.
    config.security.enabled = false;
    let (trigger, _) = ShutdownTrigger::new();
    milo::shop::start_broker(&config, &trigger.subscribe(), || {}).unwrap();
    let watch = Observer::start(&config.mqtt, &["services/payment/status", "dlq/#"]).await;
    let service = Service::start(&config);
    let online = || {
        watch
            .on("services/payment/status")
            .last()
            .is_some_and(|s| s == b"online")
    };
    assert!(
        eventually(PATIENCE, || async { online() }).await,
        "payment never online"
    );
    watch.publish(topics::ORDERS_CREATED, GARBAGE);
    let refused = "dlq/payment/orders/created";
    assert!(eventually(PATIENCE, || async { !watch.on(refused).is_empty() }).await);

    let live = payment_dlq(&config, &["list"]).await;
    assert_eq!(live.code, 0, "{live:?}");
    assert!(live.stdout.contains("malformed JSON"), "{live:?}");

    drop(service);
    let stopped = payment_dlq(&config, &["list"]).await;
    assert_eq!(
        (stopped.code, stopped.stdout.as_str()),
        (0, live.stdout.as_str()),
        "{stopped:?}"
    );
    let queued = payment_dlq(&config, &["replay"]).await;
    let said = "1 dead letters queued; payment hands them to its handler when it starts\n";
    assert_eq!(queued.stdout, said, "{queued:?}");
    trigger.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_store_that_nobody_answers_for_gets_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = milo_testkit::config(dir.path());
    let held = Store::open(&config.data_of("payment"), &config.store).unwrap();
    let at = |config: &MiloConfig| -> PathBuf { config.data_of("payment") };
    let sentence = |config: &MiloConfig, who: &str| {
        let (dir, addr) = (at(config), &config.mqtt.address);
        format!("milo dlq: the payment store in {} is in use by a running process, and {who} at {addr} within 5 s\n", dir.display())
    };

    // No broker at all.
    config.mqtt.address = format!("127.0.0.1:{}", free_port());
    let out = payment_dlq(&config, &["list"]).await;
    assert_eq!((out.code, out.stdout.as_str()), (3, ""), "{out:?}");
    assert_eq!(out.stderr, sentence(&config, "no broker answered"));

    // A broker, and nobody behind it.
    config = config.isolated(dir.path()).unwrap();
    let (trigger, _) = ShutdownTrigger::new();
    milo::shop::start_broker(&config, &trigger.subscribe(), || {}).unwrap();
    let _ready = Observer::start(&config.mqtt, &["services/+/status"]).await;
    let out = payment_dlq(&config, &["purge"]).await;
    assert_eq!((out.code, out.stdout.as_str()), (3, ""), "{out:?}");
    assert_eq!(out.stderr, sentence(&config, "payment did not answer"));

    // Nothing there, and a name that is no part's.
    let out = dlq(&config, &["list", "--service", "order"]).await;
    let nothing = format!(
        "milo dlq: there is no order store in {}\n",
        config.data_of("order").display()
    );
    assert_eq!((out.code, out.stderr), (1, nothing));
    let out = dlq(&config, &["list", "--service", "../payment"]).await;
    assert_eq!(out.code, 2, "{out:?}");
    drop(held);
    trigger.trigger();
}
