//! Metric and label name checks, applied when rules load.
//!
//! Names must be valid in the Prometheus data model and must also pass the naming lints that
//! `promtool check metrics` applies, so that a scrape of logtally passes that check
//! (`tests/promlint_names.rs` compares the two on a list of names).

use super::MetricKind;

/// Prefix of logtally's own metrics, which rule files may not use.
pub const SELF_PREFIX: &str = "logtally_";

/// Prefix of the process metrics logtally exports, as every Prometheus client library does.
/// A rule metric under it would give a scrape two families of one name.
pub const PROCESS_PREFIX: &str = "process_";

/// Unit words promtool's lint checks, each with the base unit it requires instead; a base unit
/// maps to itself. From client_golang's promlint, which promtool 2.42 uses.
const UNITS: [(&str, &str); 24] = [
    ("amperes", "amperes"),
    ("bytes", "bytes"),
    ("celsius", "celsius"),
    ("grams", "grams"),
    ("joules", "joules"),
    ("meters", "meters"),
    ("metres", "metres"),
    ("seconds", "seconds"),
    ("volts", "volts"),
    ("minutes", "seconds"),
    ("hours", "seconds"),
    ("days", "seconds"),
    ("weeks", "seconds"),
    ("kelvin", "kelvin"),
    ("kelvins", "kelvin"),
    ("fahrenheit", "celsius"),
    ("rankine", "celsius"),
    ("inches", "meters"),
    ("yards", "meters"),
    ("miles", "meters"),
    ("bits", "bytes"),
    ("calories", "joules"),
    ("pounds", "grams"),
    ("ounces", "grams"),
];

/// Prefixes that make a non-base unit of any unit word.
const UNIT_PREFIXES: [&str; 18] = [
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega",
    "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi",
];

/// Abbreviated units that promtool's lint rejects as words of metric names.
const UNIT_ABBREVIATIONS: [&str; 14] = [
    "s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
];

const TYPE_WORDS: [&str; 5] = ["counter", "gauge", "histogram", "summary", "untyped"];

/// Checks a metric name of the given type and returns what is wrong with it.
pub fn check_metric_name(name: &str, kind: MetricKind) -> Result<(), String> {
    check_identifier(name, "metric name")?;
    let reserved = [SELF_PREFIX, PROCESS_PREFIX]
        .into_iter()
        .find(|prefix| name.starts_with(prefix));
    if let Some(prefix) = reserved {
        return Err(format!(
            "metric name {name:?} starts with {prefix:?}, which is reserved for \
             logtally's own metrics; choose another prefix"
        ));
    }
    // Units first, so the suffix suggestion is never a name that the unit check then rejects.
    check_lints(name)?;
    check_suffix(name, kind)
}

/// Checks a label name and returns what is wrong with it.
pub fn check_label_name(name: &str) -> Result<(), String> {
    check_identifier(name, "label name")?;
    if name == "le" {
        return Err("label name \"le\" is reserved for histogram buckets".to_owned());
    }
    if name == "quantile" {
        return Err("label name \"quantile\" is reserved for summaries".to_owned());
    }
    Ok(())
}

/// Checks the characters shared by metric and label names: `[a-z_][a-z0-9_]*`, snake case, and
/// no leading `__`, which Prometheus reserves for internal use.
fn check_identifier(name: &str, what: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !valid_start || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "invalid {what} {name:?}: use letters, digits and underscores, not starting \
             with a digit"
        ));
    }
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "invalid {what} {name:?}: write it in snake_case ({:?})",
            name.to_ascii_lowercase()
        ));
    }
    if name.starts_with("__") {
        return Err(format!(
            "invalid {what} {name:?}: names starting with \"__\" are reserved"
        ));
    }
    Ok(())
}

fn check_suffix(name: &str, kind: MetricKind) -> Result<(), String> {
    match kind {
        MetricKind::Counter if !name.ends_with("_total") => Err(format!(
            "counter name {name:?} must end in \"_total\" (for example {:?})",
            format!("{name}_total")
        )),
        MetricKind::Gauge | MetricKind::Histogram if name.ends_with("_total") => Err(format!(
            "{kind} name {name:?} must not end in \"_total\", which marks counters"
        )),
        _ => {
            for reserved in ["_bucket", "_count", "_sum"] {
                if name.ends_with(reserved) {
                    return Err(format!(
                        "metric name {name:?} must not end in {reserved:?}, which histograms \
                         use for their series"
                    ));
                }
            }
            Ok(())
        }
    }
}

