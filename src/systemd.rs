//! systemd's notify protocol (`sd_notify`) in plain std: `READY=1` once the process's parts are
//! connected and subscribed, `WATCHDOG=1` every `WATCHDOG_USEC / 2` *only while they are
//! healthy*, `STATUS=` saying why the pings stopped and when they resume, `STOPPING=1` on
//! shutdown. Without `NOTIFY_SOCKET` (a terminal, a test) nothing happens.
//!
//! A ping that only says "the process is alive" would miss what goes wrong here: a part cut
//! off from the broker, a store whose fsync never returns, a broker whose router thread died.
//! So each [`Check`] vouches for one of them, and a missed `WatchdogSec=` makes systemd restart
//! the process.

use std::sync::Arc;
use std::time::Duration;

use milo_bus::{ShutdownTrigger, Store};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::shop::Part;

mod env;
pub use env::{Notifier, Settings, Target};

/// A store whose `sync` runs longer than this is stalled (an SD card can take seconds; a
/// disk that stopped answering takes forever).
pub const STORE_STALL: Duration = Duration::from_secs(10);
/// How often health is looked at when systemd set no watchdog (for `STATUS=`).
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// One thing the process vouches for.
#[derive(Debug, Clone)]
pub struct Check {
    name: String,
    ready: watch::Receiver<bool>,
    store: Option<Store>,
    /// Why it is not ready: before it ever was, and after.
    waiting: &'static str,
    lost: &'static str,
}

impl Check {
    /// A part: healthy while both its MQTT links are up and subscribed and its store is not
    /// stalled.
    pub fn part(part: &Part) -> Check {
        Check {
            name: part.name.clone(),
            ready: part.ready.clone(),
            store: Some(part.store.clone()),
            waiting: "connecting to the broker",
            lost: "broker connection lost",
        }
    }

    /// The embedded broker: healthy while its watchdog's last round trip came back.
    pub fn broker(verdict: watch::Receiver<bool>) -> Check {
        Check {
            name: "broker".into(),
            ready: verdict,
            store: None,
            waiting: "waiting for the first broker round trip",
            lost: "broker round trip failed",
        }
    }

    /// What it vouches for: a part's name, or `broker`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Why it is unhealthy, if it is; `seen` says whether it has been ready before.
    pub(crate) fn verdict(&self, seen: &mut bool) -> Option<String> {
        if !*self.ready.borrow() {
            return Some(if *seen { self.lost } else { self.waiting }.to_owned());
        }
        *seen = true;
        self.store.as_ref()?.health(STORE_STALL).err()
    }
}

/// The notifying task, if systemd asked for one.
#[derive(Debug)]
pub struct Supervisor {
    task: Option<JoinHandle<()>>,
    stop: ShutdownTrigger,
}

impl Supervisor {
    /// Starts notifying systemd about `checks` (nothing without `NOTIFY_SOCKET`): `READY=1`
    /// with `STATUS=<ready>` once every check passes, then pings while they all do.
    pub fn start(
        settings: &Settings,
        checks: Vec<Check>,
        ready: String,
        stop: &ShutdownTrigger,
    ) -> Supervisor {
        for w in &settings.warnings {
            warn!("systemd: {w}");
        }
        let notifier = settings.target.as_ref().map(|t| (t, Notifier::new(t)));
        let task = match notifier {
            Some((_, Ok(n))) => {
                info!(watchdog = ?settings.watchdog, "Notifying systemd.");
                let shutdown = stop.clone();
                Some(tokio::spawn(supervise(
                    n,
                    settings.watchdog,
                    checks,
                    ready,
                    shutdown,
                )))
            }
            Some((target, Err(e))) => {
                warn!(?target, error = %e, "Cannot reach systemd's notify socket.");
                None
            }
            None => None,
        };
        Supervisor {
            task,
            stop: stop.clone(),
        }
    }

    /// Fires the shutdown (if nothing else has) and waits until `STOPPING=1` is sent.
    pub async fn stopped(self) {
        self.stop.trigger();
        if let Some(task) = self.task {
            let _ = task.await;
        }
    }
}

