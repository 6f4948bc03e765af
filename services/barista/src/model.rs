//! The preparation-time model: how long a ticket takes at a station, when a station's queue
//! finishes, which station finishes a new ticket first, and how a station's speed factor is
//! learned from the drinks it made.
//!
//! A ticket's time at speed 1.0 (`base_ms`) is the sum of its drinks' menu stage times; at a
//! station it takes `base_ms × factor`, where the factor is the station's speed (`device.speed`
//! on a simulated machine: 1.0 real time). Each station's factor starts at the speed the
//! simulated machine runs at (`device.speed`, unless `barista.speed` says otherwise) and
//! follows the drinks it makes: the first timed drink replaces the assumption, later ones move
//! it by a running mean that settles into an exponential moving average.
//!
//! Everything here is pure: times are passed in as milliseconds since the epoch.

use milo_contracts::events::PricedLine;
use milo_contracts::Menu;
use uuid::Uuid;

use crate::ticket::Slot;

/// Weight of a new timing once a station has been timed a few times.
pub const LEARN_RATE: f64 = 0.25;

/// Slowest believable factor (ten times slower than the menu's real time): a timing beyond it
/// (a drink left at the machine, a stalled station) teaches nothing.
pub const MAX_FACTOR: f64 = 10.0;

/// Milliseconds `lines` take at speed 1.0, by the menu's stage times.
pub fn base_ms(menu: &Menu, lines: &[PricedLine]) -> u64 {
    lines
        .iter()
        .map(|line| {
            let secs: f64 = menu
                .stages(&line.item)
                .iter()
                .map(|s| s.secs.max(0.0))
                .sum();
            let one = (secs * 1000.0).clamp(0.0, 1e12) as u64;
            one.saturating_mul(u64::from(line.qty))
        })
        .fold(0, u64::saturating_add)
}

/// Milliseconds a ticket of `base_ms` takes at a station of speed `factor`.
pub fn estimate_ms(base_ms: u64, factor: f64) -> u64 {
    if !factor.is_finite() || factor <= 0.0 {
        return 0;
    }
    (base_ms as f64 * factor).min(1e15) as u64
}

/// What is left of a slot's estimate at `now_ms`: all of it until started, then less the time
/// since it started, never below zero.
pub fn remaining_ms(slot: &Slot, factor: f64, now_ms: i64) -> u64 {
    let estimate = estimate_ms(slot.base_ms, factor);
    match slot.started_ms {
        Some(at) => estimate.saturating_sub(u64::try_from(now_ms - at).unwrap_or(0)),
        None => estimate,
    }
}

/// Sorts a station's queue in the order the station makes it: started tickets first (the one
/// at the machine, a recalled one), then by hand-out order.
pub fn sort(queue: &mut [(Uuid, Slot)]) {
    queue.sort_by_key(|(id, s)| (s.started_ms.is_none(), s.started_ms, s.seq, *id));
}

/// Milliseconds until a station has made every ticket of `queue`.
pub fn finish_ms(queue: &[(Uuid, Slot)], factor: f64, now_ms: i64) -> u64 {
    queue
        .iter()
        .map(|(_, s)| remaining_ms(s, factor, now_ms))
        .fold(0, u64::saturating_add)
}

/// A usable station as the router sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// The station.
    pub station: &'a str,
    /// When the new ticket would be ready there: its queue's remaining time plus the ticket's
    /// own estimate at that station's speed, ms from now.
    pub ready_ms: u64,
    /// Open tickets there.
    pub tickets: usize,
}

/// The station that makes the ticket soonest; ties go to fewer tickets, then the station id.
pub fn pick<'a>(candidates: impl IntoIterator<Item = Candidate<'a>>) -> Option<&'a str> {
    candidates
        .into_iter()
        .min_by(|a, b| (a.ready_ms, a.tickets, a.station).cmp(&(b.ready_ms, b.tickets, b.station)))
        .map(|c| c.station)
}

