//! The series store: metric values keyed by their exact label values.
//!
//! It sits between the rule engine, which records updates into it, and exposition, which reads
//! it. Each family keeps a hash map from a series key to its value. A key is the label values
//! in label order, each followed by the byte `0xFF`. Label values are valid UTF-8 by the time
//! they reach the store, and `0xFF` never occurs in UTF-8, so two different label sets always
//! have different keys: `["ab", "c"]` and `["a", "bc"]` stay two series.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hashbrown::HashMap;
use tracing::warn;

use crate::decimal::{Decimal, Sum};
use crate::rules::{FamilyDef, MetricKind, RuleSet};

mod native;

pub use native::{NativeBuckets, ZERO_THRESHOLD as NATIVE_ZERO_THRESHOLD};

/// The label value of every label of a family's overflow series.
pub const OVERFLOW_LABEL_VALUE: &str = "__overflow__";

/// Ends each label value inside a series key.
pub const KEY_SEPARATOR: u8 = 0xFF;

/// The reason a metric update was skipped; each reason is counted per metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The value field was `-`, the usual mark for "no value" in access logs.
    Dash,
    /// The value field was empty or its group did not take part in the match.
    Empty,
    /// The value field was not a number, or scaling it overflowed.
    Invalid,
    /// A counter's value was negative, which would make the counter go down.
    Negative,
}

impl SkipReason {
    /// Every reason, in the order used for counting.
    pub const ALL: [SkipReason; 4] = [
        SkipReason::Dash,
        SkipReason::Empty,
        SkipReason::Invalid,
        SkipReason::Negative,
    ];

    /// The value of the `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Dash => "dash",
            SkipReason::Empty => "empty",
            SkipReason::Invalid => "invalid",
            SkipReason::Negative => "negative",
        }
    }
}

/// Orders gauge updates, so that the latest value wins when shards are merged.
static GAUGE_CLOCK: AtomicU64 = AtomicU64::new(0);

/// The value of one series.
#[derive(Debug, Clone, PartialEq)]
pub enum Series {
    Counter(Sum),
    Gauge { value: Decimal, stamp: u64 },
    Histogram(Histogram),
}

/// A histogram's state. `counts` contains one count per bucket, not cumulative, with the `+Inf`
/// bucket last; exposition makes them cumulative.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub counts: Box<[u64]>,
    pub sum: Sum,
    pub count: u64,
    /// The native buckets, kept besides the classic ones for a histogram with `native = true`.
    pub native: Option<Box<NativeBuckets>>,
}

impl Histogram {
    fn new(family: &FamilyDef) -> Histogram {
        Histogram {
            counts: vec![0; family.buckets.len() + 1].into(),
            sum: Sum::default(),
            count: 0,
            native: family.native.then(Box::default),
        }
    }

    /// Records one observation in the first bucket whose upper bound is at least `value`.
    fn observe(&mut self, bounds: &[f64], value: Decimal) {
        let float = value.to_f64();
        let bucket = bounds.partition_point(|bound| *bound < float);
        self.counts[bucket] += 1;
        self.sum.add(value);
        self.count += 1;
        if let Some(native) = &mut self.native {
            native.observe(float);
        }
    }
}

impl Series {
    fn new(family: &FamilyDef) -> Series {
        match family.kind {
            MetricKind::Counter => Series::Counter(Sum::default()),
            MetricKind::Gauge => Series::Gauge {
                value: Decimal::ZERO,
                stamp: 0,
            },
            MetricKind::Histogram => Series::Histogram(Histogram::new(family)),
        }
    }

    /// Adds a series filled from later lines to this one.
    fn merge(&mut self, later: Series) {
        match (self, later) {
            (Series::Counter(sum), Series::Counter(more)) => sum.add_sum(more),
            (Series::Histogram(mine), Series::Histogram(more)) => {
                for (count, extra) in mine.counts.iter_mut().zip(more.counts.iter()) {
                    *count += extra;
                }
                mine.sum.add_sum(more.sum);
                mine.count += more.count;
                if let (Some(native), Some(extra)) = (&mut mine.native, &more.native) {
                    native.merge(extra);
                }
            }
            // A gauge no line has set yet, such as an `initial` one, leaves the value alone.
            (Series::Gauge { .. }, Series::Gauge { stamp: 0, .. }) => {}
            (mine, later) => *mine = later,
        }
    }

    fn record(&mut self, family: &FamilyDef, value: Option<Decimal>) {
        match (self, value) {
            (Series::Counter(sum), None) => sum.add_one(),
            (Series::Counter(sum), Some(value)) => sum.add(value),
            (
                Series::Gauge {
                    value: current,
                    stamp,
                },
                Some(value),
            ) => {
                *current = value;
                *stamp = GAUGE_CLOCK.fetch_add(1, Ordering::Relaxed) + 1;
            }
            (Series::Histogram(histogram), Some(value)) => {
                histogram.observe(&family.buckets, value)
            }
            // Rules guarantee a value for gauges and histograms.
            (Series::Gauge { .. } | Series::Histogram(_), None) => {}
        }
    }
}

