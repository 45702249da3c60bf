//! Native histogram buckets: exponential buckets whose boundaries follow from one number, the
//! schema, so a histogram needs no bucket list and keeps its resolution at every scale.
//!
//! At schema `s`, bucket `i` contains the values in `(base^(i-1), base^i]` with
//! `base = 2^(2^-s)`, the layout Prometheus's native histograms use. Values whose magnitude is
//! at most [`ZERO_THRESHOLD`] count in a zero bucket. When a series has more than
//! [`MAX_BUCKETS`] buckets, the schema drops by one: each pair of neighbouring buckets merges
//! into one twice as wide, as Prometheus's client libraries do.

use std::collections::BTreeMap;

/// The schema a series starts with: 8 buckets per power of two, each about 9% wider than the
/// one below.
pub const INITIAL_SCHEMA: i8 = 3;

/// The lowest schema Prometheus accepts: one bucket per factor of 65536.
const MIN_SCHEMA: i8 = -4;

/// Maximum number of positive and negative buckets a series keeps before it halves its
/// resolution.
pub const MAX_BUCKETS: usize = 160;

/// Values with a magnitude up to this count as zero: 2^-128, the Prometheus Go client's
/// default.
pub const ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

/// The native buckets of one histogram series.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeBuckets {
    pub schema: i8,
    pub zero_count: u64,
    /// Counts of positive values by bucket index.
    pub positive: BTreeMap<i32, u64>,
    /// Counts of negative values by the bucket index of their magnitude.
    pub negative: BTreeMap<i32, u64>,
}

impl Default for NativeBuckets {
    fn default() -> Self {
        NativeBuckets {
            schema: INITIAL_SCHEMA,
            zero_count: 0,
            positive: BTreeMap::new(),
            negative: BTreeMap::new(),
        }
    }
}

impl NativeBuckets {
    /// Counts one value.
    pub fn observe(&mut self, value: f64) {
        if value.abs() <= ZERO_THRESHOLD || !value.is_finite() {
            self.zero_count += 1;
            return;
        }
        let index = bucket_index(value.abs(), self.schema);
        let side = if value > 0.0 {
            &mut self.positive
        } else {
            &mut self.negative
        };
        *side.entry(index).or_insert(0) += 1;
        self.limit();
    }

    /// Adds the counts of `other`, at the lower of the two schemas.
    pub fn merge(&mut self, other: &NativeBuckets) {
        let mut other = other.clone();
        while other.schema > self.schema {
            other.halve();
        }
        while self.schema > other.schema {
            self.halve();
        }
        self.zero_count += other.zero_count;
        for (index, count) in other.positive {
            *self.positive.entry(index).or_insert(0) += count;
        }
        for (index, count) in other.negative {
            *self.negative.entry(index).or_insert(0) += count;
        }
        self.limit();
    }

    /// Halves the resolution until the bucket count is within [`MAX_BUCKETS`].
    fn limit(&mut self) {
        while self.positive.len() + self.negative.len() > MAX_BUCKETS && self.schema > MIN_SCHEMA {
            self.halve();
        }
    }

    /// Lowers the schema by one, merging buckets `2j - 1` and `2j` into bucket `j`.
    fn halve(&mut self) {
        self.schema -= 1;
        for side in [&mut self.positive, &mut self.negative] {
            let mut merged = BTreeMap::new();
            for (index, count) in std::mem::take(side) {
                *merged.entry((index + 1).div_euclid(2)).or_insert(0) += count;
            }
            *side = merged;
        }
    }
}

