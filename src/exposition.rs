//! Exposition: writes metric families in the Prometheus text format 0.0.4, or in OpenMetrics
//! 1.0 text when the scraper asks for it.
//!
//! Output is deterministic: families sorted by name, series sorted by their label values
//! (label by label, in the rule's label order), labels in that order, and numbers printed
//! exactly. Counters and sums print their exact decimal; bucket bounds print as the shortest
//! text that reads back as the same float. OpenMetrics adds each counter's and histogram's
//! creation time as a `_created` sample, names counter families without `_total`, and ends
//! with `# EOF`.

mod protobuf;

use std::cmp::Ordering;
use std::fmt::Write;

use crate::decimal::write_float;
use crate::metrics::{FamilySeries, Histogram, Series, label_values};
use crate::rules::{FamilyDef, MetricKind};

/// The `Content-Type` of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `Content-Type` of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The exposition formats logtally writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Prometheus,
    OpenMetrics,
    /// Length-delimited protobuf, the only format that carries native histograms.
    Protobuf,
}

impl Format {
    /// Picks the format for an HTTP `Accept` header: the one with the highest quality among
    /// those logtally writes, preferring OpenMetrics, then protobuf, on a tie. Without a
    /// header, or when it lists none of them, the Prometheus text format.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let mut best = (0.0, Format::Prometheus);
        for choice in accept.unwrap_or("").split(',') {
            let Some((format, quality)) = parse_choice(choice) else {
                continue;
            };
            if quality > best.0 || (quality == best.0 && format.rank() > best.1.rank()) {
                best = (quality, format);
            }
        }
        best.1
    }

    /// Returns the preference among formats of equal quality: the higher, the more preferred.
    fn rank(self) -> u8 {
        match self {
            Format::Prometheus => 0,
            Format::Protobuf => 1,
            Format::OpenMetrics => 2,
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Protobuf => protobuf::CONTENT_TYPE,
        }
    }
}

/// Reads one `Accept` choice: the format it names, if logtally writes it, and its quality.
/// Version 0.0.1 is the name Prometheus gives its fallback for OpenMetrics 1.0.0. A choice
/// with an invalid or zero quality names nothing.
fn parse_choice(choice: &str) -> Option<(Format, f64)> {
    let mut parts = choice.split(';').map(str::trim);
    let media = parts.next().unwrap_or("").to_ascii_lowercase();
    let mut quality = 1.0;
    let mut version = None;
    let mut proto = None;
    let mut encoding = None;
    for parameter in parts {
        let Some((name, value)) = parameter.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match name.trim().to_ascii_lowercase().as_str() {
            "q" => quality = value.parse::<f64>().ok()?,
            "version" => version = Some(value),
            "proto" => proto = Some(value),
            "encoding" => encoding = Some(value),
            _ => {}
        }
    }
    if !(quality > 0.0 && quality <= 1.0) {
        return None;
    }
    let format = match media.as_str() {
        "application/openmetrics-text" if matches!(version, None | Some("1.0.0" | "0.0.1")) => {
            Format::OpenMetrics
        }
        "application/vnd.google.protobuf"
            if proto == Some("io.prometheus.client.MetricFamily")
                && encoding == Some("delimited") =>
        {
            Format::Protobuf
        }
        "text/plain" if matches!(version, None | Some("0.0.4")) => Format::Prometheus,
        "text/*" | "*/*" => Format::Prometheus,
        _ => return None,
    };
    Some((format, quality))
}

/// Appends the families in `format`: text for the text formats, bytes for protobuf.
pub fn encode_bytes(families: &mut [(&FamilyDef, &FamilySeries)], format: Format) -> Vec<u8> {
    if format == Format::Protobuf {
        let mut out = Vec::with_capacity(64 * 1024);
        protobuf::encode(&mut out, families);
        return out;
    }
    let mut text = String::with_capacity(64 * 1024);
    encode_as(&mut text, families, format);
    text.into_bytes()
}

/// Appends the given families to `out` in the Prometheus text format, sorted by name.
pub fn encode(out: &mut String, families: &mut [(&FamilyDef, &FamilySeries)]) {
    encode_as(out, families, Format::Prometheus);
}

