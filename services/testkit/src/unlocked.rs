//! Reopening a store another handle just let go of: sled's flusher keeps a dropped database,
//! and its file lock, alive for a moment, and opening it then fails on the lock.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

use crate::PATIENCE;

/// Whether `error` is sled refusing a database whose lock a handle still holds.
pub fn lock_held(error: &impl Display) -> bool {
    error.to_string().contains("could not acquire lock")
}

/// Runs `open` again while it fails on a held lock ([`PATIENCE`] at most); its result. Any
/// other error is returned at once, for the test to expect or to fail on.
pub fn when_unlocked<T, E: Display>(mut open: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match open() {
            Err(e) if lock_held(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            done => return done,
        }
    }
}

/// [`when_unlocked`] for an `open` that is async (a whole store, say).
pub async fn when_unlocked_async<T, E, F, Fut>(mut open: F) -> Result<T, E>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        match open().await {
            Err(e) if lock_held(&e) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            done => return done,
        }
    }
}
