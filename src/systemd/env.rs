//! What systemd tells the process (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`) and the
//! datagram socket back to it.

use std::ffi::OsString;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::time::Duration;

use tracing::warn;

/// Where notifications go: `NOTIFY_SOCKET`, a path or an abstract name (`@name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A socket file.
    Path(PathBuf),
    /// A Linux abstract socket name (without the `@`).
    Abstract(Vec<u8>),
}

/// What the environment asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Where to send notifications; none outside systemd.
    pub target: Option<Target>,
    /// `WATCHDOG_USEC`, when it is meant for this process.
    pub watchdog: Option<Duration>,
    /// What was set but unusable, to log.
    pub warnings: Vec<String>,
}

impl Settings {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`.
    pub fn from_env() -> Settings {
        let var = std::env::var_os;
        let (socket, usec, pid) = (
            var("NOTIFY_SOCKET"),
            var("WATCHDOG_USEC"),
            var("WATCHDOG_PID"),
        );
        Settings::parse(socket, usec, pid, std::process::id())
    }

    /// The settings for process `me` from those variables' values.
    pub fn parse(
        socket: Option<OsString>,
        usec: Option<OsString>,
        pid: Option<OsString>,
        me: u32,
    ) -> Settings {
        use std::os::unix::ffi::OsStrExt;
        let mut s = Settings::default();
        let socket = socket.filter(|v| !v.is_empty());
        s.target = socket.and_then(|v| match v.as_bytes() {
            [b'@', name @ ..] => Some(Target::Abstract(name.to_vec())),
            [b'/', ..] => Some(Target::Path(PathBuf::from(&v))),
            _ => {
                s.warnings
                    .push(format!("NOTIFY_SOCKET={v:?}: not a path or @name; ignored"));
                None
            }
        });
        let usec = usec.filter(|_| s.target.is_some());
        // A WATCHDOG_PID of another process: we inherited the variables, the pings are not ours.
        let ours = pid.is_none_or(|p| p.to_str().and_then(|p| p.parse().ok()) == Some(me));
        s.watchdog = usec.filter(|_| ours).and_then(|v| {
            match v
                .to_str()
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|u| *u > 0)
            {
                Some(u) => Some(Duration::from_micros(u)),
                None => {
                    s.warnings.push(format!(
                        "WATCHDOG_USEC={v:?}: not a positive number; no watchdog pings"
                    ));
                    None
                }
            }
        });
        s
    }
}

/// A datagram socket to systemd.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    to: SocketAddr,
}

impl Notifier {
    /// A notifier to `target`.
    pub fn new(target: &Target) -> std::io::Result<Notifier> {
        let to = match target {
            Target::Path(p) => SocketAddr::from_pathname(p)?,
            Target::Abstract(name) => SocketAddr::from_abstract_name(name)?,
        };
        Ok(Notifier {
            socket: UnixDatagram::unbound()?,
            to,
        })
    }

    /// Sends one message (`KEY=value` lines). A lost notification is not worth stopping for.
    pub fn send(&self, message: &str) {
        if let Err(e) = self.socket.send_to_addr(message.as_bytes(), &self.to) {
            warn!(error = %e, message, "Cannot notify systemd.");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<OsString> {
        Some(s.into())
    }

    #[test]
    fn no_socket_means_nothing_to_do() {
        let s = Settings::parse(None, os("400000"), None, 7);
        assert_eq!(s, Settings::default());
        assert_eq!(Settings::parse(os(""), None, None, 7), Settings::default());
    }

    #[test]
    fn a_path_or_an_abstract_name() {
        let s = Settings::parse(os("/run/systemd/notify"), os("30000000"), None, 7);
        assert_eq!(s.target, Some(Target::Path("/run/systemd/notify".into())));
        assert_eq!(s.watchdog, Some(Duration::from_secs(30)));
        let s = Settings::parse(os("@milo/notify"), None, None, 7);
        assert_eq!(s.target, Some(Target::Abstract(b"milo/notify".to_vec())));
        assert_eq!(s.watchdog, None);
        let s = Settings::parse(os("vsock:2:999"), None, None, 7);
        assert_eq!(s.target, None);
        assert!(s.warnings[0].contains("NOTIFY_SOCKET"), "{:?}", s.warnings);
    }

    #[test]
    fn the_watchdog_is_ours_only_with_our_pid() {
        let s = Settings::parse(os("@n"), os("400000"), os("7"), 7);
        assert_eq!(s.watchdog, Some(Duration::from_millis(400)));
        let s = Settings::parse(os("@n"), os("400000"), os("8"), 7);
        assert_eq!(s.watchdog, None);
        assert!(s.warnings.is_empty(), "a parent's watchdog is no surprise");
    }

    #[test]
    fn a_bad_watchdog_usec_means_no_watchdog_and_a_warning() {
        for bad in ["soon", "0", "-5", ""] {
            let s = Settings::parse(os("@n"), os(bad), None, 7);
            assert_eq!(s.watchdog, None, "{bad:?}");
            assert!(s.target.is_some());
            assert!(
                s.warnings[0].contains("WATCHDOG_USEC"),
                "{bad:?}: {:?}",
                s.warnings
            );
        }
    }

    #[test]
    fn an_abstract_socket_gets_the_messages() {
        let name = format!("milo-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let systemd = UnixDatagram::bind_addr(&addr).unwrap();
        Notifier::new(&Target::Abstract(name.into_bytes()))
            .unwrap()
            .send("READY=1");
        let mut buf = [0; 64];
        let n = systemd.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
