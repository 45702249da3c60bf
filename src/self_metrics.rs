//! logtally's own metrics (`logtally_*`), built at scrape time from the counts the other stages
//! keep, so the hot path never updates them separately.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::decimal::{Decimal, Sum};
use crate::metrics::{FamilySeries, KEY_SEPARATOR, Series, SkipReason, Store};
use crate::remote_write::{DestinationStats, FailureKind};
use crate::rules::{FamilyDef, MetricKind, RuleSet};
use crate::tail::FileStats;

/// One self-metric family with its series.
pub type OwnFamily = (FamilyDef, FamilySeries);

/// A counter or gauge taken from each followed path's stats.
struct PerFile {
    name: &'static str,
    kind: MetricKind,
    help: &'static str,
    value: fn(&FileStats) -> u64,
}

const PER_FILE: [PerFile; 9] = [
    PerFile {
        name: "logtally_lines_read_total",
        kind: MetricKind::Counter,
        help: "Lines read from each followed file.",
        value: |stats| stats.lines,
    },
    PerFile {
        name: "logtally_bytes_read_total",
        kind: MetricKind::Counter,
        help: "Bytes read from each followed file.",
        value: |stats| stats.bytes,
    },
    PerFile {
        name: "logtally_lines_truncated_total",
        kind: MetricKind::Counter,
        help: "Lines cut to the maximum line length before matching.",
        value: |stats| stats.truncated_lines,
    },
    PerFile {
        name: "logtally_nul_bytes_skipped_total",
        kind: MetricKind::Counter,
        help: "NUL bytes dropped before lines, as left by copytruncate rotation.",
        value: |stats| stats.nul_bytes,
    },
    PerFile {
        name: "logtally_file_rotations_total",
        kind: MetricKind::Counter,
        help: "Times a followed path started naming another file.",
        value: |stats| stats.rotations,
    },
    PerFile {
        name: "logtally_file_truncations_total",
        kind: MetricKind::Counter,
        help: "Times a followed file got shorter or was rewritten from its start.",
        value: |stats| stats.truncations,
    },
    PerFile {
        name: "logtally_file_errors_total",
        kind: MetricKind::Counter,
        help: "Failed opens and reads of each followed file.",
        value: |stats| stats.errors,
    },
    PerFile {
        name: "logtally_file_offset_bytes",
        kind: MetricKind::Gauge,
        help: "Bytes read so far from the file each path names.",
        value: |stats| stats.offset,
    },
    PerFile {
        name: "logtally_file_size_bytes",
        kind: MetricKind::Gauge,
        help: "Size of the file each path names, when last read; size minus offset is the lag.",
        value: |stats| stats.size,
    },
];

/// Outcome of the last rule reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadStatus {
    pub ok: bool,
    /// Time of the last successful load, in milliseconds since the Unix epoch.
    pub last_success_ms: u64,
}

/// Builds the self-metric families.
pub fn families(
    rules: &RuleSet,
    store: &Store,
    files: &BTreeMap<PathBuf, FileStats>,
    open_files: u64,
    reload: ReloadStatus,
) -> Vec<OwnFamily> {
    let mut families: Vec<OwnFamily> = PER_FILE
        .iter()
        .map(|metric| {
            let series = files
                .iter()
                .map(|(path, stats)| (vec![path_label(path)], (metric.value)(stats)));
            family(metric.name, metric.kind, metric.help, &["path"], series)
        })
        .collect();

    families.push(family(
        "logtally_files_followed",
        MetricKind::Gauge,
        "Files open now, counting rotated files still being read to their end.",
        &[],
        std::iter::once((Vec::new(), open_files)),
    ));
    families.extend(line_counts(rules, store));
    families.push(skipped(rules, store));
    families.extend(series_counts(rules, store));
    families.extend(reload_families(reload));
    families
}

