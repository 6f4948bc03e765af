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

    /// The JSON document served over HTTP.
    pub fn to_json(&self) -> Value {
        json!({
            "orders": {
                "total": self.by_status.values().sum::<u64>(),
                "by_status": self.by_status,
            },
            "revenue_cents": self.charged_cents.saturating_sub(self.refunded_cents),
            "charged_cents": self.charged_cents,
            "refunded_cents": self.refunded_cents,
            "drinks_by_item": self.drinks_by_item,
            "preparation_ms": self.preparation.to_json(),
            "lead_time_ms": self.lead_time.to_json(),
        })
    }
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