/// A series' value and when the series was created.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    value: Series,
    /// Creation time in milliseconds since the Unix epoch, for OpenMetrics `_created` and for
    /// the state file.
    created_ms: u64,
    /// Time of the last update, from the store's clock, for expiry.
    updated_ms: u64,
    /// True for a series a rule declares (`initial`, or a metric without labels), which
    /// expiry keeps.
    pinned: bool,
}

/// The series of one family.
#[derive(Debug, Clone, Default)]
pub struct FamilySeries {
    entries: HashMap<Box<[u8]>, Entry>,
}

impl FamilySeries {
    /// Adds the series of `later`, a family filled from lines that come after this one's:
    /// counters and histograms add up, a gauge takes `later`'s value, and a series keeps the
    /// earlier creation time.
    pub fn merge(&mut self, later: FamilySeries) {
        for (key, entry) in later.entries {
            match self.entries.get_mut(&key) {
                Some(mine) => {
                    mine.value.merge(entry.value);
                    mine.created_ms = mine.created_ms.min(entry.created_ms);
                }
                None => {
                    self.entries.insert(key, entry);
                }
            }
        }
    }

    /// The value of the series with this key.
    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Series> {
        self.entries.get_mut(key).map(|entry| &mut entry.value)
    }

    /// The value of the series with this key, marked as updated at `now_ms`.
    #[inline]
    fn touch(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Series> {
        let entry = self.entries.get_mut(key)?;
        entry.updated_ms = now_ms;
        Some(&mut entry.value)
    }

    /// Removes the series not updated since `before_ms`, except the one without labels, and
    /// returns how many it removed.
    fn remove_idle(&mut self, before_ms: u64) -> u64 {
        let count = self.entries.len();
        self.entries
            .retain(|key, entry| key.is_empty() || entry.pinned || entry.updated_ms >= before_ms);
        (count - self.entries.len()) as u64
    }

    /// Adds a series created now, replacing any with the same key.
    pub fn insert(&mut self, key: Box<[u8]>, value: Series) -> &mut Series {
        self.insert_created(key, value, now_ms())
    }

    /// Adds a series with a known creation time, as when restoring saved state.
    pub fn insert_created(
        &mut self,
        key: Box<[u8]>,
        value: Series,
        created_ms: u64,
    ) -> &mut Series {
        let updated_ms = now_ms();
        let entry = self.entries.entry(key).insert(Entry {
            value,
            created_ms,
            updated_ms,
            pinned: false,
        });
        &mut entry.into_mut().value
    }

    /// Returns the series with this key, adding `value` as a new series if there is none.
    pub fn get_or_insert(&mut self, key: Box<[u8]>, value: Series) -> &mut Series {
        let created_ms = now_ms();
        &mut self
            .entries
            .entry(key)
            .or_insert(Entry {
                value,
                created_ms,
                updated_ms: created_ms,
                pinned: false,
            })
            .value
    }

    /// Adds a series that expiry keeps, with `value` unless the series exists already, in
    /// which case it is kept as it is and only marked to be kept.
    pub fn pin(&mut self, key: &[u8], value: impl FnOnce() -> Series) {
        match self.entries.get_mut(key) {
            Some(entry) => entry.pinned = true,
            None => {
                let created_ms = now_ms();
                self.entries.insert(
                    key.into(),
                    Entry {
                        value: value(),
                        created_ms,
                        updated_ms: created_ms,
                        pinned: true,
                    },
                );
            }
        }
    }

    /// Every series as key, value and creation time in milliseconds, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Series, u64)> {
        self.entries
            .iter()
            .map(|(key, entry)| (&**key, &entry.value, entry.created_ms))
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns true when the family has no series.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The current time in milliseconds since the Unix epoch, or 0 if the clock is before it.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// All metric values of one rule set, plus the rule engine's own counts.
#[derive(Debug, Clone)]
pub struct Store {
    /// Series per family, indexed like [`RuleSet::families`].
    pub families: Vec<FamilySeries>,
    /// Lines that the rule file's patterns or its metrics' own regexes matched, per rule file.
    pub matched: Vec<u64>,
    /// Lines that the rule file did not match, per rule file.
    pub unmatched: Vec<u64>,
    /// Skipped updates per metric id and [`SkipReason`].
    pub skipped: Vec<[u64; SkipReason::ALL.len()]>,
    /// Updates folded into the overflow series, per family, because the family had reached
    /// its `max_series`.
    pub overflowed: Vec<u64>,
    /// Series removed for being idle longer than their family's `expire`, per family.
    pub expired: Vec<u64>,
    /// The time recorded as each updated series' last update, in milliseconds since the Unix
    /// epoch. Readers set it once per batch of lines, so the hot path reads no clock.
    clock_ms: u64,
}

impl Store {
    /// Creates a store for `rules`. The series every log starts with (see [`Store::attach`])
    /// are added for each rule file whose metrics take no labels from a log's source.
    pub fn new(rules: &RuleSet) -> Store {
        let mut store = Store {
            families: vec![FamilySeries::default(); rules.families.len()],
            matched: vec![0; rules.files.len()],
            unmatched: vec![0; rules.files.len()],
            skipped: vec![[0; SkipReason::ALL.len()]; rules.metrics.len()],
            overflowed: vec![0; rules.families.len()],
            expired: vec![0; rules.families.len()],
            clock_ms: now_ms(),
        };
        for (index, file) in rules.files.iter().enumerate() {
            if file.source_labels.names.is_empty() {
                store.attach(rules, index, &[]);
            }
        }
        store
    }

    /// Adds, where missing, the series a rule file's metrics start with for a log whose source
    /// key is `source`. A metric without labels of its own starts at zero, as client libraries
    /// do, so `rate()` works from the first scrape. So does each label set a metric lists in
    /// `initial`. Expiry keeps these series, unless they carry labels of a log's source, which
    /// go with their log (a pod's). Gauges without labels start empty, since they have no value
    /// before their first line.
    pub fn attach(&mut self, rules: &RuleSet, file: usize, source: &[u8]) {
        let mut key = Vec::new();
        for metric in &rules.files[file].metrics {
            let definition = &rules.families[metric.family];
            let series = &mut self.families[metric.family];
            let unlabelled = metric.label_fields.is_empty() && definition.kind != MetricKind::Gauge;
            let empty: &[u8] = &[];
            let starts = unlabelled
                .then_some(empty)
                .into_iter()
                .chain(metric.initial.iter().map(|fields| &fields[..]));
            for fields in starts {
                key.clear();
                key.extend_from_slice(fields);
                key.extend_from_slice(&metric.const_key);
                key.extend_from_slice(source);
                let exists = series.get_mut(&key).is_some();
                if source.is_empty() && (exists || series.len() < definition.max_series) {
                    series.pin(&key, || Series::new(definition));
                } else if !exists && series.len() < definition.max_series {
                    series.insert(key.as_slice().into(), Series::new(definition));
                }
            }
        }
    }

    /// Records an update of one series: adds to a counter (one when `value` is `None`), sets a
    /// gauge, or observes a histogram value. Allocates only for a series seen the first time.
    #[inline]
    pub fn record(&mut self, rules: &RuleSet, family: usize, key: &[u8], value: Option<Decimal>) {
        let definition = &rules.families[family];
        let series = &mut self.families[family];
        if let Some(existing) = series.touch(key, self.clock_ms) {
            existing.record(definition, value);
        } else if series.len() >= definition.max_series {
            self.overflow(rules, family, value);
        } else {
            series
                .insert(key.into(), Series::new(definition))
                .record(definition, value);
        }
    }

    /// Records an update that would create a series beyond the family's `max_series` in the
    /// family's overflow series, whose every label value is [`OVERFLOW_LABEL_VALUE`].
    #[cold]
    fn overflow(&mut self, rules: &RuleSet, family: usize, value: Option<Decimal>) {
        let definition = &rules.families[family];
        let mut key = Vec::new();
        for _ in &definition.label_names {
            key.extend_from_slice(OVERFLOW_LABEL_VALUE.as_bytes());
            key.push(KEY_SEPARATOR);
        }
        let series = &mut self.families[family];
        match series.get_mut(&key) {
            Some(existing) => existing.record(definition, value),
            None => series
                .insert(key.into(), Series::new(definition))
                .record(definition, value),
        }
        if self.overflowed[family] == 0 {
            warn!(
                metric = definition.name,
                max_series = definition.max_series,
                "Metric reached max_series; further new label sets go to one overflow series."
            );
        }
        self.overflowed[family] += 1;
    }

    /// Adds a store filled from later lines with the same rules, as when files are read on
    /// several threads and each thread's store is merged in file order.
    pub fn merge(&mut self, later: Store) {
        for (mine, theirs) in self.families.iter_mut().zip(later.families) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.matched.iter_mut().zip(later.matched) {
            *mine += theirs;
        }
        for (mine, theirs) in self.unmatched.iter_mut().zip(later.unmatched) {
            *mine += theirs;
        }
        for (mine, theirs) in self.skipped.iter_mut().zip(later.skipped) {
            for (count, extra) in mine.iter_mut().zip(theirs) {
                *count += extra;
            }
        }
        for (mine, theirs) in self.overflowed.iter_mut().zip(later.overflowed) {
            *mine += theirs;
        }
        for (mine, theirs) in self.expired.iter_mut().zip(later.expired) {
            *mine += theirs;
        }
    }

    /// Sets the time recorded as the last update of series updated from now on.
    pub fn set_clock(&mut self, now_ms: u64) {
        self.clock_ms = now_ms;
    }

    /// Removes labelled series not updated for longer than their family's `expire`, or
    /// `default_expire` for families without one, and counts them per family.
    pub fn expire(&mut self, rules: &RuleSet, now_ms: u64, default_expire: Option<Duration>) {
        for (index, definition) in rules.families.iter().enumerate() {
            let Some(expire) = definition.expire.or(default_expire) else {
                continue;
            };
            let before_ms = now_ms.saturating_sub(expire.as_millis() as u64);
            self.expired[index] += self.families[index].remove_idle(before_ms);
        }
    }

    /// Counts an update skipped for `reason`.
    pub fn skip(&mut self, metric: usize, reason: SkipReason) {
        self.skipped[metric][reason as usize] += 1;
    }
}

/// Splits a series key into its label values.
pub fn label_values(key: &[u8]) -> impl Iterator<Item = &str> {
    key.split(|byte| *byte == KEY_SEPARATOR)
        .take(key.iter().filter(|byte| **byte == KEY_SEPARATOR).count())
        .map(|value| std::str::from_utf8(value).unwrap_or("\u{FFFD}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(kind: MetricKind, buckets: &[f64]) -> FamilyDef {
        FamilyDef {
            name: "m".into(),
            help: "h".into(),
            kind,
            label_names: vec!["a".into()],
            buckets: buckets.to_vec(),
            max_series: usize::MAX,
            expire: None,
            native: false,
        }
    }

    #[test]
    fn histogram_bounds_are_inclusive() {
        let definition = family(MetricKind::Histogram, &[0.01, 0.1, 1.0]);
        let mut series = Series::new(&definition);
        for text in ["0", "0.01", "0.05", "0.1", "1", "7"] {
            series.record(&definition, Decimal::parse(text.as_bytes()));
        }
        let Series::Histogram(histogram) = series else {
            panic!("not a histogram")
        };
        assert_eq!(&*histogram.counts, &[2, 2, 1, 1]);
        assert_eq!(histogram.count, 6);
        assert_eq!(histogram.sum.to_string(), "8.16");
    }

    #[test]
    fn label_values_split_keys() {
        let key = b"ab\xFFc\xFF";
        assert_eq!(label_values(key).collect::<Vec<_>>(), ["ab", "c"]);
        assert_eq!(label_values(b"\xFF").collect::<Vec<_>>(), [""]);
        assert_eq!(label_values(b"").count(), 0);
    }

    #[test]
    fn gauge_keeps_last_value() {
        let definition = family(MetricKind::Gauge, &[]);
        let mut series = Series::new(&definition);
        series.record(&definition, Decimal::parse(b"5"));
        series.record(&definition, Decimal::parse(b"2"));
        let Series::Gauge { value, .. } = series else {
            panic!("not a gauge")
        };
        assert_eq!(value.to_string(), "2");
    }

    #[test]
    fn merged_stores_add_and_keep_last_gauge() {
        let counter = family(MetricKind::Counter, &[]);
        let gauge = family(MetricKind::Gauge, &[]);
        let histogram = family(MetricKind::Histogram, &[1.0]);
        let mut first = Series::new(&counter);
        first.record(&counter, None);
        let mut second = Series::new(&counter);
        second.record(&counter, Decimal::parse(b"2.5"));
        first.merge(second);
        assert_eq!(
            first,
            Series::Counter(Sum::Exact {
                mantissa: 35,
                exponent: -1
            })
        );

        let mut early = Series::new(&gauge);
        early.record(&gauge, Decimal::parse(b"9"));
        let mut late = Series::new(&gauge);
        late.record(&gauge, Decimal::parse(b"4"));
        early.merge(late);
        let Series::Gauge { value, .. } = early else {
            panic!("not a gauge")
        };
        assert_eq!(value.to_string(), "4");

        let mut a = Series::new(&histogram);
        a.record(&histogram, Decimal::parse(b"0.5"));
        let mut b = Series::new(&histogram);
        b.record(&histogram, Decimal::parse(b"3"));
        a.merge(b);
        let Series::Histogram(merged) = a else {
            panic!("not a histogram")
        };
        assert_eq!(&*merged.counts, &[1, 1]);
        assert_eq!(merged.count, 2);
        assert_eq!(merged.sum.to_string(), "3.5");
    }
}
