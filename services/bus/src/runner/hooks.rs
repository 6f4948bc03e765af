//! A test hook: lose a delivery on purpose, as a broker that dropped it would (the part acks
//! it without reading it), so tests can show a gap is seen and repaired. Nothing is armed
//! unless a test calls [`lose_first`]; unarmed, the check is one atomic load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static ARMED: AtomicBool = AtomicBool::new(false);
/// Part, topic, and the text the payload to lose contains.
static LOSE: Mutex<Vec<(String, String, String)>> = Mutex::new(Vec::new());

/// Makes part `part` lose the first delivery on `topic` whose payload contains `needle` (an
/// order id, say), once (tests only).
pub fn lose_first(part: &str, topic: &str, needle: &str) {
    let mut lose = LOSE.lock().unwrap_or_else(|e| e.into_inner());
    lose.push((part.to_owned(), topic.to_owned(), needle.to_owned()));
    ARMED.store(true, Ordering::Release);
}

/// How many deliveries armed with [`lose_first`] are still to be lost.
pub fn still_to_lose() -> usize {
    LOSE.lock().unwrap_or_else(|e| e.into_inner()).len()
}

/// True if this delivery is to be lost.
pub(crate) fn lose(part: &str, topic: &str, payload: &[u8]) -> bool {
    if !ARMED.load(Ordering::Acquire) {
        return false;
    }
    let mut lose = LOSE.lock().unwrap_or_else(|e| e.into_inner());
    let text = String::from_utf8_lossy(payload);
    let Some(i) = lose
        .iter()
        .position(|(p, t, n)| p == part && t == topic && text.contains(n.as_str()))
    else {
        return false;
    };
    lose.remove(i);
    if lose.is_empty() {
        ARMED.store(false, Ordering::Release);
    }
    true
}
