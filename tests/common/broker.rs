//! `milo broker` as its own process, killed and started again as systemd would.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use milo_testkit::{eventually_blocking, PATIENCE};

use super::cli::MILO;

/// `milo broker` as its own process.
pub struct Broker(Child);

impl Broker {
    /// Starts it on `port` and waits until it listens (again while a killed one's port is
    /// still held: it is tried until one stays up).
    pub fn start(file: &Path, port: u16) -> Broker {
        let mut started = None;
        let up = eventually_blocking(PATIENCE, || {
            let mut child = Command::new(MILO)
                .arg("--config")
                .arg(file)
                .arg("broker")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("milo broker");
            let listening = eventually_blocking(Duration::from_secs(10), || {
                matches!(child.try_wait(), Ok(Some(_)))
                    || TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
            let alive = matches!(child.try_wait(), Ok(None));
            if listening && alive {
                started = Some(child);
                true
            } else {
                let _ = child.kill();
                let _ = child.wait();
                false
            }
        });
        assert!(up, "milo broker never listened on {port}");
        Broker(started.unwrap())
    }

    pub fn kill(mut self) {
        self.0.kill().expect("SIGKILL the broker");
        self.0.wait().expect("the broker's exit");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
