//! The store as an operator runs it: `milo up` as a child process on free loopback ports,
//! watched and fed with Debian's `mosquitto_sub` / `mosquitto_pub`, and driven with `milo pos`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use milo_testkit::{config_file, eventually_blocking, free_port, PATIENCE};

const MILO: &str = env!("CARGO_BIN_EXE_milo");

/// A child process whose stdout lines are collected; killed on drop.
struct Proc {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn spawn(cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?} ({e}); .ci/install-deps installs mosquitto-clients and mosquitto"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Proc { child, lines }
    }

    fn saw(&self, pred: impl Fn(&str) -> bool) -> bool {
        self.lines.lock().unwrap().iter().any(|l| pred(l))
    }

    fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Waits until a line satisfies `pred` (true) or the process exits first (false).
    fn says_before_exit(&mut self, pred: impl Fn(&str) -> bool) -> bool {
        eventually_blocking(PATIENCE, || self.saw(&pred) || self.exited());
        self.saw(&pred)
    }

    fn wait_for(&self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) {
        assert!(
            eventually_blocking(limit, || self.saw(&pred)),
            "never saw {what}; output: {:?}",
            self.lines.lock().unwrap()
        );
    }

    /// SIGTERM, then the exit status (within `limit`).
    fn terminate(mut self, limit: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let mut status = None;
        let stopped = eventually_blocking(limit, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        assert!(stopped, "did not stop within {limit:?} of SIGTERM");
        status.unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `milo up` with the configuration `config` writes, once it says it is open. A free port
/// may be taken by another test before `milo up` binds it: then it exits, and it is started
/// again on a configuration written anew (with other ports).
fn milo_up(mut config: impl FnMut() -> PathBuf) -> Proc {
    let mut up = None;
    let open = eventually_blocking(PATIENCE, || {
        let mut p = Proc::spawn(Command::new(MILO).arg("--config").arg(config()).arg("up"));
        let open = p.says_before_exit(|l| l.starts_with("Milo is open"));
        up = Some(p).filter(|_| open);
        open
    });
    assert!(open, "milo up never opened");
    up.unwrap()
}

/// `mosquitto_sub` on `filter`, returned once it provably receives: it subscribes to the
/// services' retained presence too, which the broker hands over at once. Without a credential:
/// on this loopback store a client without one may read everything and write nothing.
fn mosquitto_sub(port: u16, filter: &str) -> Proc {
    let p = port.to_string();
    let sub = Proc::spawn(Command::new("mosquitto_sub").args([
        "-h",
        "127.0.0.1",
        "-p",
        &p,
        "-v",
        "-t",
        filter,
        "-t",
        "services/+/status",
    ]));
    sub.wait_for("the services' presence", PATIENCE, |l| {
        l.starts_with("services/")
    });
    sub
}

/// `mosquitto_pub` of `message` on `topic` as the credential `user` of the test's credentials
/// file (the broker's gate takes an order only from a POS terminal).
fn mosquitto_pub(port: u16, user: &str, topic: &str, message: &str) {
    let credentials = milo_bus::Credentials::load(milo_testkit::credentials()).unwrap();
    let secret = credentials.secret(user).expect("a test credential");
    let status = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-u",
            user,
            "-P",
            secret.expose(),
            "-q",
            "1",
            "-t",
            topic,
            "-m",
            message,
        ])
        .status()
        .expect("mosquitto_pub (.ci/install-deps installs mosquitto-clients)");
    assert!(status.success());
}

