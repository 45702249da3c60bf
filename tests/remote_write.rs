//! `logtally run --remote-write.url`: pushes to a scripted receiver on 127.0.0.1 (retries,
//! rejections, headers, credentials, TLS, the push on shutdown) and to a real Prometheus
//! started as a remote-write receiver.
//!
//! The Prometheus test skips (printing `skipped: <reason>`) when the `prometheus` binary is
//! absent, unless `LOGTALLY_REQUIRE_PROMETHEUS=1`, which makes its absence a failure.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use common::receiver::{HANG, Receiver, decode_values, decode_write_request};
use common::tls::Pki;
use common::{Daemon, Prometheus, append, stderr, stdout, value, wait_for_query, write_file};

const WAIT: Duration = Duration::from_secs(30);

const RULES: &str = r#"
[parse]
regex = '''^(?P<method>\S+) (?P<code>\d{3}) (?P<seconds>\S+)$'''

[[metric]]
name = "http_requests_total"
type = "counter"
help = "Requests seen in the access log."
labels = ["method", { status = "code" }]

[[metric]]
name = "http_request_duration_seconds"
type = "histogram"
help = "Time to serve a request."
value = "seconds"
buckets = [0.1, 1]
"#;

/// Four requests that the log repeats: GET 200 twice (0.05 s and 0.5 s), POST 500 (2 s) and
/// GET 404 (0.1 s, on the bound of the first bucket).
const CYCLE: &str = "GET 200 0.05\nGET 200 0.5\nPOST 500 2\nGET 404 0.1\n";

/// The labels that every pushed series gets from the flags of [`Setup::start`].
const EXTERNAL: &str = "instance=\"host-a\",job=\"logtally\"";

/// A temporary directory with a log of `cycles` repetitions of [`CYCLE`] and its rule file.
struct Setup {
    dir: tempfile::TempDir,
    rules: PathBuf,
    log: PathBuf,
}

impl Setup {
    fn new(cycles: usize) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let rules = write_file(dir.path(), "rules.toml", RULES);
        let log = write_file(dir.path(), "access.log", &CYCLE.repeat(cycles));
        Setup { dir, rules, log }
    }

    /// Writes `contents` to a file of the setup and returns its path as text.
    fn file(&self, name: &str, contents: &str) -> String {
        let path = write_file(self.dir.path(), name, contents);
        path.to_str().unwrap().to_owned()
    }

    /// Starts the daemon on the log, read from its start, pushing to `url` once at start
    /// (the interval is an hour), with `extra` flags.
    fn start(&self, url: &str, extra: &[&str]) -> Daemon {
        let mut args = vec![
            "--rules",
            self.rules.to_str().unwrap(),
            "--logs",
            self.log.to_str().unwrap(),
            "--from-start",
            "--remote-write.url",
            url,
            "--remote-write.interval",
            "1h",
            "--remote-write.external-label",
            "instance=host-a",
        ];
        args.extend(extra);
        Daemon::start(&args)
    }
}

/// Returns the series name with the external labels and `labels` (sorted by name, written as
/// `a="b"`) as [`common::receiver::Sample::series`] writes it.
fn series(name: &str, labels: &[&str]) -> String {
    let mut all: Vec<&str> = labels.to_vec();
    all.extend(EXTERNAL.split(','));
    all.sort();
    format!("{name}{{{}}}", all.join(","))
}

/// Returns a self-metric series of the destination `url`.
fn own(name: &str, url: &str, reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!("{name}{{url=\"{url}\",reason=\"{reason}\"}}"),
        None => format!("{name}{{url=\"{url}\"}}"),
    }
}

/// Checks the rule series of a push of `cycles` repetitions of [`CYCLE`].
fn assert_rule_values(body: &[u8], cycles: u32) {
    let values = decode_values(body);
    let count = f64::from(cycles);
    let expected = [
        (
            series("http_requests_total", &["method=\"GET\"", "status=\"200\""]),
            2.0 * count,
        ),
        (
            series(
                "http_requests_total",
                &["method=\"POST\"", "status=\"500\""],
            ),
            count,
        ),
        (
            series("http_requests_total", &["method=\"GET\"", "status=\"404\""]),
            count,
        ),
        (
            series("http_request_duration_seconds_bucket", &["le=\"0.1\""]),
            2.0 * count,
        ),
        (
            series("http_request_duration_seconds_bucket", &["le=\"1\""]),
            3.0 * count,
        ),
        (
            series("http_request_duration_seconds_bucket", &["le=\"+Inf\""]),
            4.0 * count,
        ),
        (
            series("http_request_duration_seconds_count", &[]),
            4.0 * count,
        ),
    ];
    for (series, value) in expected {
        assert_eq!(values.get(&series), Some(&value), "{series} in {values:#?}");
    }
    // 0.05 + 0.5 + 2 + 0.1 = 2.65 per cycle, summed exactly in decimal, so the value is the
    // double nearest to the decimal total.
    let hundredths = 265 * u64::from(cycles);
    let total: f64 = format!("{}.{:02}", hundredths / 100, hundredths % 100)
        .parse()
        .unwrap();
    let sum = series("http_request_duration_seconds_sum", &[]);
    assert_eq!(values.get(&sum), Some(&total), "{sum}");
}