/// Applies promtool's unit and type-word lints to the underscore-separated words of a name.
pub fn check_lints(name: &str) -> Result<(), String> {
    let words: Vec<&str> = name.split('_').collect();
    for (index, &word) in words.iter().enumerate() {
        if index > 0 && TYPE_WORDS.contains(&word) {
            return Err(format!(
                "metric name {name:?} must not include the type word {word:?}; the type is \
                 already in the exposition"
            ));
        }
        if UNIT_ABBREVIATIONS.contains(&word) {
            return Err(format!(
                "metric name {name:?} contains the abbreviated unit {word:?}; spell out the \
                 base unit (seconds, bytes) and use `scale` to convert"
            ));
        }
        if let Some(base) = non_base_unit(word) {
            return Err(format!(
                "metric name {name:?} uses {word:?}; use the base unit {base:?} and set \
                 `scale` to convert (for example scale = 0.001 for milliseconds)"
            ));
        }
    }
    Ok(())
}

/// Returns the base unit promtool requires when `word` is a non-base or prefixed unit.
fn non_base_unit(word: &str) -> Option<&'static str> {
    let base_of = |unit: &str| {
        UNITS
            .iter()
            .find(|(known, _)| *known == unit)
            .map(|(_, base)| *base)
    };
    if let Some(base) = base_of(word) {
        return (base != word).then_some(base);
    }
    UNIT_PREFIXES
        .iter()
        .find_map(|prefix| base_of(word.strip_prefix(prefix)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_valid() {
        let ok = [
            ("http_requests_total", MetricKind::Counter),
            ("envoy_http_request_duration_seconds", MetricKind::Histogram),
            ("last_seen_timestamp_seconds", MetricKind::Gauge),
            ("_private_total", MetricKind::Counter),
        ];
        for (name, kind) in ok {
            assert_eq!(check_metric_name(name, kind), Ok(()), "{name}");
        }
    }

    #[test]
    fn metric_names_rejected() {
        let cases = [
            (
                "http_requests",
                MetricKind::Counter,
                "must end in \"_total\"",
            ),
            (
                "queue_total",
                MetricKind::Gauge,
                "must not end in \"_total\"",
            ),
            (
                "latency_bucket",
                MetricKind::Histogram,
                "must not end in \"_bucket\"",
            ),
            ("9lives_total", MetricKind::Counter, "invalid metric name"),
            ("a:b_total", MetricKind::Counter, "invalid metric name"),
            ("httpRequests_total", MetricKind::Counter, "snake_case"),
            ("__x_total", MetricKind::Counter, "reserved"),
            (
                "logtally_x_total",
                MetricKind::Counter,
                "reserved for logtally's own",
            ),
            (
                "process_cpu_seconds_total",
                MetricKind::Counter,
                "starts with \"process_\", which is reserved for logtally's own",
            ),
            (
                "request_duration_ms",
                MetricKind::Histogram,
                "abbreviated unit \"ms\"",
            ),
            (
                "request_milliseconds",
                MetricKind::Histogram,
                "base unit \"seconds\"",
            ),
            (
                "response_kilobytes_total",
                MetricKind::Counter,
                "base unit \"bytes\"",
            ),
            (
                "requests_counter_total",
                MetricKind::Counter,
                "type word \"counter\"",
            ),
            ("", MetricKind::Counter, "invalid metric name"),
        ];
        for (name, kind, expected) in cases {
            let error = check_metric_name(name, kind).expect_err(name);
            assert!(error.contains(expected), "{name}: {error}");
        }
    }

    #[test]
    fn unit_reported_before_suffix() {
        assert_eq!(
            check_metric_name("latency_ms", MetricKind::Counter).unwrap_err(),
            "metric name \"latency_ms\" contains the abbreviated unit \"ms\"; spell out the base \
             unit (seconds, bytes) and use `scale` to convert"
        );
    }

    #[test]
    fn label_names() {
        assert_eq!(check_label_name("status"), Ok(()));
        assert!(
            check_label_name("le")
                .unwrap_err()
                .contains("reserved for histogram")
        );
        assert!(
            check_label_name("quantile")
                .unwrap_err()
                .contains("reserved for summaries")
        );
        assert!(
            check_label_name("__name__")
                .unwrap_err()
                .contains("reserved")
        );
        assert!(
            check_label_name("status-code")
                .unwrap_err()
                .contains("invalid label name")
        );
    }
}