/// Returns the index of the bucket holding a positive, finite `value` at `schema`: the `i`
/// with `base^(i-1) < value <= base^i`.
pub fn bucket_index(value: f64, schema: i8) -> i32 {
    let (fraction, exponent) = split_exponent(value);
    if schema > 0 {
        // Boundaries within one power of two, scaled to the fraction's range [0.5, 1).
        let per_octave = 1_i32 << schema;
        let within = (0..per_octave)
            .position(|step| {
                let bound = 0.5 * (f64::from(step) / f64::from(per_octave)).exp2();
                bound >= fraction
            })
            .map_or(per_octave, |step| step as i32);
        within + (exponent - 1) * per_octave
    } else {
        // An exact power of two lies on a boundary, so it belongs to the bucket below.
        let index = if fraction == 0.5 {
            exponent - 1
        } else {
            exponent
        };
        let width = 1_i32 << -schema;
        (index + width - 1).div_euclid(width)
    }
}

/// Splits a positive, finite, normal `value` into a fraction in `[0.5, 1)` and a power of two.
fn split_exponent(value: f64) -> (f64, i32) {
    let bits = value.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1022;
    let fraction = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (fraction, exponent)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns the upper bound of bucket `index` at `schema`.
    fn upper_bound(index: i32, schema: i8) -> f64 {
        (f64::from(index) * (-f64::from(schema)).exp2()).exp2()
    }

    #[test]
    fn split_exponent_of_powers() {
        assert_eq!(split_exponent(1.0), (0.5, 1));
        assert_eq!(split_exponent(0.75), (0.75, 0));
        assert_eq!(split_exponent(6.0), (0.75, 3));
    }

    #[test]
    fn values_fall_between_bounds() {
        for schema in [-2, 0, 1, 3, 8] {
            for value in [0.001, 0.1, 0.25, 0.3, 1.0, 1.5, 2.0, 3.0, 1000.0, 123_456.7] {
                let index = bucket_index(value, schema);
                let (lower, upper) = (upper_bound(index - 1, schema), upper_bound(index, schema));
                assert!(
                    lower < value && value <= upper * (1.0 + 1e-12),
                    "schema {schema} value {value}: bucket {index} is ({lower}, {upper}]"
                );
            }
        }
    }

    #[test]
    fn powers_of_two_close_their_bucket() {
        assert_eq!(bucket_index(1.0, 3), 0);
        assert_eq!(bucket_index(2.0, 3), 8);
        assert_eq!(bucket_index(0.5, 3), -8);
        assert_eq!(bucket_index(1.0, 0), 0);
        assert_eq!(bucket_index(4.0, 0), 2);
        assert_eq!(bucket_index(4.0, -1), 1);
        assert_eq!(bucket_index(5.0, -1), 2);
    }

    #[test]
    fn zero_and_negative_values() {
        let mut buckets = NativeBuckets::default();
        for value in [0.0, -0.0, 1e-40, -1.0, -1.0, 2.0] {
            buckets.observe(value);
        }
        assert_eq!(buckets.zero_count, 3);
        assert_eq!(buckets.negative, BTreeMap::from([(0, 2)]));
        assert_eq!(buckets.positive, BTreeMap::from([(8, 1)]));
    }

    #[test]
    fn too_many_buckets_halve_resolution() {
        let mut buckets = NativeBuckets::default();
        // 1.1^k for k in 0..400 spans 2^55: 440 buckets at schema 3, 110 at schema 1.
        let mut value = 1.0;
        for _ in 0..400 {
            buckets.observe(value);
            value *= 1.1;
        }
        assert_eq!(buckets.schema, 1);
        assert!(buckets.positive.len() <= MAX_BUCKETS);
        assert_eq!(buckets.positive.values().sum::<u64>(), 400);
    }

    #[test]
    fn merge_meets_at_lower_schema() {
        let mut fine = NativeBuckets::default();
        fine.observe(1.5);
        let mut coarse = NativeBuckets {
            schema: 0,
            ..NativeBuckets::default()
        };
        coarse.observe(1.5);
        fine.merge(&coarse);
        assert_eq!(fine.schema, 0);
        assert_eq!(fine.positive, BTreeMap::from([(1, 2)]));
    }
}