#[test]
fn server_errors_retried_until_accepted() {
    let receiver = Receiver::start(&[(500, "busy"), (503, "still busy")]);
    let setup = Setup::new(2);
    let password = setup.file("password", "s3cret\n");
    let url = receiver.url("http");
    let daemon = setup.start(
        &url,
        &[
            "--remote-write.basic-auth.username",
            "pusher",
            "--remote-write.basic-auth.password-file",
            &password,
        ],
    );

    let requests = receiver.wait_for_requests(3, WAIT);
    let credentials = base64::engine::general_purpose::STANDARD.encode("pusher:s3cret");
    let authorization = format!("Basic {credentials}");
    let user_agent = format!("logtally/{}", env!("CARGO_PKG_VERSION"));
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.target, "/api/v1/write");
        assert_eq!(request.header("content-encoding"), Some("snappy"));
        assert_eq!(
            request.header("content-type"),
            Some("application/x-protobuf")
        );
        assert_eq!(
            request.header("x-prometheus-remote-write-version"),
            Some("0.1.0")
        );
        assert_eq!(request.header("user-agent"), Some(user_agent.as_str()));
        assert_eq!(
            request.header("authorization"),
            Some(authorization.as_str())
        );
    }
    assert_eq!(requests[1].body, requests[0].body, "the retry resends it");
    assert_eq!(requests[2].body, requests[0].body, "the retry resends it");
    assert_rule_values(&requests[2].body, 2);

    let path = format!("path=\"{}\"", setup.log.display());
    let lines_read = series("logtally_lines_read_total", &[&path]);
    assert_eq!(
        decode_values(&requests[2].body).get(&lines_read),
        Some(&8.0)
    );

    let server_errors = own(
        "logtally_remote_write_failures_total",
        &url,
        Some("server_error"),
    );
    let body = daemon.wait_for(&server_errors, "2", WAIT);
    let sent = own("logtally_remote_write_samples_sent_total", &url, None);
    let samples = decode_write_request(&requests[2].body).len();
    assert_eq!(value(&body, &sent), samples.to_string());
    let pending = own("logtally_remote_write_pending_snapshots", &url, None);
    assert_eq!(value(&body, &pending), "0");
    let connection = own(
        "logtally_remote_write_failures_total",
        &url,
        Some("connection"),
    );
    assert_eq!(value(&body, &connection), "0");
    let last_success = own(
        "logtally_remote_write_last_success_timestamp_seconds",
        &url,
        None,
    );
    assert_ne!(value(&body, &last_success), "0");
}

#[test]
fn pushed_series_follow_protocol() {
    let receiver = Receiver::start(&[]);
    let setup = Setup::new(1);
    let daemon = setup.start(&receiver.url("http"), &[]);
    let requests = receiver.wait_for_requests(1, WAIT);
    drop(daemon);

    let samples = decode_write_request(&requests[0].body);
    assert!(!samples.is_empty());
    let timestamp = samples[0].timestamp_ms;
    assert!(timestamp > 1_700_000_000_000, "a time in milliseconds");
    for sample in &samples {
        assert_eq!(sample.timestamp_ms, timestamp, "{sample:?}");
        let names: Vec<&str> = sample
            .labels
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted, "labels sorted and unique");
        assert!(names.contains(&"__name__"), "{sample:?}");
        assert!(
            sample.labels.iter().all(|(_, value)| !value.is_empty()),
            "no empty label value in {sample:?}"
        );
        let job = sample.labels.iter().find(|(name, _)| name == "job");
        assert_eq!(job.map(|(_, value)| value.as_str()), Some("logtally"));
    }
}

#[test]
fn client_error_not_retried() {
    let receiver = Receiver::start(&[(400, "out of order sample")]);
    let setup = Setup::new(1);
    let url = receiver.url("http");
    let daemon = setup.start(&url, &[]);

    let rejected = own(
        "logtally_remote_write_failures_total",
        &url,
        Some("rejected"),
    );
    let body = daemon.wait_for(&rejected, "1", WAIT);
    // The snapshot left the queue, so no retry of it is scheduled.
    let pending = own("logtally_remote_write_pending_snapshots", &url, None);
    assert_eq!(value(&body, &pending), "0");
    let sent = own("logtally_remote_write_samples_sent_total", &url, None);
    assert_eq!(value(&body, &sent), "0");
    assert_eq!(receiver.requests().len(), 1);

    let line = daemon.wait_for_log("Remote-write push rejected", WAIT);
    assert!(line.contains("status 400"), "{line}");
    assert!(line.contains("out of order sample"), "{line}");
}

