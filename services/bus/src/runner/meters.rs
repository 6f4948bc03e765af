//! A part's own metrics, with their handles kept for the part's life: a handled or published
//! event costs a map lookup by `&str` and an atomic add, not label strings and a registry
//! lookup each time (`metrics` resolves a `counter!` with labels on every call).

use std::collections::HashMap;

use metrics::{Counter, Gauge, Histogram};

/// Handles of one part's metrics (labelled `part`).
pub(super) struct Meters {
    part: String,
    /// `milo_events_handled_total` by (type, outcome); types are the policy's own names.
    handled: HashMap<(&'static str, &'static str), Counter>,
    /// `milo_events_published_total` by topic.
    published: HashMap<String, Counter>,
    pub(super) dead_letters: Counter,
    pub(super) group_size: Histogram,
    pub(super) backlog: Gauge,
    pub(super) commit_seconds: Histogram,
}

impl Meters {
    pub(super) fn new(part: &str) -> Meters {
        let labels = [("part", part.to_owned())];
        Meters {
            part: part.to_owned(),
            handled: HashMap::new(),
            published: HashMap::new(),
            dead_letters: metrics::counter!("milo_dead_letters_total", &labels),
            group_size: metrics::histogram!("milo_group_size", &labels),
            backlog: metrics::gauge!("milo_backlog", &labels),
            commit_seconds: metrics::histogram!("milo_commit_seconds", &labels),
        }
    }

    /// One event handled: its type (a policy name, `raw`, `unreadable` or `other`) and what
    /// became of it.
    pub(super) fn handled(&mut self, kind: &'static str, outcome: &'static str) {
        let part = &self.part;
        self.handled
            .entry((kind, outcome))
            .or_insert_with(|| {
                let labels = [
                    ("part", part.clone()),
                    ("type", kind.to_owned()),
                    ("outcome", outcome.to_owned()),
                ];
                metrics::counter!("milo_events_handled_total", &labels)
            })
            .increment(1);
    }

    /// One event staged for publishing on `topic`.
    pub(super) fn published(&mut self, topic: &str) {
        let topic = topic_label(topic);
        if let Some(c) = self.published.get(topic) {
            c.increment(1);
            return;
        }
        let labels = [("part", self.part.clone()), ("topic", topic.to_owned())];
        let c = metrics::counter!("milo_events_published_total", &labels);
        c.increment(1);
        self.published.insert(topic.to_owned(), c);
    }
}

/// The `topic` label of a publish: a dead letter's topic (`dlq/<part>/<original topic>`) is
/// counted as `dlq/<part>`, since on a broker with no gate the original topic is whatever the
/// sender chose, and a label set must not grow with it.
fn topic_label(topic: &str) -> &str {
    milo_contracts::topics::dlq_part_of(topic).unwrap_or(topic)
}

#[cfg(test)]
mod tests {
    use super::topic_label;
    use milo_contracts::topics;

    #[test]
    fn a_dead_letters_topic_is_counted_by_part_only() {
        assert_eq!(topic_label(&topics::dlq("order", "a/b/c")), "dlq/order");
        assert_eq!(topic_label(&topics::dlq("order", "x")), "dlq/order");
        assert_eq!(topic_label(topics::ORDERS_CREATED), topics::ORDERS_CREATED);
        assert_eq!(topic_label("dlq/order"), "dlq/order");
    }
}
