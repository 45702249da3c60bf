//! End to end with a real Prometheus server: logtally follows a log, Prometheus scrapes it over
//! 127.0.0.1, and the value is read back through Prometheus's HTTP query API.
//!
//! Skips (printing `skipped: <reason>`) when the `prometheus` binary is absent, unless
//! `LOGTALLY_REQUIRE_PROMETHEUS=1`, which makes its absence a failure.

mod common;

use std::time::Duration;

use common::{Daemon, Prometheus, append, wait_for_query, write_file};

const RULES: &str = r#"
[parse]
regex = '''^(?P<method>\S+) (?P<code>\d{3}) (?P<bytes>\d+|-)$'''

[[metric]]
name = "http_requests_total"
type = "counter"
help = "Requests seen in the access log."
labels = ["method", { status = "code" }]

[[metric]]
name = "http_response_bytes_total"
type = "counter"
help = "Response body bytes."
value = "bytes"
"#;

#[test]
fn prometheus_scrapes_counter() {
    let Some(program) = common::require_program("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);
    let log = dir.path().join("access.log");
    std::fs::write(&log, b"").unwrap();

    let daemon = Daemon::start(&[
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        log.to_str().unwrap(),
    ]);
    daemon.wait_following(&log);
    let prometheus = Prometheus::start(&program, dir.path(), daemon.address);

    let mut lines = String::new();
    for index in 0..250 {
        let (method, code) = if index % 5 == 0 {
            ("POST", "500")
        } else {
            ("GET", "200")
        };
        lines.push_str(&format!("{method} {code} {index}\n"));
    }
    append(&log, lines.as_bytes());

    let timeout = Duration::from_secs(60);
    wait_for_query(&prometheus, "up{job=\"logtally\"}", "1", timeout);
    wait_for_query(
        &prometheus,
        "http_requests_total{method=\"GET\",status=\"200\"}",
        "200",
        timeout,
    );
    wait_for_query(
        &prometheus,
        "http_requests_total{method=\"POST\",status=\"500\"}",
        "50",
        timeout,
    );
    // 0 + 1 + ... + 249
    wait_for_query(&prometheus, "http_response_bytes_total", "31125", timeout);
}

const NATIVE_RULES: &str = r#"
[parse]
regex = '''^(?P<seconds>\S+)$'''

[[metric]]
name = "request_duration_seconds"
type = "histogram"
help = "Request duration."
value = "seconds"
buckets = [0.1, 1]
native = true
"#;

/// Returns the native histogram Prometheus holds for `query`, once it has `count`
/// observations.
fn wait_for_native(prometheus: &Prometheus, query: &str, count: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let result = prometheus.query(query).unwrap_or_default();
        if let Some(histogram) = result.first().map(|sample| sample["histogram"][1].clone())
            && histogram["count"] == count
        {
            return histogram;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no native histogram with count {count} for {query}: {result:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn prometheus_ingests_native_histogram() {
    let Some(program) = common::require_program("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", NATIVE_RULES);
    let log = dir.path().join("access.log");
    std::fs::write(&log, b"").unwrap();
    let daemon = Daemon::start(&[
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        log.to_str().unwrap(),
    ]);
    daemon.wait_following(&log);
    let prometheus = Prometheus::start_with_flags(
        &program,
        dir.path(),
        daemon.address,
        "",
        &["--enable-feature=native-histograms"],
    );

    append(&log, b"0.05\n0.5\n0.5\n3\n");
    let histogram = wait_for_native(&prometheus, "request_duration_seconds", "4");

    assert_eq!(histogram["sum"], "4.05");
    // At schema 3 each bucket spans a factor of 2^(1/8); 0.5, a power of two, closes its
    // bucket. Each bucket is [rule, lower, upper, count].
    let buckets: Vec<(f64, f64, String)> = histogram["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bucket| {
            let bound = |index: usize| bucket[index].as_str().unwrap().parse::<f64>().unwrap();
            (bound(1), bound(2), bucket[3].as_str().unwrap().to_owned())
        })
        .collect();
    let expected = [(0.05, "1"), (0.5, "2"), (3.0, "1")];
    assert_eq!(buckets.len(), expected.len(), "{buckets:?}");
    for ((lower, upper, count), (value, expected_count)) in buckets.iter().zip(expected) {
        assert!(
            *lower < value && value <= *upper,
            "{value} in ({lower}, {upper}]"
        );
        assert!(
            upper / lower < 1.0906,
            "({lower}, {upper}] is wider than schema 3"
        );
        assert_eq!(count, expected_count, "bucket of {value}");
    }
}
