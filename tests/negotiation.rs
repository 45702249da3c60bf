//! What a scrape returns for what the client requests: OpenMetrics for `Accept:
//! application/openmetrics-text`, gzip for `Accept-Encoding: gzip`, checked with promtool and
//! curl as the real clients.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::{Daemon, append, stderr, stdout, write_file};

const RULES: &str = common::METHOD_DURATION_RULES;

fn start() -> (tempfile::TempDir, Daemon) {
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
    append(&log, b"GET 50\nPOST 700\n");
    daemon.wait_for(
        "requests_total{method=\"POST\"}",
        "1",
        Duration::from_secs(10),
    );
    (dir, daemon)
}

/// Sends a GET with extra headers and returns the raw response head and body bytes.
fn get_raw(daemon: &Daemon, headers: &str) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(daemon.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap();
    let head = String::from_utf8(response[..split].to_vec()).unwrap();
    (head, response[split + 4..].to_vec())
}

#[test]
fn openmetrics_when_asked() {
    let (_dir, daemon) = start();
    let (head, body) = get_raw(
        &daemon,
        "Accept: application/openmetrics-text; version=1.0.0\r\n",
    );
    let body = String::from_utf8(body).unwrap();

    assert!(
        head.contains("content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(body.contains("# TYPE requests counter\nrequests_total{method=\"GET\"} 1\nrequests_created{method=\"GET\"} "), "{body}");
    assert!(body.contains("\nduration_seconds_created "), "{body}");
}

#[test]
fn prometheus_text_by_default() {
    let (_dir, daemon) = start();
    let (head, body) = get_raw(&daemon, "");
    let body = String::from_utf8(body).unwrap();
    assert!(
        head.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    assert!(!body.contains("# EOF"));
    assert!(!body.contains("_created"));
}

#[test]
fn openmetrics_passes_promtool() {
    let Some(promtool) = common::require_program("promtool") else {
        return;
    };
    let (_dir, daemon) = start();
    let (_, body) = get_raw(&daemon, "Accept: application/openmetrics-text\r\n");

    let output = common::promtool_check_metrics(&promtool, &body);
    // promtool 2.42 reads OpenMetrics counters as families named after their samples, so it
    // reports "no help text" for each `_total` and `_created` sample name. Anything else is an
    // error in the exposition.
    let complaints = format!("{}{}", stdout(&output), stderr(&output));
    for complaint in complaints.lines() {
        let allowed = complaint.ends_with(" no help text")
            && (complaint.contains("_total ") || complaint.contains("_created "));
        assert!(
            allowed,
            "unexpected promtool output: {complaint}\n{}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[test]
fn gzip_decoded_by_curl() {
    let Some(curl) = common::find_program("curl") else {
        let _ = writeln!(std::io::stderr(), "skipped: curl is not installed");
        return;
    };
    let (_dir, daemon) = start();
    let (head, compressed) = get_raw(&daemon, "Accept-Encoding: gzip\r\n");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert_eq!(
        &compressed[..2],
        &[0x1f, 0x8b],
        "a gzip stream starts with its magic bytes"
    );

    let url = format!("http://{}/metrics", daemon.address);
    let output = Command::new(curl)
        .args(["--silent", "--show-error", "--compressed", &url])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("requests_total{method=\"GET\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("duration_seconds_bucket{le=\"1\"} 2\n"),
        "{text}"
    );
}

#[test]
fn refused_codings_get_406() {
    let (_dir, daemon) = start();
    let (head, body) = get_raw(&daemon, "Accept-Encoding: gzip;q=0, identity;q=0\r\n");
    assert!(head.starts_with("HTTP/1.1 406"), "{head}");
    assert_eq!(
        String::from_utf8_lossy(&body),
        "Accept-Encoding rejects both gzip and identity; accept one of them.\n"
    );

    let (head, body) = get_raw(&daemon, "Accept-Encoding: br, gzip;q=0\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!head.contains("content-encoding"), "{head}");
    assert!(
        String::from_utf8_lossy(&body).contains("requests_total{method=\"GET\"} 1\n"),
        "uncompressed body expected"
    );
}
