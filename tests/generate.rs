//! Rule files generated from nginx `log_format` strings read every line nginx wrote with those
//! formats, and count what the independently counted combined log counts.

mod common;

use common::{logtally, root, stderr, stdout, write_file};

/// nginx's predefined `combined` format.
const COMBINED: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;

/// A format string from the nginx.conf that wrote the samples.
fn configured_format(name: &str) -> String {
    let config = std::fs::read_to_string(root().join("testdata/nginx/nginx.conf")).unwrap();
    let line = config
        .lines()
        .find(|line| line.contains(&format!("log_format {name} ")))
        .unwrap();
    let start = line.find('\'').unwrap() + 1;
    let end = line.rfind('\'').unwrap();
    line[start..end].to_owned()
}

/// Generates rules for `format`, runs them over `log`, and checks every line matched and the
/// request and byte counts equal the independent count of the same requests.
fn generated_rules_count(format: &str, log: &str, expected_stderr: &str) {
    let dir = tempfile::tempdir().unwrap();
    let generated = logtally(&["generate", "nginx", format]);
    assert!(generated.status.success(), "{}", stderr(&generated));
    let rules = write_file(dir.path(), "generated.toml", &stdout(&generated));

    let check = logtally(&["check", rules.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));

    let output = logtally(&["once", "--rules", rules.to_str().unwrap(), log]);
    assert_eq!(stderr(&output), expected_stderr, "every line matches");
    let counts: String = stdout(&output)
        .lines()
        .filter(|line| {
            line.starts_with("nginx_http_requests_total")
                || line.starts_with("nginx_http_response_bytes_total")
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let expected = std::fs::read_to_string(root().join("testdata/nginx/expected.prom")).unwrap();
    assert_eq!(counts, expected);
}

#[test]
fn generated_combined_reads_sample() {
    generated_rules_count(COMBINED, "testdata/nginx/access.log", "");
}

#[test]
fn generated_timed_reads_sample() {
    let skipped = "logtally: metric nginx_upstream_response_time_seconds: skipped 196 update(s), value dash\n";
    generated_rules_count(
        &configured_format("timed"),
        "testdata/nginx/timed.log",
        skipped,
    );
}

#[test]
fn generated_json_reads_sample() {
    let format = configured_format("jsonlog");
    let skipped = "logtally: metric nginx_upstream_response_time_seconds: skipped 196 update(s), value empty\n";
    generated_rules_count(&format, "testdata/nginx/json.log", skipped);
}

#[test]
fn generate_rejects_unknown_proxy() {
    let output = logtally(&["generate", "apache", "%h %l"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("invalid value 'apache'"),
        "{}",
        stderr(&output)
    );
}

/// Samples of `once` output whose names start with one of `prefixes`, one per line.
fn samples_starting(output: &str, prefixes: &[&str]) -> String {
    output
        .lines()
        .filter(|line| prefixes.iter().any(|prefix| line.starts_with(prefix)))
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn generated_unquoted_upstream_lists_match() {
    let dir = tempfile::tempdir().unwrap();
    let format = r#"$remote_addr "$request" $status $request_time $upstream_response_time"#;
    let generated = logtally(&["generate", "nginx", format]);
    let rules = write_file(dir.path(), "generated.toml", &stdout(&generated));
    // Two servers tried, an internal redirect, one upstream, and none.
    let log = write_file(
        dir.path(),
        "access.log",
        "1.2.3.4 \"GET / HTTP/1.1\" 200 0.700 0.004, 0.012\n\
         1.2.3.4 \"GET / HTTP/1.1\" 502 0.100 0.005 : 0.019\n\
         1.2.3.4 \"POST / HTTP/1.1\" 200 0.010 0.008\n\
         1.2.3.4 \"GET / HTTP/1.1\" 499 0.001 -\n",
    );

    let output = logtally(&[
        "once",
        "--rules",
        rules.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);

    assert_eq!(
        stderr(&output),
        "logtally: metric nginx_upstream_response_time_seconds: skipped 1 update(s), value dash\n"
    );
    let upstream = "nginx_upstream_response_time_seconds_";
    let counts = samples_starting(&stdout(&output), &["nginx_http_requests_total", upstream]);
    let expected = "\
nginx_http_requests_total{method=\"GET\",status=\"200\"} 1
nginx_http_requests_total{method=\"GET\",status=\"499\"} 1
nginx_http_requests_total{method=\"GET\",status=\"502\"} 1
nginx_http_requests_total{method=\"POST\",status=\"200\"} 1
nginx_upstream_response_time_seconds_bucket{le=\"0.001\"} 0
nginx_upstream_response_time_seconds_bucket{le=\"0.005\"} 0
nginx_upstream_response_time_seconds_bucket{le=\"0.01\"} 1
nginx_upstream_response_time_seconds_bucket{le=\"0.025\"} 3
nginx_upstream_response_time_seconds_bucket{le=\"0.05\"} 3
nginx_upstream_response_time_seconds_bucket{le=\"0.1\"} 3
nginx_upstream_response_time_seconds_bucket{le=\"0.25\"} 3
nginx_upstream_response_time_seconds_bucket{le=\"0.5\"} 3
nginx_upstream_response_time_seconds_bucket{le=\"1\"} 3
nginx_upstream_response_time_seconds_bucket{le=\"2.5\"} 3
nginx_upstream_response_time_seconds_bucket{le=\"5\"} 3
nginx_upstream_response_time_seconds_bucket{le=\"10\"} 3
nginx_upstream_response_time_seconds_bucket{le=\"+Inf\"} 3
nginx_upstream_response_time_seconds_sum 0.048
nginx_upstream_response_time_seconds_count 3
";
    assert_eq!(counts, expected);
}

#[test]
fn escape_parameter_accepted_before_format() {
    let format = r#"{"status":"$status","time":$request_time}"#;
    let plain = logtally(&["generate", "nginx", format]);
    let escaped = logtally(&["generate", "nginx", &format!("escape=json {format}")]);

    assert!(escaped.status.success(), "{}", stderr(&escaped));
    assert!(stdout(&escaped).contains("format = \"json\""));
    assert_eq!(stdout(&escaped), stdout(&plain));
}

#[test]
fn unknown_escape_parameter_rejected() {
    let output = logtally(&["generate", "nginx", "escape=xml $status"]);

    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "logtally: cannot generate rules: invalid escape=xml: nginx accepts default, json or none\n"
    );
}
