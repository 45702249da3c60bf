//! Encodes metric families as a remote-write 1.0 `WriteRequest`, snappy-compressed.
//!
//! Every sample of a family becomes a `TimeSeries` with one `Sample`: counters and gauges
//! under their own name, histograms as their classic `_bucket` (with `le`), `_sum` and
//! `_count` series, as a scrape would show them. Native histogram buckets are not sent,
//! because remote write 1.0 has no message for them. Field numbers follow the `prometheus`
//! package's `remote.proto` and `types.proto` of Prometheus.

use std::collections::HashSet;

use bytes::Bytes;

use crate::exposition::for_each_bucket;
use crate::metrics::{FamilySeries, Histogram, Series, label_values};
use crate::protowire::{put_bytes, put_double, put_int};
use crate::rules::FamilyDef;

/// The bits of the NaN that marks a series as stale: the series ended, as Prometheus writes
/// it when a target stops exposing a series.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The label that carries a sample's metric name.
const NAME_LABEL: &str = "__name__";

/// One series of a snapshot and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesValue {
    /// The series' labels, sorted by name and without empty values, encoded as the `labels`
    /// fields of a `TimeSeries`. Equal label sets have equal bytes, so this is also the
    /// series' identity.
    pub labels: Box<[u8]>,
    pub value: f64,
}

/// Returns every sample of `families` as a series, with `external_labels` (sorted by name)
/// added to each series that lacks a label of that name.
pub fn series(
    families: &[(&FamilyDef, &FamilySeries)],
    external_labels: &[(String, String)],
) -> Vec<SeriesValue> {
    let mut out = Vec::new();
    let mut builder = LabelBuilder {
        external: external_labels,
        scratch: Vec::new(),
    };
    for (family, values) in families {
        family_series(&mut out, &mut builder, family, values);
    }
    out
}

fn family_series(
    out: &mut Vec<SeriesValue>,
    builder: &mut LabelBuilder,
    family: &FamilyDef,
    values: &FamilySeries,
) {
    let names = SampleNames::new(&family.name);
    for (key, value, _) in values.iter() {
        // An empty label value is the same as no label in Prometheus, and remote write
        // forbids sending it.
        let labels: Vec<(&str, &str)> = family
            .label_names
            .iter()
            .map(String::as_str)
            .zip(label_values(key))
            .filter(|(_, value)| !value.is_empty())
            .collect();
        match value {
            Series::Counter(sum) => {
                out.push(builder.build(&family.name, &labels, None, sum.to_f64()));
            }
            Series::Gauge { value, .. } => {
                out.push(builder.build(&family.name, &labels, None, value.to_f64()));
            }
            Series::Histogram(histogram) => {
                histogram_series(out, builder, family, &names, &labels, histogram);
            }
        }
    }
}

/// Appends a histogram's cumulative buckets, ending with `+Inf`, and its sum and count.
fn histogram_series(
    out: &mut Vec<SeriesValue>,
    builder: &mut LabelBuilder,
    family: &FamilyDef,
    names: &SampleNames,
    labels: &[(&str, &str)],
    histogram: &Histogram,
) {
    for_each_bucket(family, histogram, |le, cumulative| {
        out.push(builder.build(&names.bucket, labels, Some(le), cumulative as f64));
    });
    out.push(builder.build(&names.sum, labels, None, histogram.sum.to_f64()));
    out.push(builder.build(&names.count, labels, None, histogram.count as f64));
}

/// The sample names of a histogram family.
struct SampleNames {
    bucket: String,
    sum: String,
    count: String,
}

impl SampleNames {
    fn new(family: &str) -> SampleNames {
        SampleNames {
            bucket: format!("{family}_bucket"),
            sum: format!("{family}_sum"),
            count: format!("{family}_count"),
        }
    }
}

/// Builds the encoded label sets of series, reusing its buffers.
struct LabelBuilder<'a> {
    external: &'a [(String, String)],
    scratch: Vec<u8>,
}