/// The factor after a station took `prep_ms` on a ticket of `base_ms`, having been timed
/// `timed` times before; `None` when the timing teaches nothing (nothing modelled, a
/// non-finite or absurdly slow timing).
pub fn learn(factor: f64, timed: u32, base_ms: u64, prep_ms: u64) -> Option<f64> {
    if base_ms == 0 {
        return None;
    }
    let observed = prep_ms as f64 / base_ms as f64;
    if !observed.is_finite() || observed > MAX_FACTOR {
        return None;
    }
    let prior = if factor.is_finite() {
        factor.max(0.0)
    } else {
        observed
    };
    let weight = (1.0 / f64::from(timed.saturating_add(1))).max(LEARN_RATE);
    Some(prior + weight * (observed - prior))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MENU: &str = r#"
        [ingredients]
        beans_g = "beans"
        [items.espresso]
        name = "Espresso"
        default_size = "single"
        stages = [{ name = "grind", secs = 4 }, { name = "extract", secs = 26 }]
        [items.espresso.sizes.single]
        price_cents = 250
        recipe = { beans_g = 9 }
        [items.cookie]
        name = "Cookie"
        default_size = "one"
        [items.cookie.sizes.one]
        price_cents = 100
        recipe = { beans_g = 0 }
    "#;

    fn line(item: &str, qty: u32) -> PricedLine {
        PricedLine {
            item: item.into(),
            size: "single".into(),
            milk: None,
            qty,
            unit_price_cents: 250,
            modifiers: Vec::new(),
        }
    }

    fn slot(seq: u64, base_ms: u64, started_ms: Option<i64>) -> Slot {
        Slot {
            seq,
            base_ms,
            started_ms,
            eta_ms: None,
        }
    }

    #[test]
    fn a_ticket_takes_its_drinks_stage_times() {
        let menu = Menu::from_toml(MENU).unwrap();
        assert_eq!(base_ms(&menu, &[line("espresso", 2)]), 60_000);
        // An item without stages takes the menu's generic 30 s.
        assert_eq!(
            base_ms(&menu, &[line("espresso", 1), line("cookie", 1)]),
            60_000
        );
        assert_eq!(base_ms(&menu, &[]), 0);
        assert_eq!(estimate_ms(60_000, 0.1), 6_000);
        assert_eq!(estimate_ms(60_000, 0.0), 0);
        assert_eq!(estimate_ms(60_000, f64::NAN), 0);
    }

    #[test]
    fn a_started_ticket_counts_what_is_left_of_it() {
        let s = slot(0, 10_000, Some(1_000));
        assert_eq!(remaining_ms(&s, 0.5, 3_000), 3_000);
        assert_eq!(
            remaining_ms(&s, 0.5, 60_000),
            0,
            "overdue counts as done soon"
        );
        assert_eq!(
            remaining_ms(&s, 0.5, 0),
            5_000,
            "a clock step back counts nothing"
        );
        assert_eq!(remaining_ms(&slot(1, 10_000, None), 0.5, 60_000), 5_000);
        let q = [(Uuid::nil(), s), (Uuid::max(), slot(1, 10_000, None))];
        assert_eq!(finish_ms(&q, 0.5, 3_000), 8_000);
    }

    #[test]
    fn the_queue_is_in_making_order() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut q = vec![
            (a, slot(2, 1, None)),
            (b, slot(1, 1, None)),
            (c, slot(3, 1, Some(5))),
        ];
        sort(&mut q);
        let order: Vec<Uuid> = q.iter().map(|(id, _)| *id).collect();
        assert_eq!(order, [c, b, a]);
    }

    #[test]
    fn routing_picks_the_soonest_then_fewer_tickets_then_the_id() {
        let c = |station, ready_ms, tickets| Candidate {
            station,
            ready_ms,
            tickets,
        };
        assert_eq!(pick([c("b", 100, 3), c("a", 200, 0)]), Some("b"));
        assert_eq!(pick([c("a", 100, 3), c("b", 100, 2)]), Some("b"));
        assert_eq!(pick([c("b", 100, 2), c("a", 100, 2)]), Some("a"));
        assert_eq!(pick(Vec::new()), None);
    }

    #[test]
    fn the_factor_follows_the_timings_and_ignores_nonsense() {
        let near = |got: Option<f64>, want: f64| {
            assert!(
                got.is_some_and(|g| (g - want).abs() < 1e-12),
                "{got:?} is not {want}"
            );
        };
        // The first timing replaces the assumption.
        near(learn(0.1, 0, 10_000, 400), 0.04);
        // Then a running mean, then a moving average.
        near(learn(0.04, 1, 10_000, 800), 0.06);
        near(learn(0.04, 20, 10_000, 800), 0.05);
        // Speed 0: drinks take no time, and that is learned too.
        assert_eq!(learn(0.1, 0, 10_000, 0), Some(0.0));
        assert_eq!(learn(0.0, 5, 10_000, 0), Some(0.0));
        // Nothing modelled, or a drink left for hours: nothing learned.
        assert_eq!(learn(0.1, 3, 0, 500), None);
        assert_eq!(learn(0.1, 3, 1_000, 11_000), None);
        near(learn(f64::NAN, 0, 1_000, 500), 0.5);
    }
}
