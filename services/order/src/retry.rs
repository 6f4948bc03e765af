//! Durable timers: the order service owns each order's flow and asks again when a step has no
//! answer in time.
//!
//! A timer is a key `timer/<due ms>/<order>` in the order service's own store, so timers
//! survive restarts and sort by due time. While an order waits for payment and stock, the order
//! service publishes `orders/created` again (a new event, same order id and data) with
//! exponential backoff and jitter; payment and inventory answer a repeat with the outcome they
//! recorded. A ready order not prepared in time gets `orders/ready` again. After the last
//! attempt the order fails with a reason: never left hanging. A failed order gets
//! `orders/failed` again until payment and inventory both confirm what they gave back.

use rand::Rng;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Retry policy (`[order.retry]`).
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
    /// How often due timers are looked at, in milliseconds.
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

/// What an order is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// Payment and stock answers to `orders/created`.
    Answers,
    /// `orders/prepared` after `orders/ready`.
    Prepared,
    /// Payment and inventory confirming they undid their part of a failed order.
    Compensate,
}

/// A pending timer, as recorded on the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    /// Its key in the store.
    pub key: String,
    /// What it waits for.
    pub step: Step,
    /// Attempts made so far for this step.
    pub attempt: u32,
}

/// Prefix of every timer key.
pub const TIMER_PREFIX: &str = "timer/";

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl RetryConfig {
    /// The wait before attempt `attempt + 1` of `step`, with jitter.
    pub fn delay_ms(&self, step: Step, attempt: u32) -> u64 {
        let base = match step {
            Step::Answers | Step::Compensate => self
                .first_ms
                .saturating_mul(1 << attempt.min(20))
                .min(self.max_ms),
            Step::Prepared => self.prepare_secs.saturating_mul(1000),
        };
        let spread = self.jitter.clamp(0.0, 1.0);
        let factor = 1.0 + rand::thread_rng().gen_range(-spread..=spread);
        (base as f64 * factor).max(1.0) as u64
    }

    /// A new timer for `order` at `attempt` of `step`.
    pub fn timer(&self, order: Uuid, step: Step, attempt: u32) -> Timer {
        let due = now_ms() + self.delay_ms(step, attempt) as i64;
        Timer {
            key: format!("{TIMER_PREFIX}{due:016}/{order}"),
            step,
            attempt,
        }
    }
}

/// The key prefix of timers due by `now` (for a range scan) and the parsed parts of a key.
pub fn due_by(key_tail: &str, now: i64) -> Option<Uuid> {
    let (due, order) = key_tail.split_once('/')?;
    (due.parse::<i64>().ok()? <= now).then_some(())?;
    order.parse().ok()
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
            let d = c.delay_ms(Step::Answers, attempt);
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
        let t = c.timer(id, Step::Answers, 0);
        let tail = t.key.strip_prefix(TIMER_PREFIX).unwrap();
        assert_eq!(due_by(tail, i64::MAX), Some(id));
        assert_eq!(due_by(tail, 0), None);
        assert!(format!("{:016}", 999) < format!("{:016}", 1000));
    }
}