impl LabelBuilder<'_> {
    /// Returns the series named `name` with `labels`, an optional `le` and the external labels
    /// that it lacks, sorted by name as remote write requires.
    fn build(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        le: Option<&str>,
        value: f64,
    ) -> SeriesValue {
        let mut all: Vec<(&str, &str)> = Vec::with_capacity(labels.len() + 2);
        all.push((NAME_LABEL, name));
        all.extend_from_slice(labels);
        if let Some(bound) = le {
            all.push(("le", bound));
        }
        for (label, label_value) in self.external {
            if !all.iter().any(|(present, _)| present == label) {
                all.push((label, label_value));
            }
        }
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));

        let mut encoded = Vec::new();
        for (label, label_value) in all {
            self.scratch.clear();
            put_bytes(&mut self.scratch, 1, label.as_bytes());
            put_bytes(&mut self.scratch, 2, label_value.as_bytes());
            put_bytes(&mut encoded, 1, &self.scratch);
        }
        SeriesValue {
            labels: encoded.into(),
            value,
        }
    }
}

/// One push: a compressed `WriteRequest` with every series at one time.
#[derive(Debug)]
pub struct Snapshot {
    /// The snappy-compressed (block format) `WriteRequest`.
    pub body: Bytes,
    /// Samples in the request, stale markers included.
    pub samples: u64,
    /// Time of the samples, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// Encodes snapshots, remembering the series of the last one so that the next one marks
/// those that have gone (expired, or removed by a rule reload) as stale.
#[derive(Debug, Default)]
pub struct Snapshotter {
    previous: HashSet<Box<[u8]>>,
}

impl Snapshotter {
    /// Encodes `series` at `timestamp_ms`, adding a stale marker for each series of the
    /// previous snapshot that is missing now.
    pub fn encode(
        &mut self,
        mut series: Vec<SeriesValue>,
        timestamp_ms: i64,
    ) -> Result<Snapshot, snap::Error> {
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        // Two samples of one series in one request would be rejected as duplicates. Rule
        // checks keep names apart, so this only guards against a name clash they miss.
        series.dedup_by(|later, earlier| later.labels == earlier.labels);

        let mut request = Vec::with_capacity(series.len() * 64);
        let mut scratch = Vec::new();
        for one in &series {
            put_time_series(&mut request, &mut scratch, one, timestamp_ms);
        }
        let current: HashSet<Box<[u8]>> = series.into_iter().map(|one| one.labels).collect();
        let mut gone: Vec<&Box<[u8]>> = self.previous.difference(&current).collect();
        gone.sort();
        for labels in &gone {
            let marker = SeriesValue {
                labels: (*labels).clone(),
                value: f64::from_bits(STALE_NAN_BITS),
            };
            put_time_series(&mut request, &mut scratch, &marker, timestamp_ms);
        }
        let samples = (current.len() + gone.len()) as u64;
        self.previous = current;

        let body = snap::raw::Encoder::new().compress_vec(&request)?;
        Ok(Snapshot {
            body: body.into(),
            samples,
            timestamp_ms,
        })
    }
}

/// Appends one `TimeSeries` (field 1 of `WriteRequest`) with its labels and one `Sample`.
fn put_time_series(out: &mut Vec<u8>, scratch: &mut Vec<u8>, series: &SeriesValue, time: i64) {
    let mut sample = Vec::with_capacity(20);
    put_double(&mut sample, 1, series.value);
    put_int(&mut sample, 2, time);
    scratch.clear();
    scratch.extend_from_slice(&series.labels);
    put_bytes(scratch, 2, &sample);
    put_bytes(out, 1, scratch);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::{Decimal, Sum};
    use crate::rules::MetricKind;

    fn family(name: &str, kind: MetricKind, labels: &[&str], buckets: &[f64]) -> FamilyDef {
        FamilyDef {
            name: name.into(),
            help: "Help.".into(),
            kind,
            label_names: labels.iter().map(|label| label.to_string()).collect(),
            buckets: buckets.to_vec(),
            max_series: usize::MAX,
            expire: None,
            native: false,
        }
    }

    /// Decodes encoded labels back into pairs, independently of the encoder's helpers.
    fn decode_labels(mut bytes: &[u8]) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        while !bytes.is_empty() {
            assert_eq!(bytes[0], 0x0A, "a labels field");
            let length = usize::from(bytes[1]);
            let pair = &bytes[2..2 + length];
            bytes = &bytes[2 + length..];
            assert_eq!(pair[0], 0x0A, "a name field");
            let name_length = usize::from(pair[1]);
            let name = &pair[2..2 + name_length];
            let rest = &pair[2 + name_length..];
            assert_eq!(rest[0], 0x12, "a value field");
            let value = &rest[2..2 + usize::from(rest[1])];
            pairs.push((
                String::from_utf8(name.to_vec()).unwrap(),
                String::from_utf8(value.to_vec()).unwrap(),
            ));
        }
        pairs
    }

