use jiff::civil::date;
use time::macros::datetime;

use super::*;

/// New York's rules, without the system's tzdb: EST (UTC−5), EDT (UTC−4) from the second
/// Sunday of March to the first Sunday of November.
fn new_york() -> Zone {
    Zone::posix("America/New_York", "EST5EDT,M3.2.0,M11.1.0").unwrap()
}

/// London's: GMT, BST (UTC+1) from the last Sunday of March to the last Sunday of October.
fn london() -> Zone {
    Zone::posix("Europe/London", "GMT0BST,M3.5.0/1,M10.5.0").unwrap()
}

#[test]
fn late_evening_orders_are_on_the_local_day_not_utcs() {
    let ny = new_york();
    // 23:30 EST on 7 January is 04:30 UTC on the 8th.
    assert_eq!(
        ny.date_of(datetime!(2026-01-08 04:30 UTC)),
        date(2026, 1, 7)
    );
    assert_eq!(
        ny.date_of(datetime!(2026-01-08 05:00 UTC)),
        date(2026, 1, 8)
    );
    // An instant given with another offset is the same instant.
    assert_eq!(ny.date_of(datetime!(2026-01-07 23:30 -5)), date(2026, 1, 7));
    // Summer in London: 00:30 BST on 2 July is still 1 July in UTC.
    let uk = london();
    assert_eq!(
        uk.date_of(datetime!(2026-07-01 22:30 UTC)),
        date(2026, 7, 1)
    );
    assert_eq!(
        uk.date_of(datetime!(2026-07-01 23:30 UTC)),
        date(2026, 7, 2)
    );
    assert_eq!(
        uk.date_of(datetime!(2026-01-01 23:30 UTC)),
        date(2026, 1, 1)
    );
    assert_eq!(
        Zone::utc().date_of(datetime!(2026-07-01 23:30 UTC)),
        date(2026, 7, 1)
    );
}

#[test]
fn days_follow_daylight_saving_changes() {
    let ny = new_york();
    // 8 March 2026 lasts 23 hours: 05:00 UTC (midnight EST) to 04:00 UTC (midnight EDT).
    assert_eq!(
        ny.date_of(datetime!(2026-03-08 04:59 UTC)),
        date(2026, 3, 7)
    );
    assert_eq!(
        ny.date_of(datetime!(2026-03-08 05:00 UTC)),
        date(2026, 3, 8)
    );
    assert_eq!(
        ny.date_of(datetime!(2026-03-09 03:59 UTC)),
        date(2026, 3, 8)
    );
    assert_eq!(
        ny.date_of(datetime!(2026-03-09 04:00 UTC)),
        date(2026, 3, 9)
    );
    // 1 November 2026 lasts 25 hours: 04:00 UTC (midnight EDT) to 05:00 UTC (midnight EST).
    assert_eq!(
        ny.date_of(datetime!(2026-11-01 03:59 UTC)),
        date(2026, 10, 31)
    );
    assert_eq!(
        ny.date_of(datetime!(2026-11-01 04:00 UTC)),
        date(2026, 11, 1)
    );
    assert_eq!(
        ny.date_of(datetime!(2026-11-02 04:30 UTC)),
        date(2026, 11, 1)
    );
    assert_eq!(
        ny.date_of(datetime!(2026-11-02 05:00 UTC)),
        date(2026, 11, 2)
    );
    // London leaves BST on 25 October 2026 at 01:00 UTC: 23:30 UTC that evening is GMT.
    let uk = london();
    assert_eq!(
        uk.date_of(datetime!(2026-10-24 23:30 UTC)),
        date(2026, 10, 25)
    );
    assert_eq!(
        uk.date_of(datetime!(2026-10-25 23:30 UTC)),
        date(2026, 10, 25)
    );
}

#[test]
fn zones_come_from_the_system_tzdb_and_unknown_ones_are_refused() {
    let ny = Zone::named("America/New_York").unwrap();
    assert_eq!(ny.name(), "America/New_York");
    assert_eq!(
        ny.date_of(datetime!(2026-03-09 03:59 UTC)),
        date(2026, 3, 8)
    );
    assert_eq!(
        ny.date_of(datetime!(2026-11-02 04:30 UTC)),
        date(2026, 11, 1)
    );
    assert_eq!(Zone::named("UTC").unwrap().name(), "UTC");
    for bad in ["Mars/Olympus_Mons", "", "Etc/Unknown", "../../etc/passwd"] {
        let err = Zone::named(bad).unwrap_err();
        assert_eq!(err.name, bad);
        assert!(err.to_string().contains("IANA"), "{err}");
    }
}

#[test]
fn requests_name_a_day_or_an_inclusive_range() {
    let today = date(2026, 3, 1);
    let pick = |d, f, t| Pick::parse(d, f, t, today);
    assert_eq!(pick(None, None, None), Ok(Pick::Default));
    assert_eq!(pick(Some("today"), None, None), Ok(Pick::Day(today)));
    assert_eq!(
        pick(Some("yesterday"), None, None),
        Ok(Pick::Day(date(2026, 2, 28)))
    );
    assert_eq!(
        pick(Some("2024-02-29"), None, None),
        Ok(Pick::Day(date(2024, 2, 29)))
    );
    let range = pick(None, Some("2025-12-31"), Some("today"));
    assert_eq!(range, Ok(Pick::Range(date(2025, 12, 31), today)));
    // 2024 is a leap year: 366 days is the longest range.
    let leap = pick(None, Some("2024-01-01"), Some("2024-12-31"));
    assert_eq!(days(date(2024, 1, 1), date(2024, 12, 31)).count(), 366);
    assert!(leap.is_ok());
    let too_long = pick(None, Some("2024-01-01"), Some("2025-01-01"));
    assert!(too_long.unwrap_err().contains("366"));
    assert!(pick(None, Some("2026-03-02"), Some("2026-03-01"))
        .unwrap_err()
        .contains("after"));
    for bad in [
        "2026-02-30",
        "2026-2-3",
        "20260203",
        "2026-02-03T10:00",
        "+002026-02-03",
        "tomorrow",
        "",
    ] {
        let err = pick(Some(bad), None, None).unwrap_err();
        assert!(err.contains("not a date"), "{bad:?}: {err}");
    }
    assert!(pick(None, Some("2026-01-01"), None).is_err());
    assert!(pick(None, None, Some("2026-01-01")).is_err());
    assert!(pick(Some("today"), Some("2026-01-01"), Some("2026-01-02")).is_err());
    assert_eq!(ymd(date(2026, 3, 1)), "2026-03-01");
    assert_eq!(ymd(date(999, 12, 31)), "0999-12-31");
    assert_eq!(parse_ymd("0999-12-31"), Some(date(999, 12, 31)));
    assert_eq!(day_key(date(2026, 12, 7)), "day/2026-12-07");
    let week: Vec<_> = days(date(2026, 2, 26), date(2026, 3, 1)).collect();
    assert_eq!(week.len(), 4);
    assert_eq!(week[2], date(2026, 2, 28));
}
