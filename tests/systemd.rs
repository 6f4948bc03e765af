//! systemd's notify protocol as systemd sees it: the real `milo` started with `NOTIFY_SOCKET`
//! pointing at a datagram socket of the test and a short `WATCHDOG_USEC`. Readiness, pings
//! only while healthy, the status saying why they stopped, `STOPPING=1` on SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use milo_testkit::{config_file, eventually_blocking, free_port, PATIENCE};

const MILO: &str = env!("CARGO_BIN_EXE_milo");
/// systemd's `WatchdogSec=` as the process sees it: pings every 200 ms.
const WATCHDOG_USEC: &str = "400000";
const LIMIT: Duration = PATIENCE;

/// A notify socket: every datagram milo sends, in order.
struct Systemd {
    path: PathBuf,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Systemd {
    fn bind(dir: &Path, name: &str) -> Systemd {
        let path = dir.join(name);
        let socket = UnixDatagram::bind(&path).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0; 4096];
            while let Ok(n) = socket.recv(&mut buf) {
                let message = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().unwrap().push(message);
            }
        });
        Systemd { path, seen }
    }

    fn messages(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits for a message (after the first `from`) with a line that satisfies `pred`; its index.
    fn wait_for(&self, what: &str, from: usize, pred: impl Fn(&str) -> bool) -> usize {
        let mut found = None;
        let seen = eventually_blocking(LIMIT, || {
            found = self
                .messages()
                .iter()
                .skip(from)
                .position(|m| m.lines().any(&pred));
            found.is_some()
        });
        assert!(
            seen,
            "no {what} after message {from}; got {:?}",
            self.messages()
        );
        from + found.unwrap()
    }

    /// Waits for `n` watchdog pings after message `from`; the index of the last.
    fn wait_pings(&self, n: usize, from: usize) -> usize {
        (0..n).fold(from, |at, _| self.wait_for("WATCHDOG=1", at + 1, is_ping))
    }
}

fn is_ping(line: &str) -> bool {
    line == "WATCHDOG=1"
}

/// A child `milo` with stdout and stderr discarded; killed on drop.
struct Milo(Child);

impl Milo {
    fn start(config: &Path, args: &[&str], systemd: Option<&Systemd>) -> Milo {
        let mut cmd = Command::new(MILO);
        cmd.arg("--config").arg(config).args(args);
        // The broker's probe every second: health changes show within the test's deadlines.
        cmd.env("MILO_BROKER__WATCHDOG_SECS", "1");
        // The test itself may run under systemd: only what the test gives goes through.
        cmd.env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID");
        if let Some(s) = systemd {
            cmd.env("NOTIFY_SOCKET", &s.path)
                .env("WATCHDOG_USEC", WATCHDOG_USEC);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Milo(child)
    }

    fn signal(&self, signal: &str) {
        let pid = self.0.id().to_string();
        assert!(Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success());
    }

    fn exited(&mut self) -> bool {
        self.0.try_wait().unwrap().is_some()
    }

    /// Whether it says READY=1 to `systemd` (after message `from`) before it exits; waits.
    fn ready_before_exit(&mut self, systemd: &Systemd, from: usize) -> bool {
        let ready = |s: &Systemd| {
            s.messages()
                .iter()
                .skip(from)
                .any(|m| m.lines().any(|l| l == "READY=1"))
        };
        eventually_blocking(LIMIT, || ready(systemd) || self.exited());
        ready(systemd)
    }

    /// SIGTERM; the exit status once it stopped.
    fn terminate(mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        assert!(
            eventually_blocking(LIMIT, || self.exited()),
            "did not stop on SIGTERM"
        );
        self.0.wait().unwrap()
    }
}

impl Drop for Milo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The test configuration on free loopback ports (milo_testkit::config_file).
fn config(dir: &Path, mqtt: u16) -> PathBuf {
    config_file(dir, mqtt, free_port())
}

/// Starts `milo ARGS` on a configuration `config` writes, once it says READY=1 to `systemd`;
/// with that configuration. A free port may be taken by another test before milo binds it:
/// then it exits, and it is started again on a configuration written anew.
fn start_ready(
    mut config: impl FnMut() -> PathBuf,
    args: &[&str],
    systemd: &Systemd,
) -> (Milo, PathBuf) {
    let mut started = None;
    let ready = eventually_blocking(LIMIT, || {
        let (from, file) = (systemd.messages().len(), config());
        let mut milo = Milo::start(&file, args, Some(systemd));
        let ready = milo.ready_before_exit(systemd, from);
        started = Some((milo, file)).filter(|_| ready);
        ready
    });
    assert!(
        ready,
        "milo {args:?} never said READY=1: {:?}",
        systemd.messages()
    );
    started.unwrap()
}

#[test]
fn milo_up_is_ready_pings_while_healthy_and_says_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let systemd = Systemd::bind(dir.path(), "notify");
    let (up, _) = start_ready(|| config(dir.path(), free_port()), &["up"], &systemd);

    let ready = systemd.wait_for("READY=1", 0, |l| l == "READY=1");
    assert!(systemd.messages()[ready].contains("STATUS=open: MQTT on"));
    systemd.wait_pings(3, ready);
    assert!(up.terminate().success());
    systemd.wait_for("STOPPING=1", ready, |l| l == "STOPPING=1");
}

#[test]
fn a_service_stops_pinging_while_the_broker_is_gone_and_resumes_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let broker_systemd = Systemd::bind(dir.path(), "broker-notify");
    let (first, config) = start_ready(
        || config(dir.path(), free_port()),
        &["broker"],
        &broker_systemd,
    );
    let ready = broker_systemd.wait_for("broker READY=1", 0, |l| l == "READY=1");
    broker_systemd.wait_pings(2, ready);

    let systemd = Systemd::bind(dir.path(), "order-notify");
    let order = Milo::start(&config, &["service", "order"], Some(&systemd));
    let ready = systemd.wait_for("READY=1", 0, |l| l == "READY=1");
    let pinged = systemd.wait_pings(3, ready);

    first.signal("-KILL");
    let lost = systemd.wait_for("broker lost", pinged, |l| {
        l.starts_with("STATUS=") && l.contains("broker connection lost")
    });
    let before_restart = systemd.messages().len();
    // On the same port, again while the killed broker's port is still held (it exits then).
    let second_systemd = Systemd::bind(dir.path(), "broker2-notify");
    let _second = start_ready(|| config.clone(), &["broker"], &second_systemd);
    let back = systemd.wait_for("healthy again", lost, |l| {
        l.starts_with("STATUS=healthy again")
    });
    // Not one ping from the status saying why until the broker was back and reconnected to.
    let next_ping = systemd.wait_for("a ping again", lost, is_ping);
    assert_eq!(next_ping, back, "{:?}", systemd.messages());
    assert!(back >= before_restart, "{:?}", systemd.messages());
    systemd.wait_pings(2, back);
    assert!(order.terminate().success());
    systemd.wait_for("STOPPING=1", back, |l| l == "STOPPING=1");
}
