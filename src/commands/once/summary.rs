//! `logtally once --summary`: the metrics as a table for people instead of the exposition.
//!
//! One row per series: its value, its average rate over the time span of the log, and for
//! histograms the sum and estimated quantiles. Values print exactly, as in the exposition;
//! rates and quantiles are estimates and print with four significant digits.

use std::fmt::Write;

use crate::decimal::Decimal;
use crate::engine::{TimeFields, TimeSpan, format_utc};
use crate::exposition::escape_label_value;
use crate::metrics::{FamilySeries, Histogram, Series, Store, label_values};
use crate::rules::{FamilyDef, MetricKind, RuleSet};

/// Fields that give a line's time unless `--summary-time-field` names one, tried in this
/// order on each line: the names of the usual access-log timestamps.
pub const DEFAULT_TIME_FIELDS: [&str; 6] = [
    "time",
    "timestamp",
    "@timestamp",
    "time_local",
    "time_iso8601",
    "start_time",
];

/// The quantiles estimated for histograms, with their column titles.
const QUANTILES: [(f64, &str); 3] = [(0.5, "P50"), (0.9, "P90"), (0.99, "P99")];

/// Significant digits of rates and quantile estimates.
const ESTIMATE_DIGITS: i32 = 4;

/// Finds the fields that give each rule file's line times: the field `named`, or else the
/// [`DEFAULT_TIME_FIELDS`]. A rule file with a JSON or logfmt pattern gets the fields added,
/// since its keys are known only per line. Returns an error message when no rule file has
/// the named field.
pub fn time_fields(rules: &mut RuleSet, named: Option<&str>) -> Result<TimeFields, String> {
    let names: Vec<&str> = match named {
        Some(name) => vec![name],
        None => DEFAULT_TIME_FIELDS.to_vec(),
    };
    let per_file: Vec<Vec<usize>> = rules
        .files
        .iter_mut()
        .map(|file| {
            names
                .iter()
                .filter_map(|name| file.find_or_add_field(name))
                .collect()
        })
        .collect();
    if let Some(name) = named
        && per_file.iter().all(Vec::is_empty)
    {
        return Err(format!(
            "--summary-time-field: no rule file has a field named {name:?}. {}",
            known_fields(rules)
        ));
    }
    Ok(TimeFields {
        per_file,
        numbers_are_seconds: named.is_some(),
    })
}

/// Lists the fields of the rule files, for the message about an unknown time field.
fn known_fields(rules: &RuleSet) -> String {
    let mut names: Vec<&str> = rules
        .files
        .iter()
        .flat_map(|file| file.fields.iter().map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return "The rule files define no fields.".to_owned();
    }
    format!("Name one of these fields: {}", names.join(", "))
}

/// Writes the summary: a line on the time span, a blank line, and the table. `time_field` is
/// the field `--summary-time-field` named, if any.
pub fn write(
    out: &mut String,
    rules: &RuleSet,
    store: &Store,
    span: Option<TimeSpan>,
    time_field: Option<&str>,
) {
    let seconds = span.and_then(|span| span.seconds());
    out.push_str(&describe_span(span, seconds, time_field));
    out.push_str("\n\n");

    let rate_seconds = seconds
        .map(Decimal::to_f64)
        .filter(|seconds| *seconds > 0.0);
    let histograms = rules
        .families
        .iter()
        .any(|family| family.kind == MetricKind::Histogram);
    let mut table = Table::new(histograms, rate_seconds.is_some());
    let mut families: Vec<(&FamilyDef, &FamilySeries)> =
        rules.families.iter().zip(&store.families).collect();
    families.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    for (family, series) in families {
        add_family(&mut table, family, series, rate_seconds);
    }
    table.write(out);
}

/// Describes the time span rates are computed over, or why there are no rates.
fn describe_span(
    span: Option<TimeSpan>,
    seconds: Option<Decimal>,
    time_field: Option<&str>,
) -> String {
    let time = |seconds: Decimal| format_utc(seconds).unwrap_or_else(|| format!("{seconds} s"));
    match (span, seconds) {
        (None, _) => {
            let fields = match time_field {
                Some(name) => format!("the field {name}"),
                None => {
                    let (last, others) = DEFAULT_TIME_FIELDS.split_last().expect("not empty");
                    format!("a field named {} or {last}", others.join(", "))
                }
            };
            let reason = format!("no matched line has a timestamp in {fields}");
            format!("time span: unknown ({reason}), so no rates")
        }
        (Some(span), _) if span.earliest.compare(span.latest).is_eq() => format!(
            "time span: 0 s (every timestamp is {}), so no rates",
            time(span.earliest)
        ),
        (Some(span), Some(seconds)) => format!(
            "time span: {seconds} s, from {} to {}",
            time(span.earliest),
            time(span.latest)
        ),
        (Some(span), None) => format!(
            "time span: from {} to {}, too long to compute, so no rates",
            time(span.earliest),
            time(span.latest)
        ),
    }
}