/// Lines each rule file matched and did not match; the two add up to the lines the file was
/// applied to.
fn line_counts(rules: &RuleSet, store: &Store) -> [OwnFamily; 2] {
    let per_file = |counts: &[u64]| {
        rules
            .files
            .iter()
            .zip(counts)
            .map(|(file, count)| (vec![path_label(&file.path)], *count))
            .collect::<Vec<_>>()
    };
    [
        family(
            "logtally_lines_matched_total",
            MetricKind::Counter,
            "Lines that the [parse] patterns or a metric's own regex of each rule file matched.",
            &["rules"],
            per_file(&store.matched).into_iter(),
        ),
        family(
            "logtally_lines_unmatched_total",
            MetricKind::Counter,
            "Lines that neither the [parse] patterns nor a metric's own regex of each rule file \
             matched.",
            &["rules"],
            per_file(&store.unmatched).into_iter(),
        ),
    ]
}

fn skipped(rules: &RuleSet, store: &Store) -> OwnFamily {
    let with_values = rules
        .files
        .iter()
        .flat_map(|file| &file.metrics)
        .filter(|metric| metric.value_field.is_some());
    let series = with_values.flat_map(|metric| {
        SkipReason::ALL.iter().map(move |reason| {
            let count = store.skipped[metric.id][*reason as usize];
            (
                vec![rules.metrics[metric.id].clone(), reason.as_str().to_owned()],
                count,
            )
        })
    });
    family(
        "logtally_values_skipped_total",
        MetricKind::Counter,
        "Metric updates skipped because the value field was a dash, empty, not a number, or \
         negative for a counter.",
        &["metric", "reason"],
        series,
    )
}

/// The Prometheus-style reload status: success as 0 or 1, and the time of the last success.
fn reload_families(reload: ReloadStatus) -> [OwnFamily; 2] {
    let seconds = Decimal::new(reload.last_success_ms as i64, -3);
    let mut time = family(
        "logtally_config_last_reload_success_timestamp_seconds",
        MetricKind::Gauge,
        "Time of the last successful load of the rule files, in seconds since the Unix epoch.",
        &[],
        std::iter::empty(),
    );
    time.1.insert(
        Box::default(),
        Series::Gauge {
            value: seconds,
            stamp: 0,
        },
    );
    [
        family(
            "logtally_config_last_reload_successful",
            MetricKind::Gauge,
            "Whether the last reload of the rule files succeeded (1) or failed and kept the old \
             rules (0).",
            &[],
            std::iter::once((Vec::new(), u64::from(reload.ok))),
        ),
        time,
    ]
}

/// The number of series per metric, and the updates folded into overflow series.
fn series_counts(rules: &RuleSet, store: &Store) -> [OwnFamily; 3] {
    let per_family = || {
        rules
            .families
            .iter()
            .zip(&store.families)
            .zip(&store.overflowed)
    };
    let sizes = per_family()
        .map(|((definition, series), _)| (vec![definition.name.clone()], series.len() as u64));
    let overflowed =
        per_family().map(|((definition, _), count)| (vec![definition.name.clone()], *count));
    let expired = rules
        .families
        .iter()
        .zip(&store.expired)
        .map(|(definition, count)| (vec![definition.name.clone()], *count));
    [
        family(
            "logtally_series",
            MetricKind::Gauge,
            "Series each metric has now, counting its overflow series.",
            &["metric"],
            sizes,
        ),
        family(
            "logtally_series_overflowed_total",
            MetricKind::Counter,
            "Updates that would have created a label set beyond the metric's max_series and \
             went to its overflow series.",
            &["metric"],
            overflowed,
        ),
        family(
            "logtally_series_expired_total",
            MetricKind::Counter,
            "Series removed because they were not updated within the metric's expire time.",
            &["metric"],
            expired,
        ),
    ]
}