async fn supervise(
    notifier: Notifier,
    watchdog: Option<Duration>,
    checks: Vec<Check>,
    ready: String,
    stop: ShutdownTrigger,
) {
    let mut shutdown = stop.subscribe();
    // A change of any check is looked at at once (STATUS=); pings keep to the tick.
    let changed = Arc::new(Notify::new());
    let forwarders: Vec<_> = checks
        .iter()
        .map(|c| forward(c.ready.clone(), changed.clone()))
        .collect();
    let mut every = tokio::time::interval(watchdog.map_or(STATUS_EVERY, |w| w / 2));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut state = State {
        seen: vec![false; checks.len()],
        ready_sent: false,
        unhealthy: None,
    };
    loop {
        let tick = tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            _ = every.tick() => true,
            _ = changed.notified() => false,
        };
        for message in state.step(&checks, &ready, tick && watchdog.is_some()) {
            notifier.send(&message);
        }
    }
    forwarders.iter().for_each(JoinHandle::abort);
    notifier.send("STOPPING=1\nSTATUS=stopping");
}

/// Wakes `changed` whenever `ready` changes, until its sender is gone.
fn forward(mut ready: watch::Receiver<bool>, changed: Arc<Notify>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while ready.changed().await.is_ok() {
            changed.notify_one();
        }
    })
}

/// What was told to systemd so far.
struct State {
    /// Per check: ready at least once.
    seen: Vec<bool>,
    ready_sent: bool,
    /// The STATUS last sent for an unhealthy process.
    unhealthy: Option<String>,
}

impl State {
    /// The messages to send now; `ping` on a watchdog tick.
    fn step(&mut self, checks: &[Check], ready: &str, ping: bool) -> Vec<String> {
        match (health(checks, &mut self.seen), self.ready_sent) {
            (Ok(()), false) => {
                self.ready_sent = true;
                self.unhealthy = None;
                vec![format!("READY=1\nSTATUS={ready}")]
            }
            (Ok(()), true) if self.unhealthy.take().is_some() => {
                vec![format!("WATCHDOG=1\nSTATUS=healthy again: {ready}")]
            }
            (Ok(()), true) if ping => vec!["WATCHDOG=1".to_owned()],
            (Ok(()), true) => Vec::new(),
            (Err(why), sent) if self.unhealthy.as_ref() != Some(&why) => {
                let status = if sent {
                    format!("STATUS=watchdog pings stopped: {why}")
                } else {
                    format!("STATUS=starting: {why}")
                };
                self.unhealthy = Some(why);
                vec![status]
            }
            (Err(_), _) => Vec::new(),
        }
    }
}

/// `Err` with every reason, each naming its parts when there are several checks.
fn health(checks: &[Check], seen: &mut [bool]) -> Result<(), String> {
    let mut reasons: Vec<(String, Vec<&str>)> = Vec::new();
    for (check, seen) in checks.iter().zip(seen) {
        let Some(why) = check.verdict(seen) else {
            continue;
        };
        match reasons.iter_mut().find(|(w, _)| *w == why) {
            Some((_, names)) => names.push(&check.name),
            None => reasons.push((why, vec![&check.name])),
        }
    }
    if reasons.is_empty() {
        return Ok(());
    }
    let named = checks.len() > 1;
    let text: Vec<String> = reasons
        .into_iter()
        .map(|(why, names)| {
            if named {
                format!("{why} ({})", names.join(", "))
            } else {
                why
            }
        })
        .collect();
    Err(text.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, ready: &watch::Sender<bool>) -> Check {
        let mut c = Check::broker(ready.subscribe());
        c.name = name.into();
        c
    }

    #[test]
    fn ready_once_then_pings_only_while_healthy() {
        let (a, b) = (watch::channel(false).0, watch::channel(false).0);
        let checks = [check("order", &a), check("payment", &b)];
        let mut state = State {
            seen: vec![false; 2],
            ready_sent: false,
            unhealthy: None,
        };
        let mut step = |ping| state.step(&checks, "open", ping);
        let waiting = "STATUS=starting: waiting for the first broker round trip (order, payment)";
        assert_eq!(step(true), [waiting]);
        assert!(step(true).is_empty(), "the same status once");
        a.send_replace(true);
        b.send_replace(true);
        assert_eq!(step(false), ["READY=1\nSTATUS=open"]);
        assert_eq!(step(true), ["WATCHDOG=1"]);
        assert!(step(false).is_empty(), "pings keep to the tick");
        b.send_replace(false);
        let lost = "STATUS=watchdog pings stopped: broker round trip failed (payment)";
        assert_eq!(step(true), [lost]);
        assert!(step(true).is_empty(), "no ping while unhealthy");
        b.send_replace(true);
        assert_eq!(step(false), ["WATCHDOG=1\nSTATUS=healthy again: open"]);
        assert_eq!(step(true), ["WATCHDOG=1"]);
    }
}
