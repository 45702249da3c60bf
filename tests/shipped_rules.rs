//! The rule files in `rules/` on their sample logs, compared with values counted independently
//! of logtally: `testdata/*/expected.prom` for the samples, `benches/count_envoy.py`, which
//! splits lines by hand and sums in exact decimals, for a large generated Envoy log, and counts
//! made by hand from the small samples of the other rule files.

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
        "9 rule file(s), 49 metric(s), 9 test(s): ok\n"
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
        "logtally: rules/envoy.toml: 5 of 58 line(s) matched no pattern of the rule file\n\
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

/// Envoy's histogram bounds in rules/envoy.toml and the files that share its metrics.
const ENVOY_BOUNDS: &[&str] = &[
    "0.001", "0.002", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10", "30", "60",
];

/// The histogram bounds of the nginx, Apache and HAProxy rule files.
const WEB_BOUNDS: &[&str] = &[
    "0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
];

/// Returns the sample lines of one family, sorted.
fn family_lines(text: &str, family: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|line| {
            line.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// Checks that a counter family has exactly the given series: the text between the braces
/// (empty for none) and the value.
fn assert_counter(text: &str, family: &str, expected: &[(&str, &str)]) {
    let mut lines: Vec<String> = expected
        .iter()
        .map(|(labels, value)| match labels.is_empty() {
            true => format!("{family} {value}"),
            false => format!("{family}{{{labels}}} {value}"),
        })
        .collect();
    lines.sort();
    assert_eq!(family_lines(text, family), lines, "{family}");
}

/// Converts a decimal such as `0.025` into whole units of 10^-`exponent`.
fn to_units(decimal: &str, exponent: u32) -> i64 {
    let (whole, fraction) = decimal.split_once('.').unwrap_or((decimal, ""));
    let digits = format!("{fraction:0<width$}", width = exponent as usize);
    assert_eq!(digits.len(), exponent as usize, "{decimal} has more digits");
    whole.parse::<i64>().unwrap() * 10_i64.pow(exponent) + digits.parse::<i64>().unwrap_or(0)
}

/// Formats whole units of 10^-`exponent` as the shortest decimal: 5190 ms is `5.19`.
fn from_units(units: i64, exponent: u32) -> String {
    let scale = 10_i64.pow(exponent);
    let fraction = format!("{:0width$}", units % scale, width = exponent as usize);
    let fraction = fraction.trim_end_matches('0');
    match fraction.is_empty() {
        true => (units / scale).to_string(),
        false => format!("{}.{fraction}", units / scale),
    }
}

/// Checks that a histogram family has exactly the given series, each with the buckets, sum and
/// count of its observations, listed in whole units of 10^-`exponent` seconds (3 for
/// milliseconds, 6 for microseconds).
fn assert_histogram(
    text: &str,
    family: &str,
    bounds: &[&str],
    exponent: u32,
    expected: &[(&str, &[i64])],
) {
    let mut lines = Vec::new();
    for (labels, observations) in expected {
        let prefix = match labels.is_empty() {
            true => String::new(),
            false => format!("{labels},"),
        };
        for bound in bounds {
            let limit = to_units(bound, exponent);
            let count = observations.iter().filter(|&&value| value <= limit).count();
            lines.push(format!("{family}_bucket{{{prefix}le=\"{bound}\"}} {count}"));
        }
        let count = observations.len();
        lines.push(format!("{family}_bucket{{{prefix}le=\"+Inf\"}} {count}"));
        let braces = match labels.is_empty() {
            true => String::new(),
            false => format!("{{{labels}}}"),
        };
        let sum = from_units(observations.iter().sum(), exponent);
        lines.push(format!("{family}_sum{braces} {sum}"));
        lines.push(format!("{family}_count{braces} {count}"));
    }
    lines.sort();
    let mut actual: Vec<String> = ["_bucket", "_sum", "_count"]
        .iter()
        .flat_map(|suffix| family_lines(text, &format!("{family}{suffix}")))
        .collect();
    actual.sort();
    assert_eq!(actual, lines, "{family}");
}

/// Runs `once` with one rule file on a sample and returns its output and standard error.
fn once_with_stderr(rules: &str, log: &str) -> (String, String) {
    let output = logtally(&["once", "--rules", rules, log]);
    assert!(output.status.success(), "{}", stderr(&output));
    (stdout(&output), stderr(&output))
}

#[test]
fn envoy_grpc_sample_counts() {
    // Counted by hand from the 17 lines of testdata/envoy-grpc/access.log. The last line is in
    // Envoy's default format, without the gRPC status, and does not match.
    let (text, errors) =
        once_with_stderr("rules/envoy-grpc.toml", "testdata/envoy-grpc/access.log");
    assert_eq!(
        errors,
        "logtally: rules/envoy-grpc.toml: 1 of 17 line(s) matched no pattern of the rule file\n\
         logtally: metric envoy_upstream_service_time_seconds: skipped 4 update(s), value dash\n"
    );
    let checkout = "grpc_service=\"checkout.v1.Checkout\"";
    let health = "grpc_service=\"grpc.health.v1.Health\"";
    assert_counter(
        &text,
        "envoy_grpc_requests_total",
        &[
            (
                &format!("{checkout},grpc_method=\"PlaceOrder\",grpc_status=\"0\""),
                "2",
            ),
            (
                &format!("{checkout},grpc_method=\"PlaceOrder\",grpc_status=\"4\""),
                "1",
            ),
            (
                &format!("{checkout},grpc_method=\"PlaceOrder\",grpc_status=\"13\""),
                "1",
            ),
            (
                &format!("{checkout},grpc_method=\"PlaceOrder\",grpc_status=\"-\""),
                "2",
            ),
            (
                &format!("{checkout},grpc_method=\"GetCart\",grpc_status=\"0\""),
                "2",
            ),
            (
                &format!("{checkout},grpc_method=\"GetCart\",grpc_status=\"5\""),
                "1",
            ),
            (
                &format!("{checkout},grpc_method=\"GetCart\",grpc_status=\"14\""),
                "1",
            ),
            (
                &format!("{checkout},grpc_method=\"WatchOrder\",grpc_status=\"0\""),
                "1",
            ),
            (
                &format!("{checkout},grpc_method=\"WatchOrder\",grpc_status=\"-\""),
                "1",
            ),
            (
                &format!("{health},grpc_method=\"Check\",grpc_status=\"0\""),
                "1",
            ),
        ],
    );
    assert_histogram(
        &text,
        "envoy_grpc_request_duration_seconds",
        ENVOY_BOUNDS,
        3,
        &[
            (
                &format!("{checkout},grpc_method=\"PlaceOrder\""),
                &[25, 41, 5000, 0, 4, 120],
            ),
            (
                &format!("{checkout},grpc_method=\"GetCart\""),
                &[9, 3, 2, 12],
            ),
            (
                &format!("{checkout},grpc_method=\"WatchOrder\""),
                &[61234, 12000],
            ),
            (&format!("{health},grpc_method=\"Check\""), &[1]),
        ],
    );

    let grpc = "authority=\"grpc.example.com\"";
    let probe = "authority=\"10.0.3.10:8080\"";
    assert_counter(
        &text,
        "envoy_http_requests_total",
        &[
            (
                "method=\"POST\",code=\"200\",authority=\"grpc.example.com\"",
                "13",
            ),
            (
                "method=\"POST\",code=\"0\",authority=\"grpc.example.com\"",
                "1",
            ),
            (
                "method=\"GET\",code=\"404\",authority=\"grpc.example.com\"",
                "1",
            ),
            (
                "method=\"GET\",code=\"200\",authority=\"10.0.3.10:8080\"",
                "1",
            ),
        ],
    );
    assert_counter(
        &text,
        "envoy_http_request_bytes_total",
        &[(grpc, "2108"), (probe, "0")],
    );
    assert_counter(
        &text,
        "envoy_http_response_bytes_total",
        &[(grpc, "91616"), (probe, "2")],
    );
    assert_histogram(
        &text,
        "envoy_http_request_duration_seconds",
        ENVOY_BOUNDS,
        3,
        &[
            (
                grpc,
                &[25, 41, 9, 3, 5000, 0, 61234, 12000, 1, 2, 4, 2, 0, 120, 12],
            ),
            (probe, &[0]),
        ],
    );
    assert_histogram(
        &text,
        "envoy_upstream_service_time_seconds",
        ENVOY_BOUNDS,
        3,
        &[
            (grpc, &[23, 40, 8, 2, 5000, 61230, 0, 1, 3, 2, 11]),
            (probe, &[0]),
        ],
    );
    assert_counter(
        &text,
        "envoy_http_response_flags_total",
        &[
            ("response_flags=\"DC\"", "2"),
            ("response_flags=\"NR\"", "1"),
            ("response_flags=\"UH\"", "1"),
        ],
    );
}

#[test]
fn istio_sample_counts() {
    // Counted by hand from the 16 lines of testdata/istio/access.log; the last is cut short
    // and does not match.
    let (text, errors) = once_with_stderr("rules/istio.toml", "testdata/istio/access.log");
    assert_eq!(
        errors,
        "logtally: rules/istio.toml: 1 of 16 line(s) matched no pattern of the rule file\n\
         logtally: metric envoy_upstream_service_time_seconds: skipped 8 update(s), value dash\n"
    );
    let api = "api.default.svc.cluster.local:8080";
    let inventory = "inventory.default.svc.cluster.local:8080";
    let payments = "payments.default.svc.cluster.local:8080";
    let checkout = "checkout.default.svc.cluster.local:50051";
    let probe = "10.244.1.17:15021";
    let requests = |method: &str, code: &str, authority: &str| {
        format!("method=\"{method}\",code=\"{code}\",authority=\"{authority}\"")
    };
    assert_counter(
        &text,
        "envoy_http_requests_total",
        &[
            (&requests("GET", "200", api), "2"),
            (&requests("POST", "201", api), "1"),
            (&requests("POST", "504", api), "1"),
            (&requests("DELETE", "403", api), "1"),
            (&requests("GET", "503", inventory), "2"),
            (&requests("POST", "503", payments), "1"),
            (&requests("GET", "0", "shop.example.com"), "1"),
            (&requests("GET", "200", "shop.example.com"), "1"),
            (&requests("GET", "404", "shop.example.com"), "1"),
            (&requests("-", "0", "-"), "1"),
            (&requests("POST", "200", checkout), "1"),
            (&requests("GET", "200", "api.example.com"), "1"),
            (&requests("GET", "200", probe), "1"),
        ],
    );
    let authority = |name: &str| format!("authority=\"{name}\"");
    assert_counter(
        &text,
        "envoy_http_request_bytes_total",
        &[
            (&authority(api), "2460"),
            (&authority(inventory), "0"),
            (&authority(payments), "184"),
            (&authority("shop.example.com"), "0"),
            (&authority("-"), "1024"),
            (&authority(checkout), "327"),
            (&authority("api.example.com"), "0"),
            (&authority(probe), "0"),
        ],
    );
    assert_counter(
        &text,
        "envoy_http_response_bytes_total",
        &[
            (&authority(api), "3203"),
            (&authority(inventory), "182"),
            (&authority(payments), "19"),
            (&authority("shop.example.com"), "3310"),
            (&authority("-"), "4096"),
            (&authority(checkout), "64"),
            (&authority("api.example.com"), "1532"),
            (&authority(probe), "0"),
        ],
    );
    assert_histogram(
        &text,
        "envoy_http_request_duration_seconds",
        ENVOY_BOUNDS,
        3,
        &[
            (&authority(api), &[12, 9, 100, 15000, 0]),
            (&authority(inventory), &[2, 63]),
            (&authority(payments), &[0]),
            (&authority("shop.example.com"), &[2500, 25, 0]),
            (&authority("-"), &[5012]),
            (&authority(checkout), &[25]),
            (&authority("api.example.com"), &[4]),
            (&authority(probe), &[1]),
        ],
    );
    assert_histogram(
        &text,
        "envoy_upstream_service_time_seconds",
        ENVOY_BOUNDS,
        3,
        &[
            (&authority(api), &[10, 8, 98]),
            (&authority("shop.example.com"), &[24]),
            (&authority(checkout), &[23]),
            (&authority("api.example.com"), &[3]),
            (&authority(probe), &[1]),
        ],
    );
    let cluster = |name: &str, code: &str| format!("upstream_cluster=\"{name}\",code=\"{code}\"");
    let api_cluster = "outbound|8080||api.default.svc.cluster.local";
    assert_counter(
        &text,
        "envoy_upstream_cluster_requests_total",
        &[
            (&cluster(api_cluster, "200"), "3"),
            (&cluster(api_cluster, "201"), "1"),
            (&cluster(api_cluster, "0"), "1"),
            (&cluster(api_cluster, "504"), "1"),
            (&cluster("inbound|8080||", "200"), "1"),
            (&cluster("inbound|8080||", "403"), "1"),
            (
                &cluster("outbound|8080||inventory.default.svc.cluster.local", "503"),
                "2",
            ),
            (
                &cluster("outbound|8080||payments.default.svc.cluster.local", "503"),
                "1",
            ),
            (
                &cluster("outbound|5432||postgres.db.svc.cluster.local", "0"),
                "1",
            ),
            (&cluster("-", "404"), "1"),
            (
                &cluster("outbound|50051||checkout.default.svc.cluster.local", "200"),
                "1",
            ),
            (&cluster("inbound|15021||", "200"), "1"),
        ],
    );
    assert_counter(
        &text,
        "envoy_http_response_flags_total",
        &[
            ("response_flags=\"UF\"", "1"),
            ("response_flags=\"UH\"", "1"),
            ("response_flags=\"DC\"", "1"),
            ("response_flags=\"UT\"", "1"),
            ("response_flags=\"UF,URX\"", "1"),
            ("response_flags=\"NR\"", "1"),
        ],
    );
}

#[test]
fn envoy_json_sample_counts() {
    // Counted by hand from the 13 lines of testdata/envoy-json/access.log; the last is Envoy's
    // own log line, not JSON.
    let (text, errors) =
        once_with_stderr("rules/envoy-json.toml", "testdata/envoy-json/access.log");
    assert_eq!(
        errors,
        "logtally: rules/envoy-json.toml: 1 of 13 line(s) matched no pattern of the rule file\n\
         logtally: metric envoy_upstream_service_time_seconds: skipped 5 update(s), value empty\n"
    );
    let requests = |method: &str, code: &str, authority: &str| {
        format!("method=\"{method}\",code=\"{code}\",authority=\"{authority}\"")
    };
    let api = "api.example.com";
    let www = "www.example.com";
    assert_counter(
        &text,
        "envoy_http_requests_total",
        &[
            (&requests("GET", "200", api), "2"),
            (&requests("POST", "201", api), "1"),
            (&requests("GET", "503", api), "2"),
            (&requests("GET", "0", api), "1"),
            (&requests("POST", "504", api), "1"),
            (&requests("PUT", "200", api), "1"),
            (&requests("GET", "200", www), "1"),
            (&requests("GET", "304", www), "1"),
            (&requests("GET", "404", www), "1"),
            // The health check had no Host header: Envoy wrote null.
            (&requests("GET", "200", ""), "1"),
        ],
    );
    let authority = |name: &str| format!("authority=\"{name}\"");
    assert_counter(
        &text,
        "envoy_http_request_bytes_total",
        &[
            (&authority(api), "207260"),
            (&authority(www), "0"),
            (&authority(""), "0"),
        ],
    );
    assert_counter(
        &text,
        "envoy_http_response_bytes_total",
        &[
            (&authority(api), "5113"),
            (&authority(www), "6120"),
            (&authority(""), "2"),
        ],
    );
    assert_histogram(
        &text,
        "envoy_http_request_duration_seconds",
        ENVOY_BOUNDS,
        3,
        &[
            (&authority(api), &[12, 100, 25, 1000, 0, 2500, 15000, 500]),
            (&authority(www), &[2, 1, 0]),
            (&authority(""), &[0]),
        ],
    );
    assert_histogram(
        &text,
        "envoy_upstream_service_time_seconds",
        ENVOY_BOUNDS,
        3,
        &[
            (&authority(api), &[10, 100, 24, 498]),
            (&authority(www), &[1, 1]),
            (&authority(""), &[0]),
        ],
    );
    let cluster = |name: &str, code: &str| format!("upstream_cluster=\"{name}\",code=\"{code}\"");
    assert_counter(
        &text,
        "envoy_upstream_cluster_requests_total",
        &[
            (&cluster("api", "200"), "4"),
            (&cluster("api", "201"), "1"),
            (&cluster("api", "503"), "2"),
            (&cluster("api", "0"), "1"),
            (&cluster("api", "504"), "1"),
            (&cluster("web", "200"), "1"),
            (&cluster("web", "304"), "1"),
            (&cluster("", "404"), "1"),
        ],
    );
    assert_counter(
        &text,
        "envoy_http_response_flags_total",
        &[
            ("response_flags=\"UF,URX\"", "1"),
            ("response_flags=\"UH\"", "1"),
            ("response_flags=\"DC\"", "1"),
            ("response_flags=\"NR\"", "1"),
            ("response_flags=\"UT\"", "1"),
        ],
    );
}

#[test]
fn apache_sample_counts() {
    // Counted by hand from the 16 lines of testdata/apache/access.log; the last lacks %D and
    // does not match.
    let (text, errors) = once_with_stderr("rules/apache.toml", "testdata/apache/access.log");
    assert_eq!(
        errors,
        "logtally: rules/apache.toml: 1 of 16 line(s) matched no pattern of the rule file\n\
         logtally: metric apache_http_response_bytes_total: skipped 4 update(s), value dash\n"
    );
    let requests = |method: &str, status: &str| format!("method=\"{method}\",status=\"{status}\"");
    assert_counter(
        &text,
        "apache_http_requests_total",
        &[
            (&requests("GET", "200"), "4"),
            (&requests("GET", "301"), "1"),
            (&requests("GET", "304"), "1"),
            (&requests("GET", "401"), "1"),
            (&requests("GET", "404"), "1"),
            (&requests("GET", "502"), "1"),
            (&requests("POST", "200"), "1"),
            (&requests("HEAD", "200"), "1"),
            (&requests("OPTIONS", "200"), "1"),
            (&requests("PROPFIND", "207"), "1"),
            // No request line before the timeout, and a TLS handshake on the HTTP port.
            (&requests("-", "408"), "1"),
            (&requests("", "400"), "1"),
        ],
    );
    // Responses whose %b was `-` (the 304, 408, HEAD and OPTIONS lines) add nothing.
    assert_counter(
        &text,
        "apache_http_response_bytes_total",
        &[
            ("status=\"200\"", "81922"),
            ("status=\"207\"", "1024"),
            ("status=\"301\"", "238"),
            ("status=\"400\"", "226"),
            ("status=\"401\"", "381"),
            ("status=\"404\"", "196"),
            ("status=\"502\"", "341"),
        ],
    );
    assert_histogram(
        &text,
        "apache_http_request_duration_seconds",
        WEB_BOUNDS,
        6,
        &[(
            "",
            &[
                1843, 5210, 412, 733, 98001, 250300, 905, 612, 15007, 20000321, 311, 4402, 120, 97,
                60001244,
            ],
        )],
    );
}

#[test]
fn haproxy_sample_counts() {
    // Counted by hand from the 18 lines of testdata/haproxy/haproxy.log; the first is
    // HAProxy's start message and does not match.
    let (text, errors) = once_with_stderr("rules/haproxy.toml", "testdata/haproxy/haproxy.log");
    assert_eq!(
        errors,
        "logtally: rules/haproxy.toml: 1 of 18 line(s) matched no pattern of the rule file\n"
    );
    let requests = |method: &str, status: &str, backend: &str| {
        format!("method=\"{method}\",status=\"{status}\",backend=\"{backend}\"")
    };
    assert_counter(
        &text,
        "haproxy_http_requests_total",
        &[
            (&requests("GET", "200", "web"), "4"),
            (&requests("POST", "201", "web"), "1"),
            (&requests("GET", "403", "web"), "1"),
            (&requests("GET", "404", "web"), "1"),
            (&requests("GET", "304", "web"), "2"),
            (&requests("GET", "200", "api"), "2"),
            (&requests("GET", "503", "api"), "1"),
            (&requests("POST", "-1", "api"), "1"),
            (&requests("GET", "504", "api"), "1"),
            (&requests("", "408", "www"), "1"),
            (&requests("GET", "200", "stats"), "1"),
            (&requests("GET", "200", "dl"), "1"),
        ],
    );
    let backend = |name: &str| format!("backend=\"{name}\"");
    // The logasap line's `+4096` is a partial count and is left out.
    assert_counter(
        &text,
        "haproxy_http_response_bytes_total",
        &[
            (&backend("web"), "1075636"),
            (&backend("api"), "5056"),
            (&backend("www"), "212"),
            (&backend("stats"), "4412"),
        ],
    );
    assert_counter(
        &text,
        "haproxy_http_retries_total",
        &[
            (&backend("web"), "0"),
            (&backend("api"), "4"),
            (&backend("www"), "0"),
            (&backend("stats"), "0"),
            (&backend("dl"), "0"),
        ],
    );
    assert_counter(
        &text,
        "haproxy_http_terminations_total",
        &[
            ("termination_state=\"--\"", "10"),
            ("termination_state=\"SC\"", "1"),
            ("termination_state=\"cR\"", "1"),
            ("termination_state=\"CD\"", "1"),
            ("termination_state=\"CH\"", "1"),
            ("termination_state=\"PR\"", "1"),
            ("termination_state=\"sH\"", "1"),
            ("termination_state=\"LR\"", "1"),
        ],
    );
    // Timers of -1 and the logasap line's `+15` are not observed.
    assert_histogram(
        &text,
        "haproxy_http_request_duration_seconds",
        WEB_BOUNDS,
        3,
        &[
            (&backend("web"), &[12, 100, 52011, 0, 2059, 3, 10, 2, 1]),
            (&backend("api"), &[25, 3012, 1025, 1520, 30001]),
            (&backend("www"), &[5001]),
            (&backend("stats"), &[0]),
        ],
    );
    assert_histogram(
        &text,
        "haproxy_http_request_header_time_seconds",
        WEB_BOUNDS,
        3,
        &[
            (&backend("web"), &[0, 1, 0, 0, 0, 0, 0, 0, 0]),
            (&backend("api"), &[0, 0, 0, 0, 0]),
            (&backend("stats"), &[0]),
            (&backend("dl"), &[0]),
        ],
    );
    assert_histogram(
        &text,
        "haproxy_http_queue_time_seconds",
        WEB_BOUNDS,
        3,
        &[
            (&backend("web"), &[0, 0, 0, 2013, 0, 0, 0, 0]),
            (&backend("api"), &[0, 0, 0, 0, 0]),
            (&backend("dl"), &[0]),
        ],
    );
    assert_histogram(
        &text,
        "haproxy_http_connect_time_seconds",
        WEB_BOUNDS,
        3,
        &[
            (&backend("web"), &[1, 0, 1, 1, 0, 0, 1, 0]),
            (&backend("api"), &[0, 1003, 0, 1]),
            (&backend("dl"), &[1]),
        ],
    );
    assert_histogram(
        &text,
        "haproxy_http_response_header_time_seconds",
        WEB_BOUNDS,
        3,
        &[
            (&backend("web"), &[11, 98, 4, 45, 2, 9, 1, 1]),
            (&backend("api"), &[24, 20]),
            (&backend("dl"), &[3]),
        ],
    );
}

/// Returns the `did not match` lines that `once --rules rules` writes for a sample, one per rule file
/// that rejected some of its lines.
fn unmatched_report(log: &str) -> String {
    let output = logtally(&["once", "--rules", "rules", log]);
    assert!(output.status.success(), "{}", stderr(&output));
    stderr(&output)
        .lines()
        .filter(|line| line.contains("matched no pattern"))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// A sample log, its number of lines, and the rule files that match some of them with the
/// number they match.
type Sample<'a> = (&'a str, usize, &'a [(&'a str, usize)]);