#[test]
fn unanswered_push_times_out() {
    let receiver = Receiver::start(&[HANG]);
    let setup = Setup::new(1);
    let url = receiver.url("http");
    let daemon = setup.start(&url, &["--remote-write.timeout", "200ms"]);

    let line = daemon.wait_for_log("Remote-write push failed; retrying with backoff.", WAIT);
    assert!(line.contains("reason=timeout"), "{line}");
    assert!(line.contains("no response within 200ms"), "{line}");

    // The receiver accepts the retry once it stops holding the first connection.
    let requests = receiver.wait_for_requests(2, WAIT);
    assert_eq!(requests[1].body, requests[0].body);
    let timeouts = own(
        "logtally_remote_write_failures_total",
        &url,
        Some("timeout"),
    );
    let sent = own("logtally_remote_write_samples_sent_total", &url, None);
    let samples = decode_write_request(&requests[1].body).len().to_string();
    let body = daemon.wait_for(&sent, &samples, WAIT);
    assert_ne!(value(&body, &timeouts), "0");
}

#[test]
fn https_with_ca_file_and_bearer_token() {
    let setup = Setup::new(3);
    let pki = Pki::create(setup.dir.path());
    let receiver = Receiver::start_tls(&[], &pki);
    let token = setup.file("token", "tok-123\n");
    let url = receiver.url("https");
    let _daemon = setup.start(
        &url,
        &[
            "--remote-write.ca-file",
            pki.ca.to_str().unwrap(),
            "--remote-write.bearer-token-file",
            &token,
        ],
    );

    let requests = receiver.wait_for_requests(1, WAIT);
    assert_eq!(requests[0].header("authorization"), Some("Bearer tok-123"));
    assert_rule_values(&requests[0].body, 3);
}

#[test]
fn https_untrusted_certificate_fails() {
    let setup = Setup::new(1);
    let pki = Pki::create(setup.dir.path());
    let other_dir = tempfile::tempdir().unwrap();
    let other = Pki::create(other_dir.path());
    let receiver = Receiver::start_tls(&[], &pki);
    let daemon = setup.start(
        &receiver.url("https"),
        &["--remote-write.ca-file", other.ca.to_str().unwrap()],
    );

    let line = daemon.wait_for_log("Remote-write push failed; retrying with backoff.", WAIT);
    assert!(line.contains("reason=connection"), "{line}");
    // Both test CAs have the same name, so rustls finds the issuer and then rejects the
    // signature made by the other CA's key.
    let failure = format!(
        "TLS handshake with {} failed: invalid peer certificate: BadSignature",
        receiver.address
    );
    assert!(line.contains(&failure), "{line}");
    assert_eq!(receiver.requests().len(), 0);
}

#[test]
fn shutdown_pushes_last_snapshot() {
    let receiver = Receiver::start(&[]);
    let setup = Setup::new(1);
    let daemon = setup.start(&receiver.url("http"), &[]);
    let first = receiver.wait_for_requests(1, WAIT);
    assert_rule_values(&first[0].body, 1);

    append(&setup.log, CYCLE.repeat(2).as_bytes());
    let lines_read = format!(
        "logtally_lines_read_total{{path=\"{}\"}}",
        setup.log.display()
    );
    daemon.wait_for(&lines_read, "12", WAIT);
    assert_eq!(daemon.terminate().code(), Some(0));

    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert_rule_values(&requests[1].body, 3);
}

