//! Debian's mosquitto, with persistence, as the store's broker: the core tests run on it too
//! when `TEST_BROKER=mosquitto` (`.ci/test` runs them a second time so), with
//! `broker.embedded = false` and nothing else changed (issue 17: the broker you have).

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use milo::MiloConfig;
use milo_testkit::{eventually_blocking, free_port, PATIENCE};

/// A mosquitto process on a free loopback port, with its own persistence directory; killed
/// on drop.
pub struct Mosquitto {
    child: Child,
    /// Its port.
    pub port: u16,
    _dir: tempfile::TempDir,
}

/// True when the tests are asked to run on mosquitto.
pub fn wanted() -> bool {
    std::env::var("TEST_BROKER").is_ok_and(|b| b == "mosquitto")
}

/// With `TEST_BROKER=mosquitto`, starts one and points `config` at it (no embedded
/// broker); otherwise nothing.
pub fn external(config: &mut MiloConfig) -> Option<Mosquitto> {
    if !wanted() {
        return None;
    }
    let m = Mosquitto::start();
    config.broker.embedded = false;
    config.broker.listen = ([127, 0, 0, 1], m.port).into();
    config.mqtt.address = format!("127.0.0.1:{}", m.port);
    Some(m)
}

/// The daemon: Debian installs it in /usr/sbin.
fn daemon() -> &'static str {
    if Path::new("/usr/sbin/mosquitto").exists() {
        "/usr/sbin/mosquitto"
    } else {
        "mosquitto"
    }
}

impl Mosquitto {
    /// Starts one and waits until it listens (on another port if the one picked was taken).
    pub fn start() -> Mosquitto {
        let dir = tempfile::tempdir().unwrap();
        let mut started = None;
        let up = eventually_blocking(PATIENCE, || {
            let port = free_port();
            let conf = dir.path().join("mosquitto.conf");
            // Persistence on, as on a Pi; anonymous clients (mosquitto reads no Milo
            // credentials: parts connect with theirs and are let in); queues deep enough
            // for a test's bursts.
            let text = format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
                 persistence_location {}/\nmax_queued_messages 100000\nlog_dest none\n",
                dir.path().display()
            );
            std::fs::write(&conf, text).unwrap();
            let mut child = Command::new(daemon())
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("mosquitto (.ci/install-deps installs it)");
            let listening = eventually_blocking(Duration::from_secs(5), || {
                matches!(child.try_wait(), Ok(Some(_)))
                    || TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
            if listening && matches!(child.try_wait(), Ok(None)) {
                started = Some((child, port));
                true
            } else {
                let _ = child.kill();
                let _ = child.wait();
                false
            }
        });
        assert!(up, "mosquitto never listened");
        let (child, port) = started.unwrap();
        Mosquitto {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