fn pos(port: u16, args: &[&str]) -> (i32, String) {
    // The POS's order queue in a directory of its own, not ./data in the checkout.
    let queue = tempfile::tempdir().unwrap();
    let out = Command::new(MILO)
        .env("MILO_POS__QUEUE_DIR", queue.path())
        .env("MILO_SECURITY__CREDENTIALS", milo_testkit::credentials())
        .args(["pos", "order"])
        .args(args)
        .args(["--mqtt", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn operator_watches_an_order_placed_with_mosquitto_pub_and_places_one_with_milo_pos() {
    let dir = tempfile::tempdir().unwrap();
    let mut mqtt = 0;
    let up = milo_up(|| {
        mqtt = free_port();
        config_file(dir.path(), mqtt, free_port())
    });
    let sub = mosquitto_sub(mqtt, "orders/#");

    let id = uuid::Uuid::now_v7();
    let placed = format!(
        r#"{{"id":"{event}","type":"OrderPlaced","version":1,"occurred_at":"2026-11-21T08:00:00Z","correlation_id":"{id}","causation_id":null,"source":"pos","data":{{"order_id":"{id}","items":[{{"item":"latte","size":"small","milk":"oat","qty":1}}],"customer":"Ana"}}}}"#,
        event = uuid::Uuid::now_v7(),
    );
    mosquitto_pub(mqtt, "pos", "orders/placed", &placed);
    for topic in ["orders/created", "orders/ready", "orders/prepared"] {
        let id = id.to_string();
        sub.wait_for(topic, PATIENCE, |l| l.starts_with(topic) && l.contains(&id));
    }

    let (code, out) = pos(mqtt, &["cappuccino", "--customer", "Bo"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("prepared at bar-1"), "{out}");
    let (code, out) = pos(mqtt, &["unicorn-frappe"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("rejected: unknown item"), "{out}");

    let status = up.terminate(PATIENCE);
    assert!(status.success(), "milo up exited with {status}");
}

#[test]
fn milo_runs_on_an_external_mosquitto_broker_by_configuration_only() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, mqtt) = mosquitto(dir.path());
    let up = milo_up(|| {
        let milo_conf = config_file(dir.path(), mqtt, free_port());
        let mut text = std::fs::read_to_string(&milo_conf).unwrap();
        text = text.replace("[broker]\n", "[broker]\nembedded = false\n");
        std::fs::write(&milo_conf, text).unwrap();
        milo_conf
    });
    let (code, out) = pos(mqtt, &["flat_white", "--customer", "Di"]);
    assert_eq!(code, 0, "{out}");
    assert!(up.terminate(PATIENCE).success());
}

/// A mosquitto broker on a free loopback port, once it listens; the port. Started again on
/// another port if the one picked was taken before mosquitto bound it.
fn mosquitto(dir: &Path) -> (Proc, u16) {
    let daemon = if Path::new("/usr/sbin/mosquitto").exists() {
        "/usr/sbin/mosquitto"
    } else {
        "mosquitto"
    };
    let conf = dir.join("mosquitto.conf");
    let mut broker = None;
    let listening = eventually_blocking(PATIENCE, || {
        let port = free_port();
        let text = format!("listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest stderr\n");
        std::fs::write(&conf, text).unwrap();
        // Its log (on standard error: not buffered) says "running" once its listener is open,
        // "Address already in use" before it exits otherwise.
        let script = format!("exec {daemon} -c \"$0\" 2>&1");
        let mut p = Proc::spawn(Command::new("sh").arg("-c").arg(script).arg(&conf));
        let running = p.says_before_exit(|l| l.contains(" running"));
        broker = Some((p, port)).filter(|_| running);
        running
    });
    assert!(listening, "mosquitto never listened");
    broker.unwrap()
}

#[test]
fn config_validate_names_the_bad_key_and_print_hides_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[payment]\nsuccess_rate = 7\n").unwrap();
    let out = Command::new(MILO)
        .args(["--config"])
        .arg(&bad)
        .args(["config", "validate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("payment.success_rate"));

    std::fs::write(&bad, "[brokr]\nlisten = \"127.0.0.1:1\"\n").unwrap();
    let out = Command::new(MILO)
        .args(["--config"])
        .arg(&bad)
        .arg("up")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("brokr"));

    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[mqtt]\nusername = \"store\"\npassword = \"s3cret-beans\"\n",
    )
    .unwrap();
    let out = Command::new(MILO)
        .args(["--config"])
        .arg(&good)
        .args(["config", "print"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("username = \"store\"") && !printed.contains("s3cret-beans"),
        "{printed}"
    );
    let out = Command::new(MILO)
        .env("MILO_PAYMENT__SUCCESS_RATE", "0.5")
        .args(["--config"])
        .arg(&good)
        .args(["config", "print"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("success_rate = 0.5"));
}
