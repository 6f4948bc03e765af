//! `milo tail` (the binary) against a running store, with the operator's credential: one
//! readable line per event of the order it follows, its creation first, and nothing
//! of another order; a type filter keeps only that type.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use common::cli::MILO;
use milo_testkit::{eventually_blocking, PATIENCE};

/// A running `milo tail ARGS`: its stdout and stderr lines.
struct Tail {
    child: Child,
    out: Arc<Mutex<Vec<String>>>,
    err: Arc<Mutex<Vec<String>>>,
}

impl Tail {
    fn start(shop: &common::TestShop, args: &[&str]) -> Tail {
        let file = shop.config.data_dir.join("tail.toml");
        std::fs::write(&file, shop.config.to_toml()).unwrap();
        let mut child = Command::new(MILO)
            .env_remove("RUST_LOG")
            // The operator's credential, as on the store's own board.
            .env("MILO_SECURITY__CREDENTIALS", milo_testkit::credentials())
            .arg("--config")
            .arg(file)
            .arg("tail")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let collect = |r: Box<dyn std::io::Read + Send>| {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let sink = lines.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(r).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(l);
                }
            });
            lines
        };
        let out = collect(Box::new(child.stdout.take().unwrap()));
        let err = collect(Box::new(child.stderr.take().unwrap()));
        let tail = Tail { child, out, err };
        let watching = eventually_blocking(PATIENCE, || {
            tail.err
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.starts_with("milo tail: watching"))
        });
        assert!(watching, "never subscribed: {:?}", tail.err.lock().unwrap());
        tail
    }

    /// Waits until it exits by itself (`--count` reached); its lines.
    fn finish(mut self) -> Vec<String> {
        let done = eventually_blocking(PATIENCE, || self.child.try_wait().unwrap().is_some());
        assert!(done, "still running: {:?}", self.out.lock().unwrap());
        assert!(self.child.wait().unwrap().success());
        // The reader threads finish with the pipes.
        eventually_blocking(PATIENCE, || Arc::strong_count(&self.out) == 1);
        self.out.lock().unwrap().clone()
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tail_follows_one_order_and_a_type_and_nothing_else() {
    let shop = common::open().await;
    let order = uuid::Uuid::now_v7();
    let short = &order.simple().to_string()[24..];
    // Created, paid, stocked, ready, prepared... at least these five lines of the order.
    let follow = Tail::start(&shop, &["--order", &order.to_string(), "--count", "5"]);
    let prepared = Tail::start(&shop, &["--type", "OrderPrepared", "--count", "2"]);

    let other = uuid::Uuid::now_v7();
    for id in [other, order] {
        let body = format!(
            r#"{{"order_id":"{id}","items":[{{"item":"latte","milk":"oat"}}],"customer":"Ana"}}"#
        );
        let (code, reply) = shop.post("/orders", &body).await;
        assert_eq!(code, 202, "{reply}");
    }

    let lines = tokio::task::spawn_blocking(move || follow.finish())
        .await
        .unwrap();
    assert_eq!(lines.len(), 5, "{lines:#?}");
    for l in &lines {
        assert!(
            l.contains(&format!("order {short}")),
            "another order's line: {l}"
        );
    }
    let created = lines
        .iter()
        .find(|l| l.contains("OrderCreated"))
        .expect("OrderCreated");
    assert!(created.contains("orders/created"), "{created}");
    assert!(created.contains("  Ana  "), "{created}");
    assert!(created.contains("latte medium oat ×1"), "{created}");
    assert!(
        created.contains("order#"),
        "the producer and its number: {created}"
    );

    let lines = tokio::task::spawn_blocking(move || prepared.finish())
        .await
        .unwrap();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines
        .iter()
        .all(|l| l.contains("OrderPrepared") && l.contains("orders/prepared")));
}
