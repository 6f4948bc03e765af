use std::collections::BTreeMap;

use jiff::civil::{date, Date};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::day::Zone;
use milo_contracts::payments::PaymentMethod;

/// The books of a whole shop in memory, fed as the service feeds them: each event reads the
/// order's record and the days it touches, and writes them back.
struct Shop {
    zone: Zone,
    tracked: BTreeMap<u32, Tracked>,
    summary: Summary,
    days: BTreeMap<Date, Summary>,
}

impl Shop {
    fn new() -> Shop {
        Shop {
            zone: Zone::posix("America/New_York", "EST5EDT,M3.2.0,M11.1.0").unwrap(),
            tracked: BTreeMap::new(),
            summary: Summary::default(),
            days: BTreeMap::new(),
        }
    }

    fn event(&mut self, order: u32, at: OffsetDateTime, change: Change) {
        let t = self.tracked.entry(order).or_default();
        let date = self.zone.date_of(at);
        let days = t.days_touched(date).into_iter().map(|d| {
            let figures = self.days.get(&d).cloned().unwrap_or_default();
            (d, figures)
        });
        let mut books = Books {
            summary: std::mem::take(&mut self.summary),
            days: days.collect(),
        };
        t.apply(&mut books, date, at, change);
        self.summary = books.summary;
        self.days.extend(books.days);
    }

    fn day(&self, d: Date) -> Summary {
        normal(self.days.get(&d).cloned().unwrap_or_default())
    }

    /// Panics unless the days add up to the all-time figures.
    fn assert_days_add_up(&self, context: &str) {
        let mut total = Summary::default();
        for figures in self.days.values() {
            total.merge(figures);
        }
        assert_eq!(normal(total), normal(self.summary.clone()), "{context}");
    }
}

/// Without the statuses no order is in any more.
fn normal(mut s: Summary) -> Summary {
    s.by_status.retain(|_, n| *n > 0);
    s
}

fn latte() -> Change {
    Change::Created(vec![("latte".into(), 2)])
}

