use super::*;

use Move::*;
use State::{Failed, Preparing, Ready};

/// Runs `moves` on one order from nothing, the way the service does: `told` once the
/// customer heard the outcome (made, canceled or rejected).
fn walk(moves: &[Move]) -> Vec<Option<State>> {
    let (mut current, mut told) = (None, false);
    let mut seen = Vec::new();
    for m in moves {
        match next(current, told, *m) {
            Next::Keep => {}
            Next::Set(s) => current = Some(s),
            Next::Remove => current = None,
        }
        told |= matches!(m, Prepared | Move::Canceled | Rejected) && current.is_some();
        seen.push(current);
    }
    seen
}

#[test]
fn an_order_goes_preparing_ready_and_off_when_collected() {
    assert_eq!(
        walk(&[Queued, Prepared, Collected]),
        [Some(Preparing), Some(Ready), None]
    );
}

#[test]
fn a_recall_puts_it_back_to_preparing_and_a_bump_ready_again() {
    assert_eq!(
        walk(&[Queued, Prepared, Recalled, Bumped, Expired]),
        [
            Some(Preparing),
            Some(Ready),
            Some(Preparing),
            Some(Ready),
            None
        ]
    );
    // A preparing order does not expire; a recall or bump of an order not shown does nothing.
    assert_eq!(walk(&[Queued, Expired]), [Some(Preparing), Some(Preparing)]);
    assert_eq!(walk(&[Recalled, Bumped]), [None, None]);
}

#[test]
fn late_events_do_not_bring_a_finished_order_back() {
    // Collected, then a late orders/ready and orders/prepared (told already).
    assert_eq!(
        walk(&[Queued, Prepared, Collected, Queued, Prepared]),
        [Some(Preparing), Some(Ready), None, None, None]
    );
    // Canceled from preparing; a made drink is never shown canceled.
    assert_eq!(
        walk(&[Queued, Move::Canceled, Queued]),
        [
            Some(Preparing),
            Some(State::Canceled),
            Some(State::Canceled)
        ]
    );
    assert_eq!(walk(&[Queued, Prepared, Move::Canceled])[2], Some(Ready));
    assert_eq!(walk(&[Rejected, Rejected]), [Some(Failed), Some(Failed)]);
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

#[test]
fn each_state_is_capped_and_the_newest_come_first() {
    let mut b = Board::default();
    for n in 0..5 {
        b.set(id(n), Ready, Some(format!("c{n}")), None, None);
    }
    b.set(id(10), Preparing, None, None, None);
    b.set(id(20), State::Canceled, None, Some("declined".into()), None);
    let shown = b.render(3).entries;
    let ids: Vec<Uuid> = shown.iter().map(|e| e.order_id).collect();
    assert_eq!(ids, [id(20), id(10), id(4), id(3), id(2)]);
    assert_eq!(shown[0].state, "canceled");
    assert_eq!(shown[0].reason.as_deref(), Some("declined"));
    assert_eq!(b.beyond(Ready, 3), [id(0), id(1)]);
    // Moving an order makes it the newest of its new state.
    b.set(id(0), Preparing, None, None, None);
    assert_eq!(b.beyond(Preparing, 1), [id(10)]);
    assert_eq!(b.remove(id(0)).unwrap().state, Preparing);
    assert!(b.get(id(0)).is_none());
}

#[test]
fn timers_come_due_in_order_and_go_with_their_slot() {
    let mut b = Board::default();
    b.set(id(1), Ready, None, None, Some(timer_key(1_000, id(1))));
    b.set(id(2), Ready, None, None, Some(timer_key(2_000, id(2))));
    b.set(id(3), Ready, None, None, Some(timer_key(3_000, id(3))));
    b.remove(id(2));
    assert!(b.take_due(999).is_empty());
    assert_eq!(b.take_due(2_500), [(id(1), timer_key(1_000, id(1)))]);
    // Reloaded from the store, numbering goes on after the newest.
    let slots = vec![(id(3), b.get(id(3)).unwrap().clone())];
    let timers = BTreeSet::from([timer_key(3_000, id(3))]);
    let mut again = Board::load(slots, timers);
    assert_eq!(again.take_due(i64::MAX), [(id(3), timer_key(3_000, id(3)))]);
    let seq = again.set(id(4), Ready, None, None, None).seq;
    assert!(seq > again.get(id(3)).unwrap().seq);
}