/// Adds the rows of one family, its series sorted by label values as in the exposition.
fn add_family(
    table: &mut Table,
    family: &FamilyDef,
    series: &FamilySeries,
    rate_seconds: Option<f64>,
) {
    if series.is_empty() {
        table.add(Row::new(family, "(no series)".to_owned()));
        return;
    }
    let mut sorted: Vec<(&[u8], &Series)> =
        series.iter().map(|(key, value, _)| (key, value)).collect();
    sorted.sort_by(|a, b| label_values(a.0).cmp(label_values(b.0)));
    for (key, value) in sorted {
        let mut row = Row::new(family, format_labels(family, key));
        let rate = |count: f64| rate_seconds.map(|seconds| format_estimate(count / seconds));
        match value {
            Series::Counter(sum) => {
                row.value = sum.to_string();
                row.rate = rate(sum.to_f64());
            }
            Series::Gauge { value, .. } => row.value = value.to_string(),
            Series::Histogram(histogram) => {
                row.value = histogram.count.to_string();
                row.sum = Some(histogram.sum.to_string());
                row.rate = rate(histogram.count as f64);
                row.quantiles = QUANTILES.map(|(quantile, _)| {
                    estimate_quantile(quantile, &family.buckets, histogram).map(format_estimate)
                });
            }
        }
        table.add(row);
    }
}

/// Formats a series' labels as PromQL writes them, `{method="GET",code="200"}`, or as
/// nothing for a series without labels.
fn format_labels(family: &FamilyDef, key: &[u8]) -> String {
    if family.label_names.is_empty() {
        return String::new();
    }
    let mut text = String::from("{");
    for (index, (name, value)) in family.label_names.iter().zip(label_values(key)).enumerate() {
        if index > 0 {
            text.push(',');
        }
        text.push_str(name);
        text.push_str("=\"");
        escape_label_value(&mut text, value);
        text.push('"');
    }
    text.push('}');
    text
}

/// Estimates the `quantile` of a histogram as PromQL's `histogram_quantile` does for a
/// classic histogram (`bucketQuantile` in Prometheus's promql/quantile.go). It finds the
/// bucket that contains the quantile's rank and interpolates linearly inside it, so it assumes
/// observations spread evenly within each bucket. The lowest bucket starts at 0 when its
/// bound is above 0. When the rank falls in the `+Inf` bucket, the estimate is the highest
/// finite bound. Returns `None` for a histogram without observations.
fn estimate_quantile(quantile: f64, bounds: &[f64], histogram: &Histogram) -> Option<f64> {
    if histogram.count == 0 {
        return None;
    }
    let rank = quantile * histogram.count as f64;
    let mut below = 0;
    for (index, bound) in bounds.iter().enumerate() {
        let cumulative = below + histogram.counts[index];
        if cumulative as f64 >= rank {
            if index == 0 && *bound <= 0.0 {
                return Some(*bound);
            }
            let lower = if index == 0 { 0.0 } else { bounds[index - 1] };
            let in_bucket = (cumulative - below) as f64;
            return Some(lower + (bound - lower) * ((rank - below as f64) / in_bucket));
        }
        below = cumulative;
    }
    bounds.last().copied()
}