/// Appends the given families to `out` in a text `format`, sorted by name. Protobuf is
/// binary: [`encode_bytes`] writes it, and here it falls back to the Prometheus text format.
pub fn encode_as(out: &mut String, families: &mut [(&FamilyDef, &FamilySeries)], format: Format) {
    families.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    for (definition, series) in families.iter() {
        encode_family(out, definition, series, format);
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
}

fn encode_family(out: &mut String, family: &FamilyDef, series: &FamilySeries, format: Format) {
    // OpenMetrics names a counter family without the `_total` of its samples.
    let family_name = match (format, family.kind) {
        (Format::OpenMetrics, MetricKind::Counter) => {
            family.name.strip_suffix("_total").unwrap_or(&family.name)
        }
        _ => &family.name,
    };
    out.push_str("# HELP ");
    out.push_str(family_name);
    out.push(' ');
    escape_help(out, &family.help, format);
    out.push_str("\n# TYPE ");
    out.push_str(family_name);
    out.push(' ');
    out.push_str(family.kind.as_str());
    out.push('\n');

    let mut sorted: Vec<(&[u8], &Series, u64)> = series.iter().collect();
    sorted.sort_by(|a, b| compare_keys(a.0, b.0));

    let mut labels: Vec<(&str, &str)> = Vec::with_capacity(family.label_names.len());
    for (key, value, created_ms) in sorted {
        labels.clear();
        labels.extend(
            family
                .label_names
                .iter()
                .map(String::as_str)
                .zip(label_values(key)),
        );
        let created = (format == Format::OpenMetrics).then_some(created_ms);
        match value {
            Series::Counter(sum) => {
                write_sample(out, &family.name, "", &labels, None);
                write!(out, "{sum}").expect("writing to a String");
                out.push('\n');
                if let Some(created_ms) = created {
                    write_created(out, family_name, &labels, created_ms);
                }
            }
            Series::Gauge { value, .. } => {
                write_sample(out, &family.name, "", &labels, None);
                write!(out, "{value}").expect("writing to a String");
                out.push('\n');
            }
            Series::Histogram(histogram) => {
                encode_histogram(out, family, &labels, histogram);
                if let Some(created_ms) = created {
                    write_created(out, family_name, &labels, created_ms);
                }
            }
        }
    }
}

/// Writes `family_created{labels} seconds`, the OpenMetrics creation time of a series.
fn write_created(out: &mut String, family_name: &str, labels: &[(&str, &str)], created_ms: u64) {
    write_sample(out, family_name, "_created", labels, None);
    write!(out, "{}.{:03}", created_ms / 1000, created_ms % 1000).expect("writing to a String");
    out.push('\n');
}

fn encode_histogram(
    out: &mut String,
    family: &FamilyDef,
    labels: &[(&str, &str)],
    histogram: &Histogram,
) {
    for_each_bucket(family, histogram, |le, cumulative| {
        write_sample(out, &family.name, "_bucket", labels, Some(le));
        write!(out, "{cumulative}").expect("writing to a String");
        out.push('\n');
    });
    write_sample(out, &family.name, "_sum", labels, None);
    write!(out, "{}", histogram.sum).expect("writing to a String");
    out.push('\n');
    write_sample(out, &family.name, "_count", labels, None);
    write!(out, "{}", histogram.count).expect("writing to a String");
    out.push('\n');
}

/// Calls `each` with every bucket's `le` label value (the bound as the shortest text that reads
/// back as the same float, `+Inf` last) and its cumulative count.
pub fn for_each_bucket(family: &FamilyDef, histogram: &Histogram, mut each: impl FnMut(&str, u64)) {
    let mut cumulative = 0;
    let mut le = String::new();
    for (index, count) in histogram.counts.iter().enumerate() {
        cumulative += count;
        le.clear();
        match family.buckets.get(index) {
            Some(bound) => write_float(&mut le, *bound).expect("writing to a String"),
            None => le.push_str("+Inf"),
        }
        each(&le, cumulative);
    }
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
    if memchr::memchr3(b'\\', b'"', b'\n', value.as_bytes()).is_none() {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
}

/// Escapes help text: backslash and line feed, and in OpenMetrics also the double quote.
fn escape_help(out: &mut String, help: &str, format: Format) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if format == Format::OpenMetrics => out.push_str("\\\""),
            other => out.push(other),
        }
    }
}

