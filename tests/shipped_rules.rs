//! The rule files in `rules/` on their sample logs, compared with values counted independently
//! of logtally: `testdata/*/expected.prom` for the samples, and `benches/count_envoy.py`, which
//! splits lines by hand and sums in exact decimals, for a large generated Envoy log.

mod common;

use std::process::Command;

use common::{logtally, root, stderr, stdout};

/// Sample lines of `logtally once` output, without `#` lines.
fn once_samples(rules: &str, log: &str) -> String {
    let output = logtally(&["once", "--rules", rules, log]);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn shipped_rules_pass_check() {
    let output = logtally(&["check", "rules"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // Each shipped rule file carries a test made from real lines.
    assert_eq!(
        stdout(&output),
        "4 rule file(s), 15 metric(s), 4 test(s): ok\n"
    );
}

#[test]
fn envoy_sample_matches_expected() {
    let expected = std::fs::read_to_string(root().join("testdata/envoy/expected.prom")).unwrap();
    assert_eq!(
        once_samples("rules/envoy.toml", "testdata/envoy/access.log"),
        expected
    );
}

#[test]
fn envoy_sample_unmatched_and_skipped() {
    let output = logtally(&[
        "once",
        "--rules",
        "rules/envoy.toml",
        "testdata/envoy/access.log",
    ]);
    assert_eq!(
        stderr(&output),
        "logtally: rules/envoy.toml: 5 of 58 line(s) did not match the [parse] regex\n\
         logtally: metric envoy_http_request_bytes_total: skipped 1 update(s), value dash\n\
         logtally: metric envoy_http_response_bytes_total: skipped 1 update(s), value dash\n\
         logtally: metric envoy_upstream_service_time_seconds: skipped 12 update(s), value dash\n"
    );
}

#[test]
fn envoy_client_left_counts_code_zero() {
    let text = once_samples("rules/envoy.toml", "testdata/envoy/access.log");
    let zero: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("code=\"0\""))
        .collect();
    assert!(!zero.is_empty(), "no code=\"0\" series in:\n{text}");
}

#[test]
fn nginx_sample_matches_expected() {
    let expected = std::fs::read_to_string(root().join("testdata/nginx/expected.prom")).unwrap();
    assert_eq!(
        once_samples("rules/nginx.toml", "testdata/nginx/access.log"),
        expected
    );
    let output = logtally(&[
        "once",
        "--rules",
        "rules/nginx.toml",
        "testdata/nginx/access.log",
    ]);
    assert_eq!(
        stderr(&output),
        "",
        "every line of the real nginx log matches"
    );
}

#[test]
fn envoy_generated_log_matches_independent_count() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("envoy.log");
    let generated = Command::new("python3")
        .args([
            "benches/genlog.py",
            "--format",
            "envoy",
            "--lines",
            "200000",
            "--seed",
            "7",
        ])
        .current_dir(root())
        .output()
        .expect("running python3 benches/genlog.py");
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    std::fs::write(&log, &generated.stdout).unwrap();

    let counted = Command::new("python3")
        .args(["benches/count_envoy.py", log.to_str().unwrap()])
        .current_dir(root())
        .output()
        .expect("running python3 benches/count_envoy.py");
    assert!(
        counted.status.success(),
        "{}",
        String::from_utf8_lossy(&counted.stderr)
    );
    let expected = String::from_utf8(counted.stdout).unwrap();

    let actual = once_samples("rules/envoy.toml", log.to_str().unwrap());
    assert!(
        expected.lines().count() > 300,
        "the generated log should give many series"
    );
    assert_eq!(actual.lines().count(), expected.lines().count());
    for (actual, expected) in actual.lines().zip(expected.lines()) {
        assert_eq!(actual, expected);
    }
}

/// The request and byte counts in an exposition, as lines.
fn request_and_byte_counts(text: &str) -> String {
    text.lines()
        .filter(|line| {
            line.starts_with("nginx_http_requests_total")
                || line.starts_with("nginx_http_response_bytes_total")
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn nginx_timed_counts_equal_combined() {
    // nginx wrote timed.log and access.log for the same 600 requests.
    let expected = std::fs::read_to_string(root().join("testdata/nginx/expected.prom")).unwrap();
    let text = once_samples("rules/nginx-timed.toml", "testdata/nginx/timed.log");
    assert_eq!(request_and_byte_counts(&text), expected);
    assert!(
        text.contains("\nnginx_upstream_response_time_seconds_count 404\n"),
        "{text}"
    );
}

#[test]
fn nginx_json_counts_equal_combined() {
    // nginx wrote json.log and access.log for the same 600 requests, so the JSON rules must
    // give the counts counted independently from the combined log.
    let expected = std::fs::read_to_string(root().join("testdata/nginx/expected.prom")).unwrap();
    let text = once_samples("rules/nginx-json.toml", "testdata/nginx/json.log");
    let counts: String = text
        .lines()
        .filter(|line| {
            line.starts_with("nginx_http_requests_total")
                || line.starts_with("nginx_http_response_bytes_total")
        })
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(counts, expected);
}

#[test]
fn nginx_json_empty_upstream_skipped() {
    let output = logtally(&[
        "once",
        "--rules",
        "rules/nginx-json.toml",
        "testdata/nginx/json.log",
    ]);
    // nginx served 196 requests of the sample without an upstream (static files, 404s).
    assert_eq!(
        stderr(&output),
        "logtally: metric nginx_upstream_response_time_seconds: skipped 196 update(s), value empty\n"
    );
    let text = stdout(&output);
    assert!(
        text.contains("\nnginx_upstream_response_time_seconds_count 404\n"),
        "{text}"
    );
    assert!(
        text.contains("\nnginx_http_request_duration_seconds_count 600\n"),
        "{text}"
    );
}