#[test]
fn rule_files_read_only_their_samples() {
    // Every shipped rule file is loaded together, as the container image does. Each sample is
    // read by its own rule file only, except for the lines of other formats that a sample
    // contains on purpose (listed per sample as file and matched lines).
    let files = [
        "apache",
        "envoy-grpc",
        "envoy-json",
        "envoy",
        "haproxy",
        "istio",
        "nginx-json",
        "nginx-timed",
        "nginx",
    ];
    let samples: [Sample; 7] = [
        (
            "testdata/envoy/access.log",
            58,
            &[("envoy", 53), ("istio", 1), ("nginx", 1)],
        ),
        (
            "testdata/envoy-grpc/access.log",
            17,
            &[("envoy-grpc", 16), ("envoy", 1)],
        ),
        ("testdata/istio/access.log", 16, &[("istio", 15)]),
        (
            "testdata/envoy-json/access.log",
            13,
            &[("envoy-json", 12), ("nginx-json", 12)],
        ),
        (
            "testdata/apache/access.log",
            16,
            &[("apache", 15), ("nginx", 1)],
        ),
        ("testdata/haproxy/haproxy.log", 18, &[("haproxy", 17)]),
        ("testdata/nginx/access.log", 600, &[("nginx", 600)]),
    ];
    for (log, lines, matched) in samples {
        let expected: String = files
            .iter()
            .filter_map(|file| {
                let hits = matched
                    .iter()
                    .find(|(name, _)| name == file)
                    .map_or(0, |(_, hits)| *hits);
                (hits < lines).then(|| {
                    format!(
                        "logtally: rules/{file}.toml: {} of {lines} line(s) matched no pattern \
                         of the rule file\n",
                        lines - hits
                    )
                })
            })
            .collect();
        assert_eq!(unmatched_report(log), expected, "{log}");
    }
}

