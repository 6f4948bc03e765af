//! Running figures, small enough to rewrite on every event.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Upper bounds (ms) of the histogram buckets; the last bucket is open.
const BOUNDS_MS: [u64; 14] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000,
];

/// A latency histogram with exact count, sum and max.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Samples.
    pub count: u64,
    /// Sum of samples, ms.
    pub sum_ms: u64,
    /// Largest sample, ms.
    pub max_ms: u64,
    /// Counts per bucket of `BOUNDS_MS` plus one open bucket.
    pub buckets: Vec<u64>,
}

impl Histogram {
    /// Adds a sample.
    pub fn record(&mut self, ms: u64) {
        if self.buckets.len() != BOUNDS_MS.len() + 1 {
            self.buckets = vec![0; BOUNDS_MS.len() + 1];
        }
        let i = BOUNDS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(BOUNDS_MS.len());
        self.buckets[i] += 1;
        self.count += 1;
        self.sum_ms += ms;
        self.max_ms = self.max_ms.max(ms);
    }

    /// Upper bound of the bucket holding quantile `q` (capped by the max seen).
    pub fn quantile(&self, q: f64) -> u64 {
        let target = (q * self.count as f64).ceil() as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target.max(1) {
                return BOUNDS_MS
                    .get(i)
                    .copied()
                    .unwrap_or(self.max_ms)
                    .min(self.max_ms);
            }
        }
        self.max_ms
    }

    /// Adds `other`'s samples (the figures of two days, or of a day to a range's).
    pub fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        if self.buckets.len() != BOUNDS_MS.len() + 1 {
            self.buckets = vec![0; BOUNDS_MS.len() + 1];
        }
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum_ms += other.sum_ms;
        self.max_ms = self.max_ms.max(other.max_ms);
    }

    fn to_json(&self) -> Value {
        let avg = self.sum_ms.checked_div(self.count).unwrap_or(0);
        json!({
            "count": self.count,
            "avg": avg,
            "p50_le": self.quantile(0.5),
            "p95_le": self.quantile(0.95),
            "max": self.max_ms,
        })
    }
}

/// Everything `/analytics/summary` shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Orders per current status.
    pub by_status: BTreeMap<String, u64>,
    /// Charged, cents.
    pub charged_cents: u64,
    /// Refunded, cents.
    pub refunded_cents: u64,
    /// Of `charged_cents`, taken in cash.
    #[serde(default)]
    pub cash_charged_cents: u64,
    /// Of `refunded_cents`, given back in cash.
    #[serde(default)]
    pub cash_refunded_cents: u64,
    /// Card charges authorized offline, counted in `charged_cents` when announced, that the
    /// processor declined when they were captured (`payments/declined_offline`): not taken.
    #[serde(default)]
    pub declined_offline_cents: u64,
    /// How many such declines.
    #[serde(default)]
    pub declined_offline: u64,
    /// Drinks made per item.
    pub drinks_by_item: BTreeMap<String, u64>,
    /// Time at the machine (from `orders/prepared`).
    pub preparation: Histogram,
    /// Time from `orders/created` to `orders/prepared`.
    pub lead_time: Histogram,
}

impl Summary {
    /// Moves one order from one status to another.
    pub fn move_status(&mut self, from: Option<&str>, to: &str) {
        if let Some(from) = from {
            if let Some(n) = self.by_status.get_mut(from) {
                *n = n.saturating_sub(1);
            }
        }
        *self.by_status.entry(to.to_owned()).or_default() += 1;
    }

    /// Takes one order out of `status` (it moved to another day's figures).
    pub fn take_status(&mut self, status: &str) {
        if let Some(n) = self.by_status.get_mut(status) {
            *n = n.saturating_sub(1);
        }
    }

    /// Adds `other`'s figures: the days of a range into its total.
    pub fn merge(&mut self, other: &Summary) {
        for (status, n) in &other.by_status {
            *self.by_status.entry(status.clone()).or_default() += n;
        }
        for (item, n) in &other.drinks_by_item {
            *self.drinks_by_item.entry(item.clone()).or_default() += n;
        }
        self.charged_cents += other.charged_cents;
        self.refunded_cents += other.refunded_cents;
        self.cash_charged_cents += other.cash_charged_cents;
        self.cash_refunded_cents += other.cash_refunded_cents;
        self.declined_offline_cents += other.declined_offline_cents;
        self.declined_offline += other.declined_offline;
        self.preparation.merge(&other.preparation);
        self.lead_time.merge(&other.lead_time);
    }

    /// The JSON document served over HTTP (the all-time figures). A charge declined after the
    /// fact (offline) is out of the revenue and of the card money.
    pub fn to_json(&self) -> Value {
        let revenue = self
            .charged_cents
            .saturating_sub(self.refunded_cents)
            .saturating_sub(self.declined_offline_cents);
        self.json_with(json!(revenue))
    }

    /// One day's (or one range's) figures, shaped as [`Summary::to_json`]. The revenue may be
    /// negative: a refund counts on the day it is made, which may follow the day of the charge.
    pub fn day_json(&self) -> Value {
        let revenue = signed(self.charged_cents)
            .saturating_sub(signed(self.refunded_cents))
            .saturating_sub(signed(self.declined_offline_cents));
        self.json_with(json!(revenue))
    }

    fn json_with(&self, revenue: Value) -> Value {
        json!({
            "orders": {
                "total": self.by_status.values().sum::<u64>(),
                "by_status": self.by_status,
            },
            "revenue_cents": revenue,
            "charged_cents": self.charged_cents,
            "refunded_cents": self.refunded_cents,
            "declined_offline_cents": self.declined_offline_cents,
            "declined_offline": self.declined_offline,
            "cash_cents": signed(self.cash_charged_cents) - signed(self.cash_refunded_cents),
            "card_cents": (signed(self.charged_cents) - signed(self.cash_charged_cents))
                - (signed(self.refunded_cents) - signed(self.cash_refunded_cents))
                - signed(self.declined_offline_cents),
            "drinks_by_item": self.drinks_by_item,
            "preparation_ms": self.preparation.to_json(),
            "lead_time_ms": self.lead_time.to_json(),
        })
    }
}

/// Cents as a signed amount (saturating: no till holds 2^63 cents).
fn signed(c: u64) -> i64 {
    i64::try_from(c).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_land_in_the_right_bucket() {
        let mut h = Histogram::default();
        for ms in [5, 7, 40, 90, 3_000] {
            h.record(ms);
        }
        assert_eq!(h.quantile(0.5), 50);
        assert_eq!(h.quantile(1.0), 3_000);
        assert_eq!(h.count, 5);
    }
}