/// Orders series keys by their label values, one label at a time.
///
/// Each value in a key ends with [`KEY_SEPARATOR`](crate::metrics::KEY_SEPARATOR), a byte
/// that never occurs in UTF-8. Ranking that byte below every other gives the order of the
/// values themselves, without splitting the keys.
fn compare_keys(a: &[u8], b: &[u8]) -> Ordering {
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let rank = |byte: &u8| byte.wrapping_add(1);
    match (a.get(common), b.get(common)) {
        (Some(x), Some(y)) => rank(x).cmp(&rank(y)),
        _ => a.len().cmp(&b.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::{Decimal, Sum};
    use crate::engine::push_label_value;
    use crate::rules::MetricKind;

    #[test]
    fn compare_keys_orders_by_values() {
        let label_sets: [&[&str]; 7] = [
            &["ab", "a"],
            &["a", "z"],
            &["", "x"],
            &["\u{e9}", "a"],
            &["z", ""],
            &["a", ""],
            &["a\"b", "c"],
        ];
        let key = |values: &[&str]| {
            let mut key = Vec::new();
            values
                .iter()
                .for_each(|value| push_label_value(&mut key, value.as_bytes()));
            key
        };
        let mut by_key: Vec<Vec<u8>> = label_sets.iter().map(|values| key(values)).collect();
        by_key.sort_by(|a, b| compare_keys(a, b));
        let mut by_values = label_sets.to_vec();
        by_values.sort();

        let expected: Vec<Vec<u8>> = by_values.iter().map(|values| key(values)).collect();
        assert_eq!(by_key, expected);
        assert_eq!(by_values[0], ["", "x"]);
        assert_eq!(by_values[1], ["a", ""]);
    }

    fn family(name: &str, kind: MetricKind, labels: &[&str], buckets: &[f64]) -> FamilyDef {
        FamilyDef {
            name: name.into(),
            help: "Help with \\ and\nnewline.".into(),
            kind,
            label_names: labels.iter().map(|label| label.to_string()).collect(),
            buckets: buckets.to_vec(),
            max_series: usize::MAX,
            expire: None,
            native: false,
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
            native: None,
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

    #[test]
    fn openmetrics_adds_created_and_eof() {
        let counter = family("requests_total", MetricKind::Counter, &["code"], &[]);
        let histogram = family("size_bytes", MetricKind::Histogram, &[], &[10.0]);
        let gauge = family("last_bytes", MetricKind::Gauge, &[], &[]);
        let mut requests = FamilySeries::default();
        requests.insert_created(
            b"200\xFF".to_vec().into(),
            Series::Counter(Sum::Exact {
                mantissa: 3,
                exponent: 0,
            }),
            1_700_000_000_250,
        );
        let mut sizes = FamilySeries::default();
        let observed = Histogram {
            counts: vec![1, 0].into(),
            sum: Sum::Exact {
                mantissa: 4,
                exponent: 0,
            },
            count: 1,
            native: None,
        };
        sizes.insert_created(
            Box::default(),
            Series::Histogram(observed),
            1_700_000_000_000,
        );
        let mut last = FamilySeries::default();
        last.insert_created(
            Box::default(),
            Series::Gauge {
                value: Decimal::new(4, 0),
                stamp: 1,
            },
            5,
        );

        let mut out = String::new();
        encode_as(
            &mut out,
            &mut [(&counter, &requests), (&histogram, &sizes), (&gauge, &last)],
            Format::OpenMetrics,
        );
        assert_eq!(
            out,
            "# HELP last_bytes Help with \\\\ and\\nnewline.\n\
             # TYPE last_bytes gauge\n\
             last_bytes 4\n\
             # HELP requests Help with \\\\ and\\nnewline.\n\
             # TYPE requests counter\n\
             requests_total{code=\"200\"} 3\n\
             requests_created{code=\"200\"} 1700000000.250\n\
             # HELP size_bytes Help with \\\\ and\\nnewline.\n\
             # TYPE size_bytes histogram\n\
             size_bytes_bucket{le=\"10\"} 1\n\
             size_bytes_bucket{le=\"+Inf\"} 1\n\
             size_bytes_sum 4\n\
             size_bytes_count 1\n\
             size_bytes_created 1700000000.000\n\
             # EOF\n"
        );
    }

    #[test]
    fn format_negotiated_from_accept() {
        let prometheus_asks = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(
            Format::negotiate(Some(prometheus_asks)),
            Format::OpenMetrics
        );
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Prometheus);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; q=0")),
            Format::Prometheus
        );
        assert_eq!(Format::negotiate(None), Format::Prometheus);
    }

    #[test]
    fn unservable_openmetrics_choices_ignored() {
        let cases = [
            "application/openmetrics-text;version=9.9",
            "application/openmetrics-text;q=abc",
            "application/openmetrics-text;q=1.5",
            "application/openmetrics-text;version=9.9,text/plain;q=0.5",
        ];
        for accept in cases {
            assert_eq!(
                Format::negotiate(Some(accept)),
                Format::Prometheus,
                "{accept}"
            );
        }
        let servable_second = "application/openmetrics-text;version=9.9,\
                               application/openmetrics-text;version=1.0.0;q=0.8";
        assert_eq!(
            Format::negotiate(Some(servable_second)),
            Format::OpenMetrics
        );
    }

    #[test]
    fn protobuf_negotiated_by_quality() {
        let native_scrape = "application/vnd.google.protobuf;\
                             proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.8,\
                             application/openmetrics-text;version=1.0.0;q=0.6,\
                             text/plain;version=0.0.4;q=0.4,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(native_scrape)), Format::Protobuf);
        let openmetrics_first = "application/openmetrics-text;version=1.0.0,\
                                 application/vnd.google.protobuf;\
                                 proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5";
        assert_eq!(
            Format::negotiate(Some(openmetrics_first)),
            Format::OpenMetrics
        );
        let text_preferred = "text/plain;q=1,application/openmetrics-text;q=0.5";
        assert_eq!(Format::negotiate(Some(text_preferred)), Format::Prometheus);
        for incomplete in [
            "application/vnd.google.protobuf",
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily",
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
             encoding=text",
        ] {
            assert_eq!(
                Format::negotiate(Some(incomplete)),
                Format::Prometheus,
                "{incomplete}"
            );
        }
    }
}