#[test]
fn json_rule_files_ignore_each_others_lines() {
    // Any JSON object parses for both JSON rule files. Their metrics require a key the other
    // proxy does not write, so an Envoy JSON line updates no nginx series.
    let text = once_samples("rules", "testdata/envoy-json/access.log");
    assert!(family_lines(&text, "nginx_http_requests_total").is_empty());
    assert!(family_lines(&text, "nginx_http_response_bytes_total").is_empty());
    assert!(
        text.contains("\nnginx_http_request_duration_seconds_count 0\n"),
        "{text}"
    );
    let text = once_samples("rules", "testdata/nginx/json.log");
    assert!(family_lines(&text, "envoy_http_requests_total").is_empty());
    assert!(family_lines(&text, "envoy_upstream_cluster_requests_total").is_empty());
}

#[test]
fn library_expositions_pass_promtool() {
    let Some(promtool) = common::require_program("promtool") else {
        return;
    };
    let library = [
        ("rules/envoy-grpc.toml", "testdata/envoy-grpc/access.log"),
        ("rules/istio.toml", "testdata/istio/access.log"),
        ("rules/envoy-json.toml", "testdata/envoy-json/access.log"),
        ("rules/apache.toml", "testdata/apache/access.log"),
        ("rules/haproxy.toml", "testdata/haproxy/haproxy.log"),
    ];
    for (rules, log) in library {
        let output = logtally(&["once", "--rules", rules, log]);
        let checked = common::promtool_check_metrics(&promtool, &output.stdout);
        assert!(
            checked.status.success(),
            "{rules}: {}{}",
            stdout(&checked),
            stderr(&checked)
        );
    }
}
