//! Histogram bucket bounds: given as a list, or generated from a start, a step and a count.

use toml::Spanned;

use super::{FileContext, show};
use crate::rules::schema::{BucketsSpec, GeneratedBuckets, MetricSpec};
use crate::rules::{DEFAULT_BUCKETS, MetricKind};

/// Maximum number of bounds a generated bucket list may have. Every bucket is a series per label set, so
/// a typing slip such as `count = 1000` would multiply the scrape.
const MAX_GENERATED_BUCKETS: i64 = 100;

/// Significant digits kept in a generated bound, so that repeated floating-point steps give
/// `0.3`, not `0.30000000000000004`, in the `le` label.
const BOUND_DIGITS: usize = 12;

/// Returns the metric's bucket bounds, or the defaults for a histogram that gives none.
pub fn check_buckets(
    context: &mut FileContext,
    spec: &MetricSpec,
    kind: MetricKind,
) -> Option<Vec<f64>> {
    let Some(buckets) = &spec.buckets else {
        return (kind == MetricKind::Histogram).then(|| DEFAULT_BUCKETS.to_vec());
    };
    if kind != MetricKind::Histogram {
        context.error(
            buckets.span(),
            format!("`buckets` applies only to histograms, not to a {kind}"),
        );
        return None;
    }
    match buckets.get_ref() {
        BucketsSpec::List(bounds) => check_list(context, buckets, bounds),
        BucketsSpec::Generated(generated) => generate(context, generated),
    }
}

fn check_list(
    context: &mut FileContext,
    buckets: &Spanned<BucketsSpec>,
    list: &[Spanned<f64>],
) -> Option<Vec<f64>> {
    if list.is_empty() {
        context.error(
            buckets.span(),
            "`buckets` is empty; list at least one upper bound",
        );
        return None;
    }

    let mut bounds = Vec::new();
    for bound in list {
        let value = *bound.get_ref();
        if !value.is_finite() {
            let reason = if value == f64::INFINITY {
                "the +Inf bucket is always added"
            } else {
                "use a finite number"
            };
            let message = format!("invalid bucket bound {}: {reason}", show(value));
            context.error(bound.span(), message);
            return None;
        }
        if let Some(&previous) = bounds.last()
            && value <= previous
        {
            let message = format!(
                "bucket bounds must increase: {} follows {}; sort them and remove duplicates",
                show(value),
                show(previous)
            );
            context.error(bound.span(), message);
            return None;
        }
        bounds.push(value);
    }
    Some(bounds)
}

/// Generates `count` bounds from `start`, adding `width` or multiplying by `factor` each step.
fn generate(context: &mut FileContext, spec: &GeneratedBuckets) -> Option<Vec<f64>> {
    let start = *spec.start.get_ref();
    let count = check_count(context, &spec.count)?;
    let step = match (&spec.width, &spec.factor) {
        (Some(width), None) => check_width(context, width).map(Step::Width),
        (None, Some(factor)) => check_factor(context, factor, start).map(Step::Factor),
        (Some(_), Some(factor)) => {
            let message = "give `width` (evenly spaced bounds) or `factor` (growing bounds), \
                           not both";
            context.error(factor.span(), message);
            None
        }
        (None, None) => {
            let message = "generated buckets need `width` (evenly spaced bounds) or `factor` \
                           (growing bounds)";
            context.error(spec.start.span(), message);
            None
        }
    }?;
    if !start.is_finite() {
        let message = format!("invalid start {}: use a finite number", show(start));
        context.error(spec.start.span(), message);
        return None;
    }

    let mut bounds = Vec::with_capacity(count);
    let mut bound = start;
    for _ in 0..count {
        bounds.push(round_bound(bound));
        bound = match step {
            Step::Width(width) => bound + width,
            Step::Factor(factor) => bound * factor,
        };
    }
    if let Some(last) = bounds.last().filter(|last| !last.is_finite()) {
        let message = format!(
            "the generated bounds reach {}; use fewer buckets",
            show(*last)
        );
        context.error(spec.count.span(), message);
        return None;
    }
    // A step far smaller than the start is lost in rounding and repeats a bound.
    if let Some(pair) = bounds.windows(2).find(|pair| pair[1] <= pair[0]) {
        let message = format!(
            "the generated bounds repeat {}: the step is too small for the start at 12 \
             significant digits",
            show(pair[0])
        );
        context.error(spec.start.span(), message);
        return None;
    }
    Some(bounds)
}

#[derive(Clone, Copy)]
enum Step {
    Width(f64),
    Factor(f64),
}

fn check_count(context: &mut FileContext, count: &Spanned<i64>) -> Option<usize> {
    let value = *count.get_ref();
    if (1..=MAX_GENERATED_BUCKETS).contains(&value) {
        return usize::try_from(value).ok();
    }
    let message =
        format!("invalid count {value}: generate between 1 and {MAX_GENERATED_BUCKETS} buckets");
    context.error(count.span(), message);
    None
}

fn check_width(context: &mut FileContext, width: &Spanned<f64>) -> Option<f64> {
    let value = *width.get_ref();
    if value.is_finite() && value > 0.0 {
        return Some(value);
    }
    let message = format!("invalid width {}: use a positive number", show(value));
    context.error(width.span(), message);
    None
}

fn check_factor(context: &mut FileContext, factor: &Spanned<f64>, start: f64) -> Option<f64> {
    let value = *factor.get_ref();
    if !(value.is_finite() && value > 1.0) {
        let message = format!(
            "invalid factor {}: use a number greater than 1",
            show(value)
        );
        context.error(factor.span(), message);
        return None;
    }
    if start <= 0.0 {
        let message = format!(
            "growing buckets need a positive start, not {}; multiplying it never increases it",
            show(start)
        );
        context.error(factor.span(), message);
        return None;
    }
    Some(value)
}

/// Rounds a bound to [`BOUND_DIGITS`] significant digits.
fn round_bound(value: f64) -> f64 {
    format!("{value:.precision$e}", precision = BOUND_DIGITS - 1)
        .parse()
        .unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_removes_float_noise() {
        assert_eq!(round_bound(0.1 + 0.1 + 0.1), 0.3);
        assert_eq!(round_bound(0.005 * 2.0 * 2.0 * 2.0), 0.04);
        assert_eq!(round_bound(1e-9), 1e-9);
    }
}
