//! A service loop's ticks, sent only when something is due: the durable timers of a flow's
//! owner, a coalesced publication, a ticket to age. The task sleeps until the earliest time
//! the service asked for, instead of waking every few hundred milliseconds to find nothing,
//! so an idle store costs no CPU.
//!
//! The service says when it wants its next tick: [`Alarm::at`] while it works (an earlier
//! time wins) and [`Alarm::next`] at the end of each tick (what is due next, read from its
//! own state, or nothing). A tick is also sent every [`CEILING_MS`] whatever was asked, so a
//! time lost to a transaction that did not commit costs a delay, never a stuck order.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use crate::retry::now_ms;
use crate::Commands;

/// The longest a service goes without a tick, in milliseconds.
pub const CEILING_MS: i64 = 30_000;

#[derive(Debug, Default)]
struct Shared {
    /// When the next tick is due (ms since the epoch); none: only the ceiling's.
    next: Mutex<Option<i64>>,
    changed: Notify,
}

/// When a service's next tick is due. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct Alarm(Arc<Shared>);

impl Alarm {
    /// Sends `make()` to the service loop when a tick is due (the first at once), at most
    /// one per `gap_ms`, until the service stops.
    pub fn start<C: Send + 'static>(&self, commands: Commands<C>, gap_ms: u64, make: fn() -> C) {
        self.at(0);
        let ringing = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = ringing.ring(&commands, gap_ms, make) => {}
                () = commands.stopped() => {}
            }
        });
    }

    fn next_due(&self) -> MutexGuard<'_, Option<i64>> {
        // A poisoned lock only means a holder panicked; the time itself is whole.
        self.0.next.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A tick no later than `due_ms` (ms since the epoch).
    pub fn at(&self, due_ms: i64) {
        let mut next = self.next_due();
        if next.is_none_or(|n| due_ms < n) {
            *next = Some(due_ms);
            drop(next);
            self.0.changed.notify_one();
        }
    }

    /// A tick `in_ms` from now at the latest.
    pub fn after(&self, in_ms: u64) {
        self.at(now_ms().saturating_add(i64::try_from(in_ms).unwrap_or(i64::MAX)));
    }

    /// What is due next, as the service knows it at the end of a tick (none: nothing).
    pub fn next(&self, due_ms: Option<i64>) {
        *self.next_due() = due_ms;
        self.0.changed.notify_one();
    }

    /// When the next tick is due, if anything asked for one.
    pub fn due(&self) -> Option<i64> {
        *self.next_due()
    }

    async fn ring<C: Send + 'static>(&self, commands: &Commands<C>, gap_ms: u64, make: fn() -> C) {
        let gap = Duration::from_millis(gap_ms.max(1));
        loop {
            let changed = self.0.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let now = now_ms();
            let wait = self.due().map_or(CEILING_MS, |due| due - now);
            if wait > 0 {
                let wait = Duration::from_millis(wait.min(CEILING_MS) as u64);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = changed => continue,
                }
            }
            // This tick answers whatever was due by now; the service says what comes next.
            {
                let mut next = self.next_due();
                if next.is_some_and(|n| n <= now_ms()) {
                    *next = None;
                }
            }
            if !commands.send(make()).await {
                return;
            }
            tokio::time::sleep(gap).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_time_wins_until_the_service_says_next() {
        let alarm = Alarm::default();
        assert_eq!(alarm.due(), None);
        alarm.at(2_000);
        alarm.at(3_000);
        assert_eq!(alarm.due(), Some(2_000));
        alarm.at(1_000);
        assert_eq!(alarm.due(), Some(1_000));
        alarm.next(Some(5_000));
        assert_eq!(alarm.due(), Some(5_000));
        alarm.next(None);
        assert_eq!(alarm.due(), None);
    }

    #[tokio::test]
    async fn ticks_come_when_due_and_not_before() {
        let (commands, mut ticks) = Commands::channel();
        let alarm = Alarm::default();
        alarm.start(commands, 10, || ());
        // The first tick comes at once; then nothing is due.
        let first = tokio::time::timeout(Duration::from_secs(5), ticks.recv()).await;
        assert_eq!(first.expect("a first tick"), Some(()));
        alarm.next(None);
        let idle = tokio::time::timeout(Duration::from_millis(300), ticks.recv()).await;
        assert!(idle.is_err(), "a tick with nothing due");
        // Asked for one 50 ms from now: it comes, not before.
        let asked = now_ms();
        alarm.after(50);
        let tick = tokio::time::timeout(Duration::from_secs(5), ticks.recv()).await;
        assert_eq!(tick.expect("the tick asked for"), Some(()));
        assert!(now_ms() - asked >= 50, "came after {} ms", now_ms() - asked);
    }
}