#[test]
fn an_order_at_2330_local_is_on_that_day_and_its_money_on_the_day_it_moved() {
    let mut shop = Shop::new();
    // 23:30 EST on 7 January (04:30 UTC on the 8th); charged at 23:59, made after midnight.
    shop.event(1, datetime!(2026-01-08 04:30 UTC), latte());
    shop.event(
        1,
        datetime!(2026-01-08 04:59 UTC),
        Change::Charged(900, PaymentMethod::Card),
    );
    shop.event(1, datetime!(2026-01-08 05:00 UTC), Change::Status("ready"));
    shop.event(1, datetime!(2026-01-08 05:10 UTC), Change::Prepared(70_000));
    // Refunded the next evening.
    shop.event(
        1,
        datetime!(2026-01-09 01:00 UTC),
        Change::Refunded(900, PaymentMethod::Card),
    );
    let (jan7, jan8) = (shop.day(date(2026, 1, 7)), shop.day(date(2026, 1, 8)));
    assert_eq!(jan7.by_status, BTreeMap::from([("prepared".into(), 1)]));
    assert_eq!(jan7.drinks_by_item["latte"], 2);
    assert_eq!(jan7.lead_time.count, 1);
    assert_eq!(jan7.lead_time.sum_ms, 40 * 60_000);
    assert_eq!((jan7.charged_cents, jan7.refunded_cents), (900, 0));
    assert_eq!(jan7.preparation.count, 0, "made after midnight");
    assert!(jan8.by_status.is_empty());
    assert_eq!((jan8.charged_cents, jan8.refunded_cents), (0, 900));
    assert_eq!(jan8.preparation.count, 1);
    assert_eq!(jan8.day_json()["revenue_cents"], -900);
    assert_eq!(shop.summary.to_json()["revenue_cents"], 0);
    shop.assert_days_add_up("one order over midnight");
    // The order's record keeps its day across a restart.
    let stored = serde_json::to_string(&shop.tracked[&1]).unwrap();
    assert!(stored.contains(r#""day":"2026-01-07""#), "{stored}");
    let read: Tracked = serde_json::from_str(&stored).unwrap();
    assert_eq!(read, shop.tracked[&1]);
}

#[test]
fn an_order_heard_of_before_its_creation_moves_to_its_creation_day() {
    let mut shop = Shop::new();
    let created = datetime!(2026-03-08 04:58 UTC); // 23:58 EST on 7 March
                                                   // Analytics hears each topic on its own: the bar's and the till's news come first.
    shop.event(7, datetime!(2026-03-08 05:03 UTC), Change::Prepared(30_000));
    shop.event(
        7,
        datetime!(2026-03-08 05:01 UTC),
        Change::Charged(450, PaymentMethod::Card),
    );
    shop.event(7, datetime!(2026-03-08 05:02 UTC), Change::Status("ready"));
    let (mar7, mar8) = (date(2026, 3, 7), date(2026, 3, 8));
    assert_eq!(
        shop.day(mar8).by_status["prepared"],
        1,
        "counted where first seen"
    );
    shop.assert_days_add_up("before its creation");
    shop.event(7, created, latte());
    assert!(shop.day(mar8).by_status.is_empty(), "{:?}", shop.day(mar8));
    assert_eq!(shop.day(mar7).by_status["prepared"], 1);
    assert_eq!(shop.day(mar7).drinks_by_item["latte"], 2);
    assert_eq!(shop.day(mar8).charged_cents, 450);
    assert_eq!(shop.day(mar8).preparation.count, 1);
    shop.assert_days_add_up("after its creation");
    // A repeat with a new event id changes nothing but the status it already has.
    shop.event(7, datetime!(2026-03-09 12:00 UTC), Change::Status("ready"));
    assert_eq!(shop.day(mar7).by_status["prepared"], 1);
    shop.assert_days_add_up("after a late repeat");
}

#[test]
fn a_rejected_order_counts_on_its_rejection_day() {
    let mut shop = Shop::new();
    shop.event(
        3,
        datetime!(2026-11-02 04:30 UTC),
        Change::Status("rejected"),
    );
    assert_eq!(shop.day(date(2026, 11, 1)).by_status["rejected"], 1);
    shop.assert_days_add_up("rejected");
}

#[test]
fn orders_tracked_before_days_stay_out_of_them() {
    let mut shop = Shop::new();
    let old = r#"{"status":"ready","lines":[["mocha",1]],
        "created_at":"2026-01-05T10:00:00Z","prepared":null,"drinks_counted":false}"#;
    shop.tracked.insert(9, serde_json::from_str(old).unwrap());
    shop.summary.by_status.insert("ready".into(), 1);
    shop.event(9, datetime!(2026-01-05 10:05 UTC), Change::Prepared(1_000));
    assert_eq!(shop.summary.by_status["prepared"], 1);
    assert_eq!(shop.summary.drinks_by_item["mocha"], 1);
    let day = shop.day(date(2026, 1, 5));
    assert!(
        day.by_status.is_empty() && day.drinks_by_item.is_empty(),
        "{day:?}"
    );
    assert_eq!(day.preparation.count, 1, "the machine's day is known");
}

/// A small deterministic generator (the tests need no crate for it).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[test]
fn days_add_up_to_the_all_time_figures_whatever_the_order_of_events() {
    // Orders every 7 minutes from the evening before New York's autumn change to the evening
    // after, each with a life of events that may cross midnight, heard in a shuffled order.
    let mut rng = Lcg(42);
    let start = datetime!(2026-10-31 20:00 UTC);
    let mut events = Vec::new();
    let mut expected_orders: BTreeMap<Date, u64> = BTreeMap::new();
    let mut expected_charged: BTreeMap<Date, u64> = BTreeMap::new();
    let zone = Shop::new().zone;
    for order in 0..400u32 {
        let at = start + Duration::minutes(7 * i64::from(order));
        let later = |m: u64| at + Duration::minutes(m as i64);
        *expected_orders.entry(zone.date_of(at)).or_default() += 1;
        if rng.below(10) == 0 {
            events.push((order, at, Change::Status("rejected")));
            continue;
        }
        let cents = 300 + 50 * rng.below(10);
        let paid = later(rng.below(3));
        *expected_charged.entry(zone.date_of(paid)).or_default() += cents;
        events.push((order, at, Change::Created(vec![("latte".into(), 1)])));
        events.push((order, paid, Change::Charged(cents, PaymentMethod::Card)));
        events.push((order, later(3), Change::Status("ready")));
        if rng.below(5) == 0 {
            events.push((order, later(60), Change::Status("canceled")));
            events.push((
                order,
                later(60 * 20),
                Change::Refunded(cents, PaymentMethod::Card),
            ));
        } else {
            let ms = 20_000 + rng.below(200_000);
            events.push((order, later(4 + rng.below(90)), Change::Prepared(ms)));
        }
    }
    for i in (1..events.len()).rev() {
        events.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut shop = Shop::new();
    for (n, (order, at, change)) in events.into_iter().enumerate() {
        shop.event(order, at, change);
        shop.assert_days_add_up(&format!("after event {n}"));
    }
    let orders: BTreeMap<Date, u64> = shop
        .days
        .iter()
        .map(|(d, s)| (*d, s.by_status.values().sum()))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(orders, expected_orders, "each order on its creation day");
    let charged: BTreeMap<Date, u64> = shop
        .days
        .iter()
        .map(|(d, s)| (*d, s.charged_cents))
        .filter(|(_, c)| *c > 0)
        .collect();
    assert_eq!(charged, expected_charged, "each charge on its own day");
    assert!(orders.contains_key(&date(2026, 11, 1)) && orders.len() == 3);
    assert_eq!(shop.summary.by_status.values().sum::<u64>(), 400);
}

#[test]
fn a_charge_declined_after_the_fact_leaves_the_card_money_on_its_day_once() {
    let mut shop = Shop::new();
    // Authorized offline (announced as charged) on the 7th, declined when captured the
    // next morning; a second order charged in cash.
    shop.event(1, datetime!(2026-01-07 15:00 UTC), latte());
    shop.event(
        1,
        datetime!(2026-01-07 15:00 UTC),
        Change::Charged(900, PaymentMethod::Card),
    );
    shop.event(2, datetime!(2026-01-07 15:05 UTC), latte());
    shop.event(
        2,
        datetime!(2026-01-07 15:05 UTC),
        Change::Charged(400, PaymentMethod::Cash),
    );
    let declined = datetime!(2026-01-08 14:00 UTC);
    shop.event(1, declined, Change::DeclinedOffline(900));
    // Told twice (a replay under another id): booked once.
    shop.event(1, declined, Change::DeclinedOffline(900));
    let all = shop.summary.to_json();
    assert_eq!(all["declined_offline_cents"], 900);
    assert_eq!(all["declined_offline"], 1);
    assert_eq!(all["card_cents"], 0);
    assert_eq!(all["cash_cents"], 400);
    assert_eq!(all["revenue_cents"], 400);
    let (jan7, jan8) = (shop.day(date(2026, 1, 7)), shop.day(date(2026, 1, 8)));
    assert_eq!(jan7.day_json()["card_cents"], 900);
    assert_eq!(jan8.day_json()["card_cents"], -900);
    assert_eq!(jan8.day_json()["revenue_cents"], -900);
    assert_eq!(jan8.declined_offline, 1);
    shop.assert_days_add_up("a decline after the fact");
    // Books from before the decline existed read as none.
    let old: Summary = serde_json::from_str(r#"{"by_status":{},"charged_cents":5,"refunded_cents":0,"drinks_by_item":{},"preparation":{"count":0,"sum_ms":0,"max_ms":0,"buckets":[]},"lead_time":{"count":0,"sum_ms":0,"max_ms":0,"buckets":[]}}"#).unwrap();
    assert_eq!(old.declined_offline_cents, 0);
    let stored = serde_json::to_string(&shop.tracked[&2]).unwrap();
    assert!(!stored.contains("declined_offline"), "{stored}");
}
