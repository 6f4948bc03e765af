//! Durable timers for the owner of an order's flow (the order service in choreography, the
//! saga coordinator in orchestration): ask again with backoff and jitter, give up after the
//! last attempt, and never leave an order hanging.
//!
//! A timer is a key `timer/<due ms>/<order>` in the owner's own store, so timers survive
//! restarts and sort by due time. The owner records the pending [`Timer`] on its order record
//! and ignores a due key that is no longer the recorded one.
use rand::Rng;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Alarm, StoreError, Tx};

/// Retry policy (`[order.retry]`, `[saga.retry]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// First wait for payment and stock, in milliseconds.
    pub first_ms: u64,
    /// Longest wait between two attempts, in milliseconds.
    pub max_ms: u64,
    /// Attempts before the order fails (the first publication counts).
    pub attempts: u32,
    /// Random spread of each wait, as a fraction (0.2 = ±20%).
    pub jitter: f64,
    /// How long a ready order may take to be prepared before it is asked again, in seconds.
    pub prepare_secs: u64,
    /// The least time between two looks at due timers, in milliseconds (they are looked at
    /// when the earliest is due, not polled).
    pub tick_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            first_ms: 3_000,
            max_ms: 60_000,
            attempts: 6,
            jitter: 0.2,
            prepare_secs: 900,
            tick_ms: 250,
        }
    }
}

/// How long a step may take before it is asked again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// A quick answer (payment, stock, compensation): exponential backoff from `first_ms`.
    Backoff,
    /// A drink to make: `prepare_secs`.
    Prepare,
}

/// A pending timer, as recorded on the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer<S> {
    /// Its key in the store.
    pub key: String,
    /// What it waits for.
    pub step: S,
    /// Attempts made so far for this step.
    pub attempt: u32,
}

impl<S> Timer<S> {
    /// When it is due (ms since the epoch), read from its key.
    pub fn due_ms(&self) -> Option<i64> {
        due_of(self.key.strip_prefix(TIMER_PREFIX)?)
    }
}

/// Prefix of every timer key.
pub const TIMER_PREFIX: &str = "timer/";

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl RetryConfig {
    /// The wait before attempt `attempt + 1`, with jitter.
    pub fn delay_ms(&self, wait: Wait, attempt: u32) -> u64 {
        let base = match wait {
            Wait::Backoff => self
                .first_ms
                .saturating_mul(1 << attempt.min(20))
                .min(self.max_ms),
            Wait::Prepare => self.prepare_secs.saturating_mul(1000),
        };
        let spread = self.jitter.clamp(0.0, 1.0);
        let factor = 1.0 + rand::thread_rng().gen_range(-spread..=spread);
        (base as f64 * factor).max(1.0) as u64
    }

    /// A new timer for `order` at `attempt` of `step`.
    pub fn timer<S>(&self, order: Uuid, step: S, wait: Wait, attempt: u32) -> Timer<S> {
        let due = now_ms() + self.delay_ms(wait, attempt) as i64;
        Timer {
            key: format!("{TIMER_PREFIX}{due:016}/{order}"),
            step,
            attempt,
        }
    }
}

/// When a timer key's tail (after [`TIMER_PREFIX`]) is due, in ms since the epoch.
pub fn due_of(key_tail: &str) -> Option<i64> {
    key_tail.split_once('/')?.0.parse().ok()
}

/// The order of a timer key's tail (after [`TIMER_PREFIX`]) if it is due by `now`.
pub fn due_by(key_tail: &str, now: i64) -> Option<Uuid> {
    (due_of(key_tail)? <= now).then_some(())?;
    key_tail.split_once('/')?.1.parse().ok()
}

/// Takes the timers due now out of the store (at most 256 per call): each order and the key
/// that fired, for the owner to compare with the timer it recorded.
pub fn take_due(tx: &mut Tx) -> Result<Vec<(Uuid, String)>, StoreError> {
    let now = now_ms();
    let mut due = Vec::new();
    for (tail, ()) in tx.scan::<()>(TIMER_PREFIX, 256)? {
        let Some(id) = due_by(&tail, now) else {
            break;
        };
        let key = format!("{TIMER_PREFIX}{tail}");
        tx.remove(&key);
        due.push((id, key));
    }
    Ok(due)
}

/// When the earliest timer in the store (this group's writes included) is due, if any.
pub fn next_due(tx: &Tx) -> Result<Option<i64>, StoreError> {
    let first = tx.scan::<()>(TIMER_PREFIX, 1)?;
    Ok(first.first().and_then(|(tail, ())| due_of(tail)))
}

/// Replaces `slot`'s pending timer with `next` (step, wait, attempt), keeping the keys in the
/// store in step, and asks `alarm` for a tick when it is due. The caller writes the record
/// that holds `slot`.
pub fn set_timer<S>(
    tx: &mut Tx,
    config: &RetryConfig,
    alarm: &Alarm,
    order: Uuid,
    slot: &mut Option<Timer<S>>,
    next: Option<(S, Wait, u32)>,
) {
    if let Some(old) = slot.take() {
        tx.remove(&old.key);
    }
    if let Some((step, wait, attempt)) = next {
        let timer = config.timer(order, step, wait, attempt);
        if let Some(due) = timer.due_ms() {
            alarm.at(due);
        }
        tx.put(&timer.key, &());
        *slot = Some(timer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let c = RetryConfig {
            first_ms: 100,
            max_ms: 1_000,
            jitter: 0.2,
            ..RetryConfig::default()
        };
        for attempt in 0..8 {
            let d = c.delay_ms(Wait::Backoff, attempt);
            let base = (100u64 << attempt).min(1_000) as f64;
            assert!(
                (base * 0.8..=base * 1.2).contains(&(d as f64)),
                "attempt {attempt}: {d}"
            );
        }
    }

    #[test]
    fn timer_keys_sort_by_due_time_and_parse_back() {
        let c = RetryConfig::default();
        let id = Uuid::now_v7();
        let t = c.timer(id, (), Wait::Backoff, 0);
        let tail = t.key.strip_prefix(TIMER_PREFIX).unwrap();
        assert_eq!(due_by(tail, i64::MAX), Some(id));
        assert_eq!(due_by(tail, 0), None);
        assert_eq!(
            t.due_ms().map(|d| d.to_string()),
            tail.split_once('/')
                .map(|(d, _)| d.trim_start_matches('0').to_owned())
        );
        assert!(format!("{:016}", 999) < format!("{:016}", 1000));
    }
}
