//! Exposition: writes metric families in the Prometheus text format, version 0.0.4.
//!
//! Output is deterministic: families sorted by name, series sorted by their label values
//! (label by label, in the rule's label order), labels in that order, and numbers printed
//! exactly. Counters and sums print their exact decimal; bucket bounds print as the shortest
//! text that reads back as the same float.

use std::cmp::Ordering;
use std::fmt::Write;

use crate::decimal::write_float;
use crate::metrics::{FamilySeries, Histogram, Series, label_values};
use crate::rules::FamilyDef;

/// The `Content-Type` of this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Appends the given families to `out`, sorted by name.
pub fn encode(out: &mut String, families: &mut [(&FamilyDef, &FamilySeries)]) {
    families.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    for (definition, series) in families.iter() {
        encode_family(out, definition, series);
    }
}

fn encode_family(out: &mut String, family: &FamilyDef, series: &FamilySeries) {
    out.push_str("# HELP ");
    out.push_str(&family.name);
    out.push(' ');
    escape_help(out, &family.help);
    out.push_str("\n# TYPE ");
    out.push_str(&family.name);
    out.push(' ');
    out.push_str(family.kind.as_str());
    out.push('\n');

    let mut sorted: Vec<(&[u8], &Series)> = series
        .iter()
        .map(|(key, value, _created)| (key, value))
        .collect();
    sorted.sort_by(|a, b| compare_keys(a.0, b.0));

    for (key, value) in sorted {
        let labels: Vec<(&str, &str)> = family
            .label_names
            .iter()
            .map(String::as_str)
            .zip(label_values(key))
            .collect();
        match value {
            Series::Counter(sum) => {
                write_sample(out, &family.name, "", &labels, None);
                write!(out, "{sum}").expect("writing to a String");
                out.push('\n');
            }
            Series::Gauge { value, .. } => {
                write_sample(out, &family.name, "", &labels, None);
                write!(out, "{value}").expect("writing to a String");
                out.push('\n');
            }
            Series::Histogram(histogram) => encode_histogram(out, family, &labels, histogram),
        }
    }
}

fn encode_histogram(
    out: &mut String,
    family: &FamilyDef,
    labels: &[(&str, &str)],
    histogram: &Histogram,
) {
    let mut cumulative = 0;
    let mut bound_text = String::new();
    for (index, count) in histogram.counts.iter().enumerate() {
        cumulative += count;
        bound_text.clear();
        match family.buckets.get(index) {
            Some(bound) => write_float(&mut bound_text, *bound).expect("writing to a String"),
            None => bound_text.push_str("+Inf"),
        }
        write_sample(out, &family.name, "_bucket", labels, Some(&bound_text));
        write!(out, "{cumulative}").expect("writing to a String");
        out.push('\n');
    }
    write_sample(out, &family.name, "_sum", labels, None);
    write!(out, "{}", histogram.sum).expect("writing to a String");
    out.push('\n');
    write_sample(out, &family.name, "_count", labels, None);
    write!(out, "{}", histogram.count).expect("writing to a String");
    out.push('\n');
}

/// Writes `name{labels} ` up to the value, with an optional `le` label last.
fn write_sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(&str, &str)],
    le: Option<&str>,
) {
    out.push_str(name);
    out.push_str(suffix);
    if labels.is_empty() && le.is_none() {
        out.push(' ');
        return;
    }

    out.push('{');
    let all = labels.iter().copied().chain(le.map(|bound| ("le", bound)));
    for (index, (label, value)) in all.enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(label);
        out.push_str("=\"");
        escape_label_value(out, value);
        out.push('"');
    }
    out.push_str("} ");
}

/// Escapes a label value: backslash, double quote and line feed are the only escapes.
pub fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
}

/// Escapes help text: backslash and line feed.
fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
}

/// Orders series keys by their label values, one label at a time.
fn compare_keys(a: &[u8], b: &[u8]) -> Ordering {
    label_values(a).cmp(label_values(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::{Decimal, Sum};
    use crate::rules::MetricKind;

    fn family(name: &str, kind: MetricKind, labels: &[&str], buckets: &[f64]) -> FamilyDef {
        FamilyDef {
            name: name.into(),
            help: "Help with \\ and\nnewline.".into(),
            kind,
            label_names: labels.iter().map(|label| label.to_string()).collect(),
            buckets: buckets.to_vec(),
            max_series: usize::MAX,
        }
    }

    fn series(entries: Vec<(&[u8], Series)>) -> FamilySeries {
        let mut family = FamilySeries::default();
        for (key, value) in entries {
            family.insert(key.into(), value);
        }
        family
    }

    #[test]
    fn counter_series_sorted_and_escaped() {
        let definition = family(
            "requests_total",
            MetricKind::Counter,
            &["user", "path"],
            &[],
        );
        let values = series(vec![
            (
                b"b\xFF/\xFF",
                Series::Counter(Sum::Exact {
                    mantissa: 2,
                    exponent: 0,
                }),
            ),
            (
                b"a\\x\xFF/\"q\"\n\xFF",
                Series::Counter(Sum::Exact {
                    mantissa: 15,
                    exponent: -1,
                }),
            ),
        ]);
        let mut out = String::new();
        encode(&mut out, &mut [(&definition, &values)]);
        assert_eq!(
            out,
            "# HELP requests_total Help with \\\\ and\\nnewline.\n\
             # TYPE requests_total counter\n\
             requests_total{user=\"a\\\\x\",path=\"/\\\"q\\\"\\n\"} 1.5\n\
             requests_total{user=\"b\",path=\"/\"} 2\n"
        );
    }

    #[test]
    fn histogram_buckets_cumulative() {
        let definition = family("size_bytes", MetricKind::Histogram, &[], &[1000.0, 1e6]);
        let mut sum = Sum::default();
        sum.add(Decimal::new(2_000_500, 0));
        let histogram = Histogram {
            counts: vec![1, 1, 0].into(),
            sum,
            count: 2,
        };
        let values = series(vec![(b"", Series::Histogram(histogram))]);
        let mut out = String::new();
        encode(&mut out, &mut [(&definition, &values)]);
        let samples: Vec<&str> = out.lines().filter(|line| !line.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "size_bytes_bucket{le=\"1000\"} 1",
                "size_bytes_bucket{le=\"1000000\"} 2",
                "size_bytes_bucket{le=\"+Inf\"} 2",
                "size_bytes_sum 2000500",
                "size_bytes_count 2",
            ]
        );
    }

    #[test]
    fn families_sorted_by_name() {
        let zebra = family("zebra_total", MetricKind::Counter, &[], &[]);
        let apple = family("apple", MetricKind::Gauge, &[], &[]);
        let empty = FamilySeries::default();
        let mut out = String::new();
        encode(&mut out, &mut [(&zebra, &empty), (&apple, &empty)]);
        let types: Vec<&str> = out
            .lines()
            .filter(|line| line.starts_with("# TYPE"))
            .collect();
        assert_eq!(types, ["# TYPE apple gauge", "# TYPE zebra_total counter"]);
    }

    #[test]
    fn label_order_compares_each_value() {
        assert_eq!(compare_keys(b"a\xFFz\xFF", b"ab\xFFa\xFF"), Ordering::Less);
        assert_eq!(compare_keys(b"200\xFF", b"1000\xFF"), Ordering::Greater);
    }
}