#[test]
fn scrape_with_remote_write_passes_promtool() {
    let Some(promtool) = common::require_program("promtool") else {
        return;
    };
    let receiver = Receiver::start(&[(500, "busy")]);
    let setup = Setup::new(1);
    let url = receiver.url("http");
    let daemon = setup.start(&url, &[]);
    let sent = own("logtally_remote_write_samples_sent_total", &url, None);
    let deadline = std::time::Instant::now() + WAIT;
    let body = loop {
        let body = daemon.scrape();
        if value(&body, &sent) != "0" {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no push accepted:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = common::promtool_check_metrics(&promtool, body.as_bytes());
    assert!(
        output.status.success(),
        "promtool: {}{}\n{body}",
        stdout(&output),
        stderr(&output)
    );
    assert_eq!(stdout(&output), "");
    assert_eq!(stderr(&output), "");
}

/// Runs `logtally run` with `flags` added and returns its exit code and standard error.
fn run_with(rules: &Path, flags: &[&str]) -> (Option<i32>, String) {
    let mut args = vec![
        "run",
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        "/nonexistent/*.log",
        "--web.listen-address",
        "127.0.0.1:0",
    ];
    args.extend(flags);
    let output = common::logtally(&args);
    (output.status.code(), stderr(&output))
}

#[test]
fn invalid_remote_write_flags_rejected() {
    let setup = Setup::new(0);
    let empty = setup.file("empty.pem", "");
    let missing = setup.dir.path().join("missing-token");
    let missing = missing.to_str().unwrap();
    let cases: [(&[&str], String); 7] = [
        (
            &["--remote-write.url", "ftp://host/write"],
            "invalid --remote-write.url \"ftp://host/write\": the scheme must be http:// or \
             https://"
                .to_owned(),
        ),
        (
            &["--remote-write.url", "http://user:pw@host/write"],
            "invalid --remote-write.url \"http://user:pw@host/write\": credentials in the URL \
             are not supported; use --remote-write.basic-auth.username and \
             --remote-write.basic-auth.password-file"
                .to_owned(),
        ),
        (
            &[
                "--remote-write.url",
                "http://host/write",
                "--remote-write.url",
                "http://host/write",
            ],
            "--remote-write.url \"http://host/write\" is given twice".to_owned(),
        ),
        (
            &[
                "--remote-write.url",
                "http://host/write",
                "--remote-write.external-label",
                "region",
            ],
            "invalid --remote-write.external-label \"region\": write it as NAME=VALUE".to_owned(),
        ),
        (
            &[
                "--remote-write.url",
                "http://host/write",
                "--remote-write.ca-file",
                &empty,
            ],
            "--remote-write.ca-file is set, but no --remote-write.url is https://".to_owned(),
        ),
        (
            &[
                "--remote-write.url",
                "https://host/write",
                "--remote-write.ca-file",
                &empty,
            ],
            format!(
                "invalid --remote-write.ca-file {empty}: it contains no PEM certificate \
                 (-----BEGIN CERTIFICATE-----)"
            ),
        ),
        (
            &[
                "--remote-write.url",
                "http://host/write",
                "--remote-write.bearer-token-file",
                missing,
            ],
            format!(
                "cannot read --remote-write.bearer-token-file {missing}: No such file or \
                 directory (os error 2)"
            ),
        ),
    ];
    for (flags, message) in cases {
        let (code, error) = run_with(&setup.rules, flags);
        assert_eq!(code, Some(1), "{flags:?}: {error}");
        assert_eq!(
            error.lines().last().unwrap_or(""),
            format!("logtally: {message}"),
            "{flags:?}"
        );
    }
}

#[test]
fn remote_write_options_need_url() {
    let setup = Setup::new(0);
    for flags in [
        ["--remote-write.interval", "5s"],
        ["--remote-write.external-label", "a=b"],
    ] {
        let (code, error) = run_with(&setup.rules, &flags);
        assert_eq!(code, Some(2), "{flags:?}: {error}");
        assert!(error.contains("--remote-write.url <URL>"), "{error}");
    }
}

#[test]
fn prometheus_receives_pushed_metrics() {
    let Some(program) = common::require_program("prometheus") else {
        return;
    };
    let setup = Setup::new(50);
    let prometheus = Prometheus::start_receiver(&program, setup.dir.path());
    let url = format!("http://{}/api/v1/write", prometheus.address);
    let _daemon = Daemon::start(&[
        "--rules",
        setup.rules.to_str().unwrap(),
        "--logs",
        setup.log.to_str().unwrap(),
        "--from-start",
        "--remote-write.url",
        &url,
        "--remote-write.interval",
        "1s",
        "--remote-write.external-label",
        "instance=host-a",
    ]);

    let timeout = Duration::from_secs(60);
    let get_200 = "http_requests_total{method=\"GET\",status=\"200\",job=\"logtally\",\
                   instance=\"host-a\"}";
    wait_for_query(&prometheus, get_200, "100", timeout);
    wait_for_query(
        &prometheus,
        "http_requests_total{method=\"POST\",status=\"500\"}",
        "50",
        timeout,
    );
    let bucket = |le: &str| format!("http_request_duration_seconds_bucket{{le=\"{le}\"}}");
    wait_for_query(&prometheus, &bucket("0.1"), "100", timeout);
    wait_for_query(&prometheus, &bucket("1"), "150", timeout);
    wait_for_query(&prometheus, &bucket("+Inf"), "200", timeout);
    wait_for_query(
        &prometheus,
        "http_request_duration_seconds_sum",
        "132.5",
        timeout,
    );

    // Later pushes carry lines read after the first.
    append(&setup.log, CYCLE.repeat(10).as_bytes());
    wait_for_query(&prometheus, get_200, "120", timeout);
    wait_for_query(&prometheus, &bucket("+Inf"), "240", timeout);
}
