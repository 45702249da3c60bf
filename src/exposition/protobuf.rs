//! The Prometheus protobuf exposition format: length-delimited `io.prometheus.client`
//! `MetricFamily` messages. Prometheus requests it when native histograms are enabled, since
//! the text formats cannot carry native buckets.
//!
//! The messages are written by hand: the format is a handful of fields, and a protobuf code
//! generator would add a build step and dependencies for about a hundred lines. Field numbers
//! follow `io/prometheus/client/metrics.proto` of the Prometheus client model.

use std::collections::BTreeMap;

use crate::metrics::{
    FamilySeries, Histogram, NATIVE_ZERO_THRESHOLD, NativeBuckets, Series, label_values,
};
use crate::protowire::{put_bytes, put_double, put_sint, put_uint, put_varint, put_zigzag};
use crate::rules::{FamilyDef, MetricKind};

use super::compare_keys;

/// The `Content-Type` of the protobuf format.
pub const CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// `MetricType` values.
const TYPE_COUNTER: u64 = 0;
const TYPE_GAUGE: u64 = 1;
const TYPE_HISTOGRAM: u64 = 4;

/// Appends each family as a `MetricFamily` preceded by its length, sorted by name.
pub fn encode(out: &mut Vec<u8>, families: &mut [(&FamilyDef, &FamilySeries)]) {
    families.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    for (definition, series) in families.iter() {
        let message = family_message(definition, series);
        put_varint(out, message.len() as u64);
        out.extend_from_slice(&message);
    }
}

fn family_message(family: &FamilyDef, series: &FamilySeries) -> Vec<u8> {
    let mut message = Vec::new();
    put_bytes(&mut message, 1, family.name.as_bytes());
    put_bytes(&mut message, 2, family.help.as_bytes());
    let kind = match family.kind {
        MetricKind::Counter => TYPE_COUNTER,
        MetricKind::Gauge => TYPE_GAUGE,
        MetricKind::Histogram => TYPE_HISTOGRAM,
    };
    put_uint(&mut message, 3, kind);

    let mut sorted: Vec<(&[u8], &Series, u64)> = series.iter().collect();
    sorted.sort_by(|a, b| compare_keys(a.0, b.0));
    for (key, value, _) in sorted {
        put_bytes(&mut message, 4, &metric_message(family, key, value));
    }
    message
}

/// Encodes a `Metric`: its labels and its value.
fn metric_message(family: &FamilyDef, key: &[u8], value: &Series) -> Vec<u8> {
    let mut message = Vec::new();
    for (name, value) in family.label_names.iter().zip(label_values(key)) {
        let mut pair = Vec::new();
        put_bytes(&mut pair, 1, name.as_bytes());
        put_bytes(&mut pair, 2, value.as_bytes());
        put_bytes(&mut message, 1, &pair);
    }
    match value {
        Series::Counter(sum) => {
            let mut counter = Vec::new();
            put_double(&mut counter, 1, sum.to_f64());
            put_bytes(&mut message, 3, &counter);
        }
        Series::Gauge { value, .. } => {
            let mut gauge = Vec::new();
            put_double(&mut gauge, 1, value.to_f64());
            put_bytes(&mut message, 2, &gauge);
        }
        Series::Histogram(histogram) => {
            put_bytes(&mut message, 7, &histogram_message(family, histogram));
        }
    }
    message
}

/// Encodes a `Histogram`: count, sum, the classic buckets (cumulative, without `+Inf`, which
/// the count gives) and the native buckets when the histogram keeps them.
fn histogram_message(family: &FamilyDef, histogram: &Histogram) -> Vec<u8> {
    let mut message = Vec::new();
    put_uint(&mut message, 1, histogram.count);
    put_double(&mut message, 2, histogram.sum.to_f64());
    let mut cumulative = 0;
    for (bound, count) in family.buckets.iter().zip(histogram.counts.iter()) {
        cumulative += count;
        let mut bucket = Vec::new();
        put_uint(&mut bucket, 1, cumulative);
        put_double(&mut bucket, 2, *bound);
        put_bytes(&mut message, 3, &bucket);
    }
    if let Some(native) = &histogram.native {
        put_native(&mut message, native);
    }
    message
}

/// Writes the native fields: schema, zero bucket, and each side's spans and count deltas.
fn put_native(message: &mut Vec<u8>, native: &NativeBuckets) {
    put_sint(message, 5, i64::from(native.schema));
    put_double(message, 6, NATIVE_ZERO_THRESHOLD);
    put_uint(message, 7, native.zero_count);
    put_side(message, 9, 10, &native.negative);
    put_side(message, 12, 13, &native.positive);
}

/// Writes one side's buckets as `BucketSpan`s (a run of consecutive indices: the first index,
/// or for later runs the gap after the previous run, and the length) and the packed deltas
/// between neighbouring counts.
fn put_side(
    message: &mut Vec<u8>,
    span_field: u32,
    delta_field: u32,
    buckets: &BTreeMap<i32, u64>,
) {
    let mut deltas = Vec::new();
    let mut previous_count = 0_i64;
    let mut span: Option<(i32, u32)> = None;
    let mut end: Option<i32> = None;
    for (&index, &count) in buckets {
        match (&mut span, end) {
            (Some((_, length)), Some(end)) if index == end => *length += 1,
            _ => {
                if let Some((offset, length)) = span.take() {
                    put_span(message, span_field, offset, length);
                }
                let offset = end.map_or(index, |end| index - end);
                span = Some((offset, 1));
            }
        }
        end = Some(index + 1);

        let count = count as i64;
        put_zigzag(&mut deltas, count - previous_count);
        previous_count = count;
    }
    if let Some((offset, length)) = span {
        put_span(message, span_field, offset, length);
    }
    if !deltas.is_empty() {
        put_bytes(message, delta_field, &deltas);
    }
}

fn put_span(message: &mut Vec<u8>, field: u32, offset: i32, length: u32) {
    let mut span = Vec::new();
    put_sint(&mut span, 1, i64::from(offset));
    put_uint(&mut span, 2, u64::from(length));
    put_bytes(message, field, &span);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_runs_of_buckets() {
        let buckets = BTreeMap::from([(-2, 1), (-1, 3), (3, 3), (4, 1)]);
        let mut message = Vec::new();
        put_side(&mut message, 12, 13, &buckets);
        // Span 1: offset -2 (zigzag 3), length 2. Span 2: gap 3 (zigzag 6), length 2.
        // Deltas: 1, 2, 0, -2 as zigzag 2, 4, 0, 3.
        assert_eq!(
            message,
            [
                0x62, 4, 0x08, 3, 0x10, 2, //
                0x62, 4, 0x08, 6, 0x10, 2, //
                0x6A, 4, 2, 4, 0, 3,
            ]
        );
    }
}
