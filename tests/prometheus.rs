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