/// Builds the remote-write families: the counts of each URL.
pub fn remote_write(destinations: &[DestinationStats]) -> Vec<OwnFamily> {
    let per_url = |value: fn(&DestinationStats) -> u64| {
        destinations
            .iter()
            .map(move |destination| (vec![destination.url.clone()], value(destination)))
    };
    let failures = destinations.iter().flat_map(|destination| {
        FailureKind::ALL
            .iter()
            .zip(destination.failures)
            .map(|(kind, count)| {
                let labels = vec![destination.url.clone(), kind.as_str().to_owned()];
                (labels, count)
            })
    });
    let mut last_success = family(
        "logtally_remote_write_last_success_timestamp_seconds",
        MetricKind::Gauge,
        "Time of the last push that each remote-write URL accepted, in seconds since the Unix \
         epoch; 0 before the first.",
        &["url"],
        std::iter::empty(),
    );
    for destination in destinations {
        let mut key = destination.url.as_bytes().to_vec();
        key.push(KEY_SEPARATOR);
        let seconds = Decimal::new(destination.last_success_ms as i64, -3);
        let value = Series::Gauge {
            value: seconds,
            stamp: 0,
        };
        last_success.1.insert(key.into(), value);
    }
    vec![
        family(
            "logtally_remote_write_samples_sent_total",
            MetricKind::Counter,
            "Samples that each remote-write URL accepted, stale markers included.",
            &["url"],
            per_url(|destination| destination.samples_sent),
        ),
        family(
            "logtally_remote_write_failures_total",
            MetricKind::Counter,
            "Failed remote-write pushes by reason: connection, timeout, server_error (5xx) and \
             throttled (429) are retried; rejected (any other status) is not.",
            &["url", "reason"],
            failures,
        ),
        last_success,
        family(
            "logtally_remote_write_snapshots_dropped_total",
            MetricKind::Counter,
            "Snapshots dropped unsent because the queue of a remote-write URL was full; later \
             snapshots carry their counter values.",
            &["url"],
            per_url(|destination| destination.dropped),
        ),
        family(
            "logtally_remote_write_pending_snapshots",
            MetricKind::Gauge,
            "Snapshots waiting to be pushed to each remote-write URL.",
            &["url"],
            per_url(|destination| destination.pending),
        ),
    ]
}

fn path_label(path: &std::path::Path) -> String {
    path.to_string_lossy().into_owned()
}

fn family(
    name: &str,
    kind: MetricKind,
    help: &str,
    labels: &[&str],
    series: impl Iterator<Item = (Vec<String>, u64)>,
) -> OwnFamily {
    let definition = FamilyDef {
        name: name.to_owned(),
        help: help.to_owned(),
        kind,
        label_names: labels.iter().map(|label| (*label).to_owned()).collect(),
        buckets: Vec::new(),
        max_series: usize::MAX,
        expire: None,
        native: false,
    };
    let mut family = FamilySeries::default();
    for (values, count) in series {
        let mut key = Vec::new();
        for value in values {
            key.extend_from_slice(value.as_bytes());
            key.push(KEY_SEPARATOR);
        }
        add(&mut family, key, kind, count);
    }
    (definition, family)
}

/// Adds a count to a series. Two paths that differ only in invalid UTF-8 get one label value,
/// and their counts add up.
fn add(family: &mut FamilySeries, key: Vec<u8>, kind: MetricKind, count: u64) {
    let value = Decimal::new(i64::try_from(count).unwrap_or(i64::MAX), 0);
    let key: Box<[u8]> = key.into();
    match kind {
        MetricKind::Gauge => {
            let series = family.get_or_insert(
                key,
                Series::Gauge {
                    value: Decimal::ZERO,
                    stamp: 0,
                },
            );
            if let Series::Gauge { value: current, .. } = series {
                *current = current.checked_add(value).unwrap_or(value);
            }
        }
        _ => {
            let series = family.get_or_insert(key, Series::Counter(Sum::default()));
            if let Series::Counter(total) = series {
                total.add(value);
            }
        }
    }
}