    fn text(series: &SeriesValue) -> String {
        let labels: Vec<String> = decode_labels(&series.labels)
            .into_iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        format!("{} {}", labels.join(","), series.value)
    }

    #[test]
    fn counter_labels_sorted_with_external() {
        let definition = family(
            "requests_total",
            MetricKind::Counter,
            &["zone", "code"],
            &[],
        );
        let mut values = FamilySeries::default();
        values.insert(
            b"eu\xFF200\xFF".to_vec().into(),
            Series::Counter(Sum::Exact {
                mantissa: 15,
                exponent: -1,
            }),
        );
        values.insert(
            b"\xFF500\xFF".to_vec().into(),
            Series::Counter(Sum::Exact {
                mantissa: 2,
                exponent: 0,
            }),
        );
        let external = [
            ("instance".to_owned(), "node-1".to_owned()),
            ("zone".to_owned(), "default".to_owned()),
        ];
        let mut out: Vec<String> = series(&[(&definition, &values)], &external)
            .iter()
            .map(text)
            .collect();
        out.sort();
        assert_eq!(
            out,
            [
                "__name__=requests_total,code=200,instance=node-1,zone=eu 1.5",
                "__name__=requests_total,code=500,instance=node-1,zone=default 2",
            ]
        );
    }

    #[test]
    fn histogram_as_classic_series() {
        let definition = family(
            "size_bytes",
            MetricKind::Histogram,
            &["Method"],
            &[0.5, 10.0],
        );
        let mut values = FamilySeries::default();
        values.insert(
            b"GET\xFF".to_vec().into(),
            Series::Histogram(Histogram {
                counts: vec![1, 0, 2].into(),
                sum: Sum::Exact {
                    mantissa: 301,
                    exponent: -1,
                },
                count: 3,
                native: None,
            }),
        );
        let out: Vec<String> = series(&[(&definition, &values)], &[])
            .iter()
            .map(text)
            .collect();
        // Upper-case label names sort before `__name__`, as byte order puts them.
        assert_eq!(
            out,
            [
                "Method=GET,__name__=size_bytes_bucket,le=0.5 1",
                "Method=GET,__name__=size_bytes_bucket,le=10 1",
                "Method=GET,__name__=size_bytes_bucket,le=+Inf 3",
                "Method=GET,__name__=size_bytes_sum 30.1",
                "Method=GET,__name__=size_bytes_count 3",
            ]
        );
    }

    #[test]
    fn gone_series_marked_stale() {
        let definition = family("temperature_celsius", MetricKind::Gauge, &["room"], &[]);
        let gauge = |value| Series::Gauge {
            value: Decimal::new(value, 0),
            stamp: 0,
        };
        let mut values = FamilySeries::default();
        values.insert(b"a\xFF".to_vec().into(), gauge(20));
        values.insert(b"b\xFF".to_vec().into(), gauge(21));
        let mut snapshotter = Snapshotter::default();
        let first = snapshotter
            .encode(series(&[(&definition, &values)], &[]), 1000)
            .unwrap();
        assert_eq!(first.samples, 2);

        let mut fewer = FamilySeries::default();
        fewer.insert(b"a\xFF".to_vec().into(), gauge(22));
        let second = snapshotter
            .encode(series(&[(&definition, &fewer)], &[]), 2000)
            .unwrap();
        assert_eq!(second.samples, 2);
        let request = snap::raw::Decoder::new()
            .decompress_vec(&second.body)
            .unwrap();
        let stale = f64::from_bits(STALE_NAN_BITS).to_le_bytes();
        let at = request
            .windows(8)
            .position(|window| window == stale)
            .expect("a stale marker");
        assert!(
            request[..at].ends_with(b"room\x12\x01b\x12\x0c\x09"),
            "the marker belongs to room=b"
        );

        let third = snapshotter
            .encode(series(&[(&definition, &fewer)], &[]), 3000)
            .unwrap();
        assert_eq!(third.samples, 1, "a series is marked stale once");
    }
}
