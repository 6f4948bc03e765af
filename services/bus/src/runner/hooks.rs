//! A test hook: lose a delivery on purpose, as a broker that dropped it would (the part acks
//! it without reading it), so tests can show a gap is seen and repaired. Nothing is armed
//! unless a test calls [`lose_next`]; unarmed, the check is one atomic load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static ARMED: AtomicBool = AtomicBool::new(false);
/// Part, topic, how many more deliveries to lose.
static LOSE: Mutex<Vec<(String, String, u32)>> = Mutex::new(Vec::new());

/// Makes part `part` lose its next `count` deliveries on `topic` (tests only).
pub fn lose_next(part: &str, topic: &str, count: u32) {
    let mut lose = LOSE.lock().unwrap_or_else(|e| e.into_inner());
    lose.push((part.to_owned(), topic.to_owned(), count));
    ARMED.store(true, Ordering::Release);
}

/// How many deliveries armed with [`lose_next`] are still to be lost.
pub fn still_to_lose() -> u32 {
    let lose = LOSE.lock().unwrap_or_else(|e| e.into_inner());
    lose.iter().map(|(_, _, n)| n).sum()
}

/// True if this delivery is to be lost.
pub(crate) fn lose(part: &str, topic: &str) -> bool {
    if !ARMED.load(Ordering::Acquire) {
        return false;
    }
    let mut lose = LOSE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(slot) = lose
        .iter_mut()
        .find(|(p, t, n)| p == part && t == topic && *n > 0)
    else {
        return false;
    };
    slot.2 -= 1;
    lose.retain(|(_, _, n)| *n > 0);
    if lose.is_empty() {
        ARMED.store(false, Ordering::Release);
    }
    true
}
