//! Rule files generated from nginx `log_format` strings and Envoy format strings read every line
//! the proxy wrote with those formats, and count what the independent counts of the same
//! requests count.

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

/// Runs `benches/count_envoy.py`, which splits Envoy default-format lines by hand, on `log`.
fn independent_envoy_count(log: &str) -> String {
    let output = std::process::Command::new("python3")
        .args(["benches/count_envoy.py", log])
        .current_dir(root())
        .output()
        .expect("running python3 benches/count_envoy.py");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn generated_envoy_default_reads_sample() {
    let dir = tempfile::tempdir().unwrap();
    let generated = logtally(&["generate", "envoy"]);
    assert_eq!(generated.status.code(), Some(0), "{}", stderr(&generated));
    let rules = write_file(dir.path(), "generated.toml", &stdout(&generated));
    let check = logtally(&["check", rules.to_str().unwrap()]);
    assert_eq!(
        stdout(&check),
        "1 rule file(s), 6 metric(s), 0 test(s): ok\n"
    );

    let output = logtally(&[
        "once",
        "--rules",
        rules.to_str().unwrap(),
        "testdata/envoy/access.log",
    ]);
    // The 5 lines that do not match are the sample's lines in other formats, as with
    // rules/envoy.toml: every Envoy line matches.
    let expected_stderr = format!(
        "logtally: {}: 5 of 58 line(s) matched no pattern of the rule file\n\
         logtally: metric envoy_http_request_bytes_total: skipped 1 update(s), value dash\n\
         logtally: metric envoy_http_response_bytes_total: skipped 1 update(s), value dash\n\
         logtally: metric envoy_upstream_service_time_seconds: skipped 12 update(s), value dash\n",
        rules.display()
    );
    assert_eq!(stderr(&output), expected_stderr);

    let text = stdout(&output);
    let shared = samples_starting(
        &text,
        &[
            "envoy_http_requests_total",
            "envoy_http_request_bytes_total",
            "envoy_http_response_bytes_total",
            "envoy_http_request_duration_seconds",
            "envoy_upstream_service_time_seconds",
        ],
    );
    let independent = independent_envoy_count("testdata/envoy/access.log");
    assert_eq!(shared, independent);
    let envoy_rules = logtally(&[
        "once",
        "--rules",
        "rules/envoy.toml",
        "testdata/envoy/access.log",
    ]);
    assert_eq!(
        samples_starting(&stdout(&envoy_rules), &["envoy_"]),
        shared,
        "same counts as rules/envoy.toml"
    );

    // Counted by hand from the RESPONSE_FLAGS column of the sample's Envoy lines.
    let flags = "\
envoy_http_response_flags_total{response_flags=\"DC\"} 2
envoy_http_response_flags_total{response_flags=\"DPE\"} 1
envoy_http_response_flags_total{response_flags=\"NR\"} 2
envoy_http_response_flags_total{response_flags=\"RL\"} 1
envoy_http_response_flags_total{response_flags=\"UAEX\"} 1
envoy_http_response_flags_total{response_flags=\"UF,URX\"} 1
envoy_http_response_flags_total{response_flags=\"UH\"} 1
envoy_http_response_flags_total{response_flags=\"UO\"} 1
envoy_http_response_flags_total{response_flags=\"UT\"} 1
";
    assert_eq!(
        samples_starting(&text, &["envoy_http_response_flags_total{"]),
        flags
    );
}

#[test]
fn generate_envoy_rejects_unclosed_operator() {
    let output = logtally(&["generate", "envoy", "[%START_TIME%] %RESPONSE_CODE"]);

    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "logtally: cannot generate rules: unclosed `%` at column 16: %RESPONSE_CODE needs a \
         closing `%`\n"
    );
    assert_eq!(stdout(&output), "");
}

#[test]
fn generate_nginx_needs_format() {
    let output = logtally(&["generate", "nginx"]);

    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "logtally: cannot generate rules: nginx needs its log_format string, such as \
         '$remote_addr [$time_local] \"$request\" $status'\n"
    );
}

/// Envoy's default format, as `rules/envoy.toml` documents it.
const ENVOY_DEFAULT: &str = r#"[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%""#;

/// Istio's default text format, as `rules/istio.toml` documents it.
const ISTIO: &str = r#"[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n"#;

/// The format dictionary of `rules/envoy-json.toml`, as a JSON object.
const ENVOY_JSON: &str = r#"{"start_time": "%START_TIME%", "method": "%REQ(:METHOD)%",
  "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%", "protocol": "%PROTOCOL%",
  "response_code": "%RESPONSE_CODE%", "response_flags": "%RESPONSE_FLAGS%",
  "response_code_details": "%RESPONSE_CODE_DETAILS%", "bytes_received": "%BYTES_RECEIVED%",
  "bytes_sent": "%BYTES_SENT%", "duration": "%DURATION%",
  "upstream_service_time": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
  "x_forwarded_for": "%REQ(X-FORWARDED-FOR)%", "user_agent": "%REQ(USER-AGENT)%",
  "request_id": "%REQ(X-REQUEST-ID)%", "authority": "%REQ(:AUTHORITY)%",
  "upstream_host": "%UPSTREAM_HOST%", "upstream_cluster": "%UPSTREAM_CLUSTER%",
  "downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%", "route_name": "%ROUTE_NAME%"}"#;

/// Generates rules for an Envoy format and checks that they give the shipped rule file's
/// exposition and standard error on its sample, which `tests/shipped_rules.rs` checks against
/// counts made by hand.
fn generated_equals_shipped(format: &str, shipped: &str, log: &str) {
    let dir = tempfile::tempdir().unwrap();
    let generated = logtally(&["generate", "envoy", format]);
    assert_eq!(generated.status.code(), Some(0), "{}", stderr(&generated));
    let rules = write_file(dir.path(), "generated.toml", &stdout(&generated));

    let from_generated = logtally(&["once", "--rules", rules.to_str().unwrap(), log]);
    let from_shipped = logtally(&["once", "--rules", shipped, log]);
    assert_eq!(stdout(&from_generated), stdout(&from_shipped));
    assert_eq!(
        stderr(&from_generated).replace(rules.to_str().unwrap(), shipped),
        stderr(&from_shipped)
    );
}

#[test]
fn generated_grpc_equals_shipped() {
    let format = format!("{ENVOY_DEFAULT} %TRAILER(GRPC-STATUS)%");
    generated_equals_shipped(
        &format,
        "rules/envoy-grpc.toml",
        "testdata/envoy-grpc/access.log",
    );
}

#[test]
fn generated_istio_equals_shipped() {
    generated_equals_shipped(ISTIO, "rules/istio.toml", "testdata/istio/access.log");
}

#[test]
fn generated_json_dictionary_equals_shipped() {
    generated_equals_shipped(
        ENVOY_JSON,
        "rules/envoy-json.toml",
        "testdata/envoy-json/access.log",
    );
}
