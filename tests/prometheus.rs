//! End to end with a real Prometheus server: logtally follows a log, Prometheus scrapes it over
//! 127.0.0.1, and the value is read back through Prometheus's HTTP query API.
//!
//! Skips (printing `skipped: <reason>`) when the `prometheus` binary is absent, unless
//! `LOGTALLY_REQUIRE_PROMETHEUS=1`, which makes its absence a failure.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{Daemon, append, http_get, write_file};

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

/// A Prometheus server, killed when dropped.
struct Prometheus {
    child: Child,
    address: SocketAddr,
}

impl Prometheus {
    fn start(program: &Path, dir: &Path, target: SocketAddr) -> Prometheus {
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: logtally\n    static_configs:\n      - targets: ['{target}']\n"
        );
        let config = write_file(dir, "prometheus.yml", &config);
        let address = free_loopback_port();
        let child = Command::new(program)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting prometheus");
        Prometheus { child, address }
    }

    /// Runs an instant query and returns the value of its one result, if there is one.
    fn query_one(&self, query: &str) -> Option<String> {
        let path = format!("/api/v1/query?query={}", encode_query(query));
        // The server is not up until it accepts connections.
        std::net::TcpStream::connect_timeout(&self.address, Duration::from_secs(1)).ok()?;
        let (status, body) = http_get(self.address, &path);
        if status != 200 {
            return None;
        }
        let json: serde_json::Value = serde_json::from_str(&body).ok()?;
        let results = json["data"]["result"].as_array()?;
        match results.as_slice() {
            [only] => Some(only["value"][1].as_str()?.to_owned()),
            _ => None,
        }
    }

    /// Queries until the result equals `expected`, or fails after `timeout`.
    fn wait_for(&self, query: &str, expected: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        while Instant::now() < deadline {
            last = self.query_one(query);
            if last.as_deref() == Some(expected) {
                return;
            }
            thread::sleep(Duration::from_millis(250));
        }
        panic!("Prometheus query {query} gave {last:?}, expected {expected:?}, within {timeout:?}");
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Picks a port by binding to port 0 on 127.0.0.1 and releasing it.
fn free_loopback_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("a local address")
}

/// Percent-encodes a PromQL query for a URL.
fn encode_query(query: &str) -> String {
    query
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

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
    prometheus.wait_for("up{job=\"logtally\"}", "1", timeout);
    prometheus.wait_for(
        "http_requests_total{method=\"GET\",status=\"200\"}",
        "200",
        timeout,
    );
    prometheus.wait_for(
        "http_requests_total{method=\"POST\",status=\"500\"}",
        "50",
        timeout,
    );
    // 0 + 1 + ... + 249
    prometheus.wait_for("http_response_bytes_total", "31125", timeout);
}
