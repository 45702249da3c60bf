//! The rule engine: applies a [`RuleSet`] to lines and records the updates in a [`Store`].
//!
//! This is the hot path. Capture locations and the series-key buffer are allocated once per
//! engine and reused, so a line whose series already exist allocates nothing.

mod value;

use std::borrow::Cow;
use std::sync::Arc;

use regex::bytes::CaptureLocations;
pub use value::ListMode;
use value::read_values;

use crate::metrics::{KEY_SEPARATOR, Store};
use crate::rules::{MetricKind, MetricRule, RuleSet};

/// Applies rules to lines. One engine serves one thread.
pub struct Engine {
    rules: Arc<RuleSet>,
    /// Reused capture locations, one per rule file.
    locations: Vec<CaptureLocations>,
    /// Reused buffer for the series key of the current update.
    key: Vec<u8>,
}

impl Engine {
    /// Creates an engine for `rules`.
    pub fn new(rules: Arc<RuleSet>) -> Engine {
        let locations = rules
            .files
            .iter()
            .map(|file| file.regex.capture_locations())
            .collect();
        Engine {
            rules,
            locations,
            key: Vec::with_capacity(256),
        }
    }

    /// The rules this engine applies.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Applies every rule file to one line, which must not include its line terminator.
    pub fn apply(&mut self, line: &[u8], store: &mut Store) {
        for (index, file) in self.rules.files.iter().enumerate() {
            let locations = &mut self.locations[index];
            if file.regex.captures_read(locations, line).is_none() {
                store.unmatched[index] += 1;
                continue;
            }
            for metric in &file.metrics {
                update_metric(&self.rules, metric, line, locations, &mut self.key, store);
            }
        }
    }
}

fn update_metric(
    rules: &RuleSet,
    metric: &MetricRule,
    line: &[u8],
    locations: &CaptureLocations,
    key: &mut Vec<u8>,
    store: &mut Store,
) {
    key.clear();
    for &group in &metric.label_groups {
        push_label_value(key, group_bytes(locations, group, line));
    }

    let Some(group) = metric.value_group else {
        store.record(rules, metric.family, key, None);
        return;
    };
    let text = group_bytes(locations, group, line);
    let allow_negative = rules.families[metric.family].kind != MetricKind::Counter;
    let mut record = |value| store.record(rules, metric.family, key, Some(value));
    if let Err(reason) = read_values(text, metric.list, metric.scale, allow_negative, &mut record) {
        store.skip(metric.id, reason);
    }
}

/// Returns the bytes a group captured, or nothing if it did not take part in the match.
fn group_bytes<'a>(locations: &CaptureLocations, group: usize, line: &'a [u8]) -> &'a [u8] {
    match locations.get(group) {
        Some((start, end)) => &line[start..end],
        None => &[],
    }
}

/// Appends a label value to a series key, replacing invalid UTF-8 with U+FFFD so every key,
/// and so every exported label value, is valid UTF-8.
fn push_label_value(key: &mut Vec<u8>, value: &[u8]) {
    match String::from_utf8_lossy(value) {
        Cow::Borrowed(valid) => key.extend_from_slice(valid.as_bytes()),
        Cow::Owned(replaced) => key.extend_from_slice(replaced.as_bytes()),
    }
    key.push(KEY_SEPARATOR);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::metrics::{Series, label_values};

    const RULES: &str = r#"
[parse]
regex = '^(?P<method>\S+) (?P<code>\d{3}) (?P<bytes>\S*) (?P<ms>\S+)$'

[[metric]]
name = "requests_total"
type = "counter"
help = "Requests."
labels = ["method", { status = "code" }]

[[metric]]
name = "response_bytes_total"
type = "counter"
help = "Bytes."
value = "bytes"

[[metric]]
name = "duration_seconds"
type = "histogram"
help = "Duration."
value = "ms"
scale = 0.001
buckets = [0.5, 0.7]
"#;

    fn run(lines: &[&[u8]]) -> (Arc<RuleSet>, Store) {
        let rules = Arc::new(RuleSet::from_source(Path::new("test.toml"), RULES).unwrap());
        let mut store = Store::new(&rules);
        let mut engine = Engine::new(rules.clone());
        for line in lines {
            engine.apply(line, &mut store);
        }
        (rules, store)
    }

    fn series_of(store: &Store, family: usize) -> Vec<(Vec<String>, Series)> {
        let mut all: Vec<_> = store.families[family]
            .iter()
            .map(|(key, value, _created)| {
                (
                    label_values(key).map(str::to_owned).collect::<Vec<_>>(),
                    value.clone(),
                )
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    #[test]
    fn counts_by_labels() {
        let (_, store) = run(&[b"GET 200 10 700", b"GET 200 5 1", b"POST 500 - 2", b"junk"]);
        let requests = series_of(&store, 0);
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].0, ["GET", "200"]);
        assert_eq!(
            requests[0].1,
            Series::Counter(crate::decimal::Sum::Exact {
                mantissa: 2,
                exponent: 0
            })
        );
        assert_eq!(requests[1].0, ["POST", "500"]);
        assert_eq!(store.unmatched, [1]);
    }

    #[test]
    fn dash_and_empty_values_skip() {
        let (rules, store) = run(&[
            b"GET 200 10 1",
            b"GET 200 - 1",
            b"GET 200  1",
            b"GET 200 x 1",
        ]);
        let bytes = series_of(&store, 1);
        assert_eq!(
            bytes[0].1,
            Series::Counter(crate::decimal::Sum::Exact {
                mantissa: 10,
                exponent: 0
            })
        );
        assert_eq!(rules.metrics[1], "response_bytes_total");
        assert_eq!(store.skipped[1], [1, 1, 1, 0]);
    }

    #[test]
    fn scaled_value_lands_on_bound() {
        let (_, store) = run(&[b"GET 200 1 700", b"GET 200 1 500", b"GET 200 1 701"]);
        let Series::Histogram(histogram) = &series_of(&store, 2)[0].1 else {
            panic!()
        };
        assert_eq!(&*histogram.counts, &[1, 1, 1]);
        assert_eq!(histogram.sum.to_string(), "1.901");
    }

    #[test]
    fn similar_label_values_stay_apart() {
        let (_, store) = run(&[b"ab 200 1 1", b"a 200 1 1"]);
        assert_eq!(series_of(&store, 0).len(), 2);
    }

    #[test]
    fn invalid_utf8_label_is_replaced() {
        let (_, store) = run(&[b"G\xFFT 200 1 1", b"G\xFET 200 1 1"]);
        let requests = series_of(&store, 0);
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].0, ["G\u{FFFD}T", "200"]);
        assert_eq!(
            requests[0].1,
            Series::Counter(crate::decimal::Sum::Exact {
                mantissa: 2,
                exponent: 0
            })
        );
    }
}
