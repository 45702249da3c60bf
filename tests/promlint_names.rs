//! Metric names that `logtally check` accepts must pass `promtool check metrics`, and the
//! names it rejects for a lint reason are the ones promtool flags. The installed promtool is
//! the reference.

mod common;

use logtally::rules::MetricKind;
use logtally::rules::names::check_metric_name;

const CANDIDATES: &[(&str, MetricKind)] = &[
    ("http_requests_total", MetricKind::Counter),
    ("http_request_duration_seconds", MetricKind::Histogram),
    ("http_response_bytes_total", MetricKind::Counter),
    ("queue_depth", MetricKind::Gauge),
    ("x_bits_total", MetricKind::Counter),
    ("x_fahrenheit", MetricKind::Gauge),
    ("x_miles", MetricKind::Gauge),
    ("x_kibibytes", MetricKind::Gauge),
    ("x_milliseconds", MetricKind::Gauge),
    ("x_minutes", MetricKind::Gauge),
    ("x_ms", MetricKind::Gauge),
    ("x_sec_total", MetricKind::Counter),
    ("x_kb", MetricKind::Gauge),
    ("x_counter_total", MetricKind::Counter),
    ("x_gauge", MetricKind::Gauge),
    ("x_total", MetricKind::Gauge),
    ("x_requests", MetricKind::Counter),
    ("temperature_celsius", MetricKind::Gauge),
    ("distance_meters", MetricKind::Gauge),
    ("x_kelvin", MetricKind::Gauge),
    ("x_ounces", MetricKind::Gauge),
    ("x_hectometers", MetricKind::Gauge),
    ("x_s", MetricKind::Gauge),
    ("x_histogram", MetricKind::Histogram),
    ("x_bucket", MetricKind::Gauge),
    ("x_count", MetricKind::Gauge),
    ("httpRequests_total", MetricKind::Counter),
];

fn promtool_complains(promtool: &std::path::Path, name: &str, kind: MetricKind) -> bool {
    let sample = match kind {
        MetricKind::Histogram => format!(
            "{name}_bucket{{le=\"1\"}} 1\n{name}_bucket{{le=\"+Inf\"}} 1\n{name}_sum 1\n{name}_count 1\n"
        ),
        _ => format!("{name} 1\n"),
    };
    let text = format!("# HELP {name} Help.\n# TYPE {name} {kind}\n{sample}");
    let output = common::promtool_check_metrics(promtool, text.as_bytes());
    !output.status.success()
}

#[test]
fn name_checks_agree_with_promtool() {
    let Some(promtool) = common::require_program("promtool") else {
        return;
    };
    for (name, kind) in CANDIDATES {
        let rejected = check_metric_name(name, *kind).is_err();
        let flagged = promtool_complains(&promtool, name, *kind);
        assert_eq!(
            rejected, flagged,
            "{name} ({kind}): logtally rejects {rejected}, promtool flags {flagged}"
        );
    }
}