/// Formats an estimate with [`ESTIMATE_DIGITS`] significant digits, without an exponent and
/// without trailing zeros: `0.0375`, `106.4`, `12500`.
fn format_estimate(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        let mut text = String::new();
        crate::decimal::write_float(&mut text, value).expect("writing to a String");
        return text;
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (ESTIMATE_DIGITS - 1 - magnitude).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if !text.contains('.') {
        return text;
    }
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// One row of the table; `None` cells print as `-`.
struct Row {
    metric: String,
    labels: String,
    value: String,
    sum: Option<String>,
    rate: Option<String>,
    quantiles: [Option<String>; 3],
}

impl Row {
    fn new(family: &FamilyDef, labels: String) -> Row {
        Row {
            metric: family.name.clone(),
            labels,
            value: "-".to_owned(),
            sum: None,
            rate: None,
            quantiles: [None, None, None],
        }
    }
}

/// Whether a column's cells are padded on the right (text) or on the left (numbers).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// The summary table: columns chosen for the rules, and rows in output order.
struct Table {
    /// Whether the SUM and quantile columns are shown: only when a metric is a histogram.
    histograms: bool,
    /// Whether the RATE/S column is shown: only when the time span is longer than 0 s.
    rates: bool,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(histograms: bool, rates: bool) -> Table {
        Table {
            histograms,
            rates,
            rows: Vec::new(),
        }
    }

    /// Returns the titles and alignments of the columns shown, in order.
    fn columns(&self) -> Vec<(&'static str, Align)> {
        let mut columns = vec![
            ("METRIC", Align::Left),
            ("LABELS", Align::Left),
            ("VALUE", Align::Right),
        ];
        if self.histograms {
            columns.push(("SUM", Align::Right));
        }
        if self.rates {
            columns.push(("RATE/S", Align::Right));
        }
        if self.histograms {
            columns.extend(QUANTILES.map(|(_, title)| (title, Align::Right)));
        }
        columns
    }

    fn add(&mut self, row: Row) {
        let dash = |cell: Option<String>| cell.unwrap_or_else(|| "-".to_owned());
        let mut cells = vec![row.metric, row.labels, row.value];
        if self.histograms {
            cells.push(dash(row.sum));
        }
        if self.rates {
            cells.push(dash(row.rate));
        }
        if self.histograms {
            cells.extend(row.quantiles.map(dash));
        }
        self.rows.push(cells);
    }

    /// Writes the title line and the rows, each column as wide as its widest cell and
    /// separated by two spaces, with no spaces at the ends of lines.
    fn write(&self, out: &mut String) {
        let columns = self.columns();
        let titles: Vec<String> = columns.iter().map(|(title, _)| title.to_string()).collect();
        let mut widths: Vec<usize> = titles.iter().map(|title| title.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        for row in std::iter::once(&titles).chain(&self.rows) {
            let mut line = String::new();
            for ((cell, width), (_, align)) in row.iter().zip(&widths).zip(&columns) {
                if !line.is_empty() {
                    line.push_str("  ");
                }
                let padding = width - cell.chars().count();
                match align {
                    Align::Left => write!(line, "{cell}{}", " ".repeat(padding)),
                    Align::Right => write!(line, "{}{cell}", " ".repeat(padding)),
                }
                .expect("writing to a String");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(counts: &[u64]) -> Histogram {
        Histogram {
            counts: counts.into(),
            sum: Default::default(),
            count: counts.iter().sum(),
            native: None,
        }
    }

    #[test]
    fn quantile_interpolates_in_bucket() {
        // Bounds 0.5, 1 and +Inf with 6, 5 and 3 observations. The median's rank is 7, the
        // second of the 5 in (0.5, 1], so the estimate is 0.5 + 0.5 * 1/5.
        let bounds = [0.5, 1.0];
        let observed = histogram(&[6, 5, 3]);
        assert_eq!(estimate_quantile(0.5, &bounds, &observed), Some(0.6));
        // Rank 2.5 of 10 lies in the first bucket, which starts at 0: 0.5 * 2.5/4.
        let low = histogram(&[4, 4, 2]);
        assert_eq!(estimate_quantile(0.25, &bounds, &low), Some(0.3125));
    }

    #[test]
    fn quantile_in_inf_bucket_is_highest_bound() {
        let observed = histogram(&[1, 1, 8]);
        assert_eq!(estimate_quantile(0.9, &[0.5, 1.0], &observed), Some(1.0));
    }

    #[test]
    fn quantile_below_zero_bound() {
        // A lowest bound at or below 0 has no lower end to interpolate from.
        let observed = histogram(&[4, 1]);
        assert_eq!(estimate_quantile(0.5, &[-1.0], &observed), Some(-1.0));
    }

    #[test]
    fn quantile_of_empty_histogram() {
        assert_eq!(estimate_quantile(0.5, &[1.0], &histogram(&[0, 0])), None);
    }

    #[test]
    fn estimates_keep_four_digits() {
        assert_eq!(format_estimate(0.0375), "0.0375");
        assert_eq!(format_estimate(106.44), "106.4");
        assert_eq!(format_estimate(12_500.4), "12500");
        assert_eq!(format_estimate(0.000_011_574), "0.00001157");
        assert_eq!(format_estimate(9.999_96), "10");
        assert_eq!(format_estimate(2.5), "2.5");
        assert_eq!(format_estimate(0.0), "0");
        assert_eq!(format_estimate(-0.25), "-0.25");
    }

    #[test]
    fn table_aligns_columns() {
        let mut table = Table::new(false, true);
        table.rows.push(vec![
            "a_total".into(),
            "{x=\"1\"}".into(),
            "12".into(),
            "0.5".into(),
        ]);
        table.rows.push(vec![
            "longer_name_total".into(),
            String::new(),
            "3".into(),
            "-".into(),
        ]);
        let mut out = String::new();
        table.write(&mut out);
        assert_eq!(
            out,
            "\
METRIC             LABELS   VALUE  RATE/S
a_total            {x=\"1\"}     12     0.5
longer_name_total               3       -
"
        );
    }
}
