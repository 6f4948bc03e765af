//! The shop's days: its time zone (with daylight saving time, from the system's tzdb), the
//! shop-local date of an instant, and the days a request asks for.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use time::OffsetDateTime;

/// The longest range `GET /analytics/summary?from=&to=` answers, in days (a leap year).
pub const MAX_RANGE_DAYS: usize = 366;

/// Key prefix of the per-day figures: `day/2026-12-07`.
pub const DAY_PREFIX: &str = "day/";

/// Key of one day's figures.
pub fn day_key(date: Date) -> String {
    format!("{DAY_PREFIX}{}", ymd(date))
}

/// `date` written `YYYY-MM-DD`. By hand, as [`parse_ymd`] reads it: this one format needs
/// none of jiff's Temporal printer and parser (about 20 KB of aarch64 code).
pub fn ymd(date: Date) -> String {
    format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
}

/// A date written exactly `YYYY-MM-DD` (no time, no offset), if it exists.
pub fn parse_ymd(text: &str) -> Option<Date> {
    let shape = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    let year = text[0..4].parse().ok()?;
    let month = text[5..7].parse().ok()?;
    let day = text[8..10].parse().ok()?;
    Date::new(year, month, day).ok()
}

/// Serde for an optional date as `YYYY-MM-DD` (a stored order's day).
pub mod serde_ymd {
    use jiff::civil::Date;
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes it.
    pub fn serialize<S: Serializer>(date: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        date.map(super::ymd).serialize(s)
    }

    /// Reads it.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        let date = |t: String| super::parse_ymd(&t).ok_or_else(|| D::Error::custom(t));
        text.map(date).transpose()
    }
}

/// A time zone that is not in the system's database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {name:?}: expected an IANA name such as \"Europe/London\" or \"UTC\" (from /usr/share/zoneinfo: {why})")]
pub struct ZoneError {
    /// The name asked for.
    pub name: String,
    /// Why it was refused.
    pub why: String,
}

/// The shop's time zone: which date an instant falls on where the café closes its books.
#[derive(Debug, Clone)]
pub struct Zone {
    tz: TimeZone,
    name: String,
}

impl Zone {
    /// A zone by its IANA name (`Europe/London`, `America/New_York`, `UTC`), read from the
    /// system's tzdb (`/usr/share/zoneinfo`, or `TZDIR`). `UTC` needs no database.
    pub fn named(name: &str) -> Result<Zone, ZoneError> {
        let err = |why: String| ZoneError {
            name: name.to_owned(),
            why,
        };
        let tz = TimeZone::get(name).map_err(|e| err(e.to_string()))?;
        if tz.is_unknown() {
            return Err(err("Etc/Unknown is no place".into()));
        }
        let name = tz.iana_name().unwrap_or(name).to_owned();
        Ok(Zone { tz, name })
    }

    /// Coordinated Universal Time.
    pub fn utc() -> Zone {
        Zone {
            tz: TimeZone::UTC,
            name: "UTC".into(),
        }
    }

    /// A zone from its rules (a POSIX TZ string such as `EST5EDT,M3.2.0,M11.1.0`), named
    /// `name`: for tests that must not depend on the system's tzdb.
    pub fn posix(name: &str, rules: &str) -> Result<Zone, ZoneError> {
        let tz = TimeZone::posix(rules).map_err(|e| ZoneError {
            name: name.to_owned(),
            why: e.to_string(),
        })?;
        Ok(Zone {
            tz,
            name: name.to_owned(),
        })
    }

    /// Its name, as configured (canonical spelling).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shop-local date of `at`.
    pub fn date_of(&self, at: OffsetDateTime) -> Date {
        let ts = Timestamp::from_nanosecond(at.unix_timestamp_nanos()).unwrap_or(
            if at.unix_timestamp() < 0 {
                Timestamp::MIN
            } else {
                Timestamp::MAX
            },
        );
        self.tz.to_datetime(ts).date()
    }

    /// The shop-local time of day now, in seconds since local midnight.
    pub fn seconds_of_day(&self) -> u32 {
        let t = self.tz.to_datetime(Timestamp::now()).time();
        let (h, m, s) = (t.hour(), t.minute(), t.second());
        u32::try_from(i32::from(h) * 3600 + i32::from(m) * 60 + i32::from(s)).unwrap_or(0)
    }

    /// The shop-local date now.
    pub fn today(&self) -> Date {
        self.tz.to_datetime(Timestamp::now()).date()
    }
}

/// The days a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// No query: today and yesterday.
    Default,
    /// `?day=today|yesterday|YYYY-MM-DD`.
    Day(Date),
    /// `?from=YYYY-MM-DD&to=YYYY-MM-DD`, inclusive.
    Range(Date, Date),
}

impl Pick {
    /// Reads `day`, `from` and `to` with `today` as the shop's date; the error says why.
    pub fn parse(
        day: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        today: Date,
    ) -> Result<Pick, String> {
        match (day, from, to) {
            (None, None, None) => Ok(Pick::Default),
            (Some(d), None, None) => Ok(Pick::Day(named_day(d, today)?)),
            (None, Some(f), Some(t)) => {
                let (from, to) = (named_day(f, today)?, named_day(t, today)?);
                if from > to {
                    return Err(format!("from ({}) is after to ({})", ymd(from), ymd(to)));
                }
                if days(from, to).nth(MAX_RANGE_DAYS).is_some() {
                    return Err(format!("a range is at most {MAX_RANGE_DAYS} days"));
                }
                Ok(Pick::Range(from, to))
            }
            (None, _, _) => Err("a range needs both from and to (YYYY-MM-DD)".into()),
            (Some(_), _, _) => Err("give either day or from and to, not both".into()),
        }
    }
}

/// `today`, `yesterday` or a date written `YYYY-MM-DD`.
fn named_day(text: &str, today: Date) -> Result<Date, String> {
    let bad = || format!("not a date: {text:?} (expected today, yesterday or YYYY-MM-DD)");
    match text {
        "today" => Ok(today),
        "yesterday" => today.yesterday().map_err(|_| bad()),
        _ => parse_ymd(text).ok_or_else(bad),
    }
}

/// Every date from `from` to `to`, inclusive.
pub fn days(from: Date, to: Date) -> impl Iterator<Item = Date> {
    std::iter::successors(Some(from), |d| d.tomorrow().ok()).take_while(move |d| *d <= to)
}

#[cfg(test)]
mod tests;
