//! The circuit breaker around the card processor, as a plain state machine (no clock of its
//! own, no I/O): closed → open after `failures` failures or timeouts within `window_ms` →
//! half-open once `cool_down_ms` has passed → closed after `probes` probes in a row succeed,
//! or open again (a new cool-down) at the first that fails.
//!
//! While it is not closed no charge goes to the processor: only the probes do, so no
//! customer's card is the one that finds out whether it is back.

use std::collections::VecDeque;
use std::time::Duration;

use milo_contracts::payments::BreakerState;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The breaker's settings (`[payment.breaker]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Failures (timeouts, errors) within `window_ms` that open it.
    pub failures: u32,
    /// The window failures are counted in, in milliseconds.
    pub window_ms: u64,
    /// How long it stays open before probing, in milliseconds.
    pub cool_down_ms: u64,
    /// Probes in a row that must succeed to close it.
    pub probes: u32,
    /// How long a call to the processor (charge, refund, void, probe) may take before it
    /// counts as a failure, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 3,
            window_ms: 60_000,
            cool_down_ms: 15_000,
            probes: 2,
            timeout_ms: 10_000,
        }
    }
}

impl BreakerConfig {
    /// The first setting out of bounds: its key under `payment.breaker` and why.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        let checks = [
            (self.failures >= 1, "failures", "must be at least 1"),
            (self.probes >= 1, "probes", "must be at least 1"),
            (
                (10..=3_600_000).contains(&self.window_ms),
                "window_ms",
                "must be between 10 ms and 3600000 ms (an hour)",
            ),
            (
                (10..=3_600_000).contains(&self.cool_down_ms),
                "cool_down_ms",
                "must be between 10 ms and 3600000 ms (an hour)",
            ),
            (
                (10..=600_000).contains(&self.timeout_ms),
                "timeout_ms",
                "must be between 10 ms and 600000 ms (10 minutes)",
            ),
        ];
        match checks.into_iter().find(|(ok, _, _)| !ok) {
            Some((_, key, why)) => Err((key, why)),
            None => Ok(()),
        }
    }

    /// How long a call may take.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// The breaker: its state and what it counts.
#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: BreakerState,
    failures: VecDeque<Instant>,
    opened_at: Instant,
    probes_ok: u32,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Breaker {
            config,
            state: BreakerState::Closed,
            failures: VecDeque::new(),
            opened_at: Instant::now(),
            probes_ok: 0,
        }
    }

    /// Where it stands.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// True if a charge may go to the processor.
    pub fn allows(&self) -> bool {
        self.state == BreakerState::Closed
    }

    /// A call failed or timed out at `now`: the new state if it opens. Only counted while
    /// closed (a late timeout of a call made before it opened changes nothing).
    pub fn failure(&mut self, now: Instant) -> Option<BreakerState> {
        if self.state != BreakerState::Closed {
            return None;
        }
        let window = Duration::from_millis(self.config.window_ms);
        self.failures.push_back(now);
        while self
            .failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            self.failures.pop_front();
        }
        (self.failures.len() >= self.config.failures as usize).then(|| self.open(now))
    }

    /// When the next probe is due, while open (`None` while closed or half-open: a half-open
    /// breaker probes again as soon as the last probe answered).
    pub fn probe_at(&self) -> Option<Instant> {
        (self.state == BreakerState::Open)
            .then(|| self.opened_at + Duration::from_millis(self.config.cool_down_ms))
    }

    /// The cool-down is over at `now`: half-open (the new state) if it was open.
    pub fn try_half_open(&mut self, now: Instant) -> Option<BreakerState> {
        let due = self.probe_at().is_some_and(|at| now >= at);
        due.then(|| {
            self.state = BreakerState::HalfOpen;
            self.probes_ok = 0;
            self.state
        })
    }

    /// A probe answered (`ok`) or failed at `now`: the new state if it changes.
    pub fn probed(&mut self, ok: bool, now: Instant) -> Option<BreakerState> {
        if self.state != BreakerState::HalfOpen {
            return None;
        }
        if !ok {
            return Some(self.open(now));
        }
        self.probes_ok += 1;
        (self.probes_ok >= self.config.probes).then(|| {
            self.state = BreakerState::Closed;
            self.failures.clear();
            self.state
        })
    }

    fn open(&mut self, now: Instant) -> BreakerState {
        self.state = BreakerState::Open;
        self.opened_at = now;
        self.failures.clear();
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        BreakerConfig {
            failures: 3,
            window_ms: 1000,
            cool_down_ms: 500,
            probes: 2,
            timeout_ms: 100,
        }
    }

    #[test]
    fn opens_after_failures_in_the_window_probes_and_closes() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut b = Breaker::new(config());
        // Two failures, then the window moves past them: still closed.
        assert_eq!(b.failure(ms(0)), None);
        assert_eq!(b.failure(ms(100)), None);
        assert_eq!(b.failure(ms(1100)), None);
        assert!(b.allows());
        assert_eq!(b.failure(ms(1200)), None);
        assert_eq!(b.failure(ms(1300)), Some(BreakerState::Open));
        assert!(!b.allows());
        assert_eq!(b.failure(ms(1301)), None, "counted only while closed");
        assert_eq!(b.probe_at(), Some(ms(1800)));
        assert_eq!(b.try_half_open(ms(1799)), None);
        assert_eq!(b.try_half_open(ms(1800)), Some(BreakerState::HalfOpen));
        assert!(!b.allows(), "only probes go through while half-open");
        // A failed probe opens it again for a new cool-down.
        assert_eq!(b.probed(false, ms(1900)), Some(BreakerState::Open));
        assert_eq!(b.probe_at(), Some(ms(2400)));
        assert_eq!(b.try_half_open(ms(2400)), Some(BreakerState::HalfOpen));
        assert_eq!(b.probed(true, ms(2401)), None);
        assert_eq!(b.probed(true, ms(2402)), Some(BreakerState::Closed));
        assert!(b.allows());
        assert_eq!(b.probe_at(), None);
        // Failures from before it opened are forgotten.
        assert_eq!(b.failure(ms(2403)), None);
    }

    #[test]
    fn settings_out_of_bounds_are_named() {
        assert_eq!(BreakerConfig::default().check(), Ok(()));
        let zero = BreakerConfig {
            failures: 0,
            ..config()
        };
        assert_eq!(zero.check().unwrap_err().0, "failures");
        let slow = BreakerConfig {
            timeout_ms: 0,
            ..config()
        };
        assert_eq!(slow.check().unwrap_err().0, "timeout_ms");
    }
}
