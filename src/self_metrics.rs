//! logtally's own metrics (`logtally_*`), built at scrape time from the counts the other stages
//! keep, so the hot path never touches them separately.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::decimal::{Decimal, Sum};
use crate::metrics::{FamilySeries, KEY_SEPARATOR, Series, SkipReason, Store};
use crate::rules::{FamilyDef, MetricKind, RuleSet};

/// Counts kept by the daemon outside the rule store.
#[derive(Debug, Default)]
pub struct TailCounts {
    /// Lines read per followed path.
    pub lines_read: BTreeMap<PathBuf, u64>,
}

/// Builds the self-metric families.
pub fn families(
    rules: &RuleSet,
    store: &Store,
    tail: &TailCounts,
) -> Vec<(FamilyDef, FamilySeries)> {
    let lines_read = tail
        .lines_read
        .iter()
        .map(|(path, count)| (vec![path.to_string_lossy().into_owned()], *count));
    let unmatched = rules
        .files
        .iter()
        .zip(&store.unmatched)
        .map(|(file, count)| (vec![file.path.to_string_lossy().into_owned()], *count));
    let skipped = rules
        .files
        .iter()
        .flat_map(|file| &file.metrics)
        .filter(|metric| metric.value_group.is_some())
        .flat_map(|metric| {
            SkipReason::ALL.iter().map(move |reason| {
                let count = store.skipped[metric.id][*reason as usize];
                (
                    vec![rules.metrics[metric.id].clone(), reason.as_str().to_owned()],
                    count,
                )
            })
        });

    vec![
        counter(
            "logtally_lines_read_total",
            "Lines read from each followed file.",
            &["path"],
            lines_read,
        ),
        counter(
            "logtally_lines_unmatched_total",
            "Lines that did not match the [parse] regex of each rule file.",
            &["rules"],
            unmatched,
        ),
        counter(
            "logtally_values_skipped_total",
            "Metric updates skipped because the value field was a dash, empty, not a number, \
             or negative for a counter.",
            &["metric", "reason"],
            skipped,
        ),
    ]
}

fn counter(
    name: &str,
    help: &str,
    labels: &[&str],
    series: impl Iterator<Item = (Vec<String>, u64)>,
) -> (FamilyDef, FamilySeries) {
    let definition = FamilyDef {
        name: name.to_owned(),
        help: help.to_owned(),
        kind: MetricKind::Counter,
        label_names: labels.iter().map(|label| (*label).to_owned()).collect(),
        buckets: Vec::new(),
    };
    let mut family = FamilySeries::default();
    for (values, count) in series {
        let mut key = Vec::new();
        for value in values {
            key.extend_from_slice(value.as_bytes());
            key.push(KEY_SEPARATOR);
        }
        let mut sum = Sum::default();
        sum.add(Decimal::new(count as i64, 0));
        // Two paths that differ only in invalid UTF-8 share a label value; add them up.
        let entry = family
            .series
            .entry(key.into())
            .or_insert(Series::Counter(Sum::default()));
        if let Series::Counter(total) = entry {
            total.add_sum(sum);
        }
    }
    (definition, family)
}
