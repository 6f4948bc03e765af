//! Outages of the simulated card processor, so tests and demos can cut it: local wall-clock
//! windows (`payment.outages = ["10:00-10:05"]`) and a switch file
//! (`payment.outage_switch`: while that file exists, the processor is cut). During an outage
//! the simulated processor answers nothing, like a shop whose internet line is dead: every
//! call hangs until the caller's timeout.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

/// A clock giving the shop's local time of day, in seconds since local midnight.
pub type LocalClock = Arc<dyn Fn() -> u32 + Send + Sync>;

/// A window refused by [`Window::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a window: write it \"HH:MM-HH:MM\" (or with seconds, \"HH:MM:SS-HH:MM:SS\"), start and end different, 24-hour local time")]
pub struct BadWindow(pub String);

/// One outage window in local time of day: from `start` (included) to `end` (excluded),
/// in seconds since midnight; past midnight when `end` is before `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    start: u32,
    end: u32,
}

impl Window {
    /// True if the local time of day `secs` falls within the window.
    pub fn contains(&self, secs: u32) -> bool {
        if self.start <= self.end {
            (self.start..self.end).contains(&secs)
        } else {
            secs >= self.start || secs < self.end
        }
    }
}

/// `HH:MM` or `HH:MM:SS` as seconds since midnight.
fn time_of_day(s: &str) -> Option<u32> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let mut n = [0u32; 3];
    for (slot, p) in n.iter_mut().zip(&parts) {
        *slot = p.parse().ok()?;
    }
    let [h, m, s] = n;
    (h < 24 && m < 60 && s < 60).then_some(h * 3600 + m * 60 + s)
}

impl FromStr for Window {
    type Err = BadWindow;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadWindow(s.to_owned());
        let (start, end) = s.split_once('-').ok_or_else(bad)?;
        let (start, end) = (
            time_of_day(start).ok_or_else(bad)?,
            time_of_day(end).ok_or_else(bad)?,
        );
        if start == end {
            return Err(bad());
        }
        Ok(Window { start, end })
    }
}

/// Reads every window of `payment.outages`; the first bad one with its index.
pub fn windows(list: &[String]) -> Result<Vec<Window>, (usize, BadWindow)> {
    list.iter()
        .enumerate()
        .map(|(i, w)| w.parse().map_err(|e| (i, e)))
        .collect()
}

/// When the simulated processor is cut.
#[derive(Clone)]
pub struct Outages {
    windows: Vec<Window>,
    switch: Option<PathBuf>,
    clock: LocalClock,
}

impl std::fmt::Debug for Outages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outages")
            .field("windows", &self.windows)
            .field("switch", &self.switch)
            .finish_non_exhaustive()
    }
}

impl Outages {
    /// Outages in `windows` (local time by `clock`) and while the file `switch` exists.
    pub fn new(windows: Vec<Window>, switch: Option<PathBuf>, clock: LocalClock) -> Self {
        Outages {
            windows,
            switch,
            clock,
        }
    }

    /// True if the processor is cut right now.
    pub fn now(&self) -> bool {
        if self.switch.as_ref().is_some_and(|p| p.exists()) {
            return true;
        }
        if self.windows.is_empty() {
            return false;
        }
        let secs = (self.clock)();
        self.windows.iter().any(|w| w.contains(secs))
    }
}

/// The time of day in UTC, for a simulation given no shop clock.
pub fn utc_clock() -> LocalClock {
    Arc::new(|| {
        let t = time::OffsetDateTime::now_utc().time();
        u32::from(t.hour()) * 3600 + u32::from(t.minute()) * 60 + u32::from(t.second())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_and_wrap_past_midnight() {
        let w: Window = "10:00-10:05".parse().unwrap();
        assert!(w.contains(10 * 3600));
        assert!(w.contains(10 * 3600 + 299));
        assert!(!w.contains(10 * 3600 + 300));
        assert!(!w.contains(9 * 3600 + 3599));
        let night: Window = "23:59:30-00:00:10".parse().unwrap();
        assert!(night.contains(86_399) && night.contains(5) && !night.contains(10));
        for bad in [
            "",
            "10:00",
            "10-11",
            "25:00-26:00",
            "10:00-10:00",
            "1:00-2:00",
            "a:bc-10:00",
        ] {
            assert_eq!(bad.parse::<Window>(), Err(BadWindow(bad.into())), "{bad:?}");
        }
        let list = vec!["08:00-08:10".to_owned(), "nope".to_owned()];
        assert_eq!(windows(&list).unwrap_err().0, 1);
    }

    #[test]
    fn cut_in_a_window_or_while_the_switch_file_exists() {
        let dir = std::env::temp_dir().join(format!("milo-outage-{}", uuid::Uuid::now_v7()));
        let at = |secs: u32| -> LocalClock { Arc::new(move || secs) };
        let w = windows(&["10:00-10:05".into()]).unwrap();
        assert!(Outages::new(w.clone(), None, at(36_000)).now());
        assert!(!Outages::new(w, None, at(30_000)).now());
        let switched = Outages::new(Vec::new(), Some(dir.clone()), at(0));
        assert!(!switched.now());
        std::fs::write(&dir, b"").unwrap();
        assert!(switched.now());
        std::fs::remove_file(&dir).unwrap();
        assert!(!switched.now());
    }

    #[tokio::test]
    async fn the_simulated_processor_answers_nothing_while_cut() {
        use crate::gateway::{Gateway, SimulatedGateway};
        let switch = std::env::temp_dir().join(format!("milo-cut-{}", uuid::Uuid::now_v7()));
        let config = crate::Config {
            min_latency_ms: 0,
            max_latency_ms: 0,
            outage_switch: Some(switch.clone()),
            ..crate::Config::default()
        };
        let g = SimulatedGateway::new(config);
        let soon = std::time::Duration::from_millis(30);
        assert_eq!(tokio::time::timeout(soon, g.probe()).await, Ok(true));
        std::fs::write(&switch, b"").unwrap();
        let id = uuid::Uuid::now_v7();
        assert!(tokio::time::timeout(soon, g.charge(id, 100)).await.is_err());
        assert!(tokio::time::timeout(soon, g.probe()).await.is_err());
        assert!(tokio::time::timeout(soon, g.void(id)).await.is_err());
        std::fs::remove_file(&switch).unwrap();
        assert!(tokio::time::timeout(soon, g.charge(id, 100)).await.is_ok());
    }
}
