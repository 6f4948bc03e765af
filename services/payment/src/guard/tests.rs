use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use milo_contracts::payments::BreakerState;

use super::*;

/// A processor that answers at once, or nothing at all while `down`.
#[derive(Default)]
struct Line {
    down: AtomicBool,
}

impl Line {
    fn answer<T: Send + 'static>(&self, value: T) -> GatewayFuture<T> {
        if self.down.load(Ordering::SeqCst) {
            Box::pin(std::future::pending())
        } else {
            Box::pin(std::future::ready(value))
        }
    }
}

impl Gateway for Line {
    fn charge(&self, order_id: Uuid, _amount_cents: u64) -> GatewayFuture<ChargeResult> {
        let transaction_id = order_id.to_string();
        self.answer(ChargeResult::Approved { transaction_id })
    }
    fn refund(&self, _: Uuid, _: String, _: u64) -> GatewayFuture<()> {
        self.answer(())
    }
    fn void(&self, _: Uuid) -> GatewayFuture<()> {
        self.answer(())
    }
    fn probe(&self) -> GatewayFuture<bool> {
        self.answer(true)
    }
}

fn guard(line: &Arc<Line>) -> (Guard<Line>, tokio::sync::mpsc::Receiver<Command>) {
    let config = BreakerConfig {
        failures: 2,
        window_ms: 10_000,
        cool_down_ms: 1_000,
        probes: 2,
        timeout_ms: 500,
    };
    let mut guard = Guard::new(line.clone(), config);
    let (commands, rx) = Commands::channel();
    guard.connect(commands);
    tokio::spawn(guard.clone().probe_forever());
    (guard, rx)
}

/// The next state change the guard sent to the service loop.
async fn next_state(rx: &mut tokio::sync::mpsc::Receiver<Command>) -> BreakerState {
    loop {
        if let Some(Command::Breaker { state, .. }) = rx.recv().await {
            return state;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn opens_after_timeouts_refuses_at_once_then_probes_and_closes() {
    let line = Arc::new(Line::default());
    let (guard, mut rx) = guard(&line);
    line.down.store(true, Ordering::SeqCst);
    let start = Instant::now();
    // Three charges in flight: the first two time out and open it; the third is given up
    // when it opens, before its own timeout.
    let charges: Vec<_> = [0, 300, 400]
        .map(|after| {
            let guard = guard.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(after)).await;
                let result = guard.charge(Uuid::now_v7(), 100).await;
                (result, start.elapsed())
            })
        })
        .into_iter()
        .collect();
    let mut ended = Vec::new();
    for c in charges {
        let (result, at) = c.await.unwrap();
        assert_eq!(result, Guarded::Unavailable { asked: true });
        ended.push(at.as_millis());
    }
    assert_eq!(ended, [500, 800, 800]);
    assert_eq!(next_state(&mut rx).await, BreakerState::Open);
    // Open: refused at once, the processor not asked.
    let asked_at = Instant::now();
    let refused = guard.charge(Uuid::now_v7(), 100).await;
    assert_eq!(refused, Guarded::Unavailable { asked: false });
    assert_eq!(asked_at.elapsed(), Duration::ZERO);
    // Still down at the first probe (after the cool-down): open again.
    assert_eq!(next_state(&mut rx).await, BreakerState::HalfOpen);
    assert_eq!(next_state(&mut rx).await, BreakerState::Open);
    // Back: the next probes succeed and close it; charges go through again.
    line.down.store(false, Ordering::SeqCst);
    assert_eq!(next_state(&mut rx).await, BreakerState::HalfOpen);
    assert_eq!(next_state(&mut rx).await, BreakerState::Closed);
    let id = Uuid::now_v7();
    let approved = ChargeResult::Approved {
        transaction_id: id.to_string(),
    };
    assert_eq!(guard.charge(id, 100).await, Guarded::Answered(approved));
}

#[tokio::test(start_paused = true)]
async fn a_refund_waits_for_the_processor_and_is_asked_again() {
    let line = Arc::new(Line::default());
    let (guard, _rx) = guard(&line);
    line.down.store(true, Ordering::SeqCst);
    let refund = {
        let (guard, gateway) = (guard.clone(), guard.gateway());
        tokio::spawn(async move {
            let id = Uuid::now_v7();
            guard
                .patiently(|| gateway.refund(id, "t".into(), 100))
                .await
        })
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        !refund.is_finished(),
        "refunded while the processor was down"
    );
    line.down.store(false, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(5), refund)
        .await
        .expect("refunded once the processor was back")
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_capture_waits_through_the_outage_and_is_answered_once_back() {
    let line = Arc::new(Line::default());
    let (guard, mut rx) = guard(&line);
    line.down.store(true, Ordering::SeqCst);
    let id = Uuid::now_v7();
    let capture = {
        let guard = guard.clone();
        tokio::spawn(async move { guard.capture(id, 100).await })
    };
    // Its own timeouts open the breaker; then it waits, asking nothing, through the probes.
    assert_eq!(next_state(&mut rx).await, BreakerState::Open);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        !capture.is_finished(),
        "captured while the processor was down"
    );
    line.down.store(false, Ordering::SeqCst);
    let answer = tokio::time::timeout(Duration::from_secs(5), capture)
        .await
        .expect("captured once the processor was back")
        .unwrap();
    let approved = ChargeResult::Approved {
        transaction_id: id.to_string(),
    };
    assert_eq!(answer, Some(approved));
}
