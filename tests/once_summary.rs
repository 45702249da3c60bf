//! `logtally once --summary`: the table for people, compared with values counted independently
//! of logtally. `testdata/envoy/summary.txt` and `testdata/nginx/json-summary.txt` were written
//! by a separate script from `benches/count_envoy.py`'s counts and from a JSON reading of the
//! nginx sample, with quantiles computed as PromQL's histogram_quantile computes them, and time
//! spans from the samples' timestamps. The small cases are worked by hand.

mod common;

use common::{logtally, root, stderr, stdout, write_file};

fn read_expected(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

#[test]
fn envoy_sample_summary() {
    let output = logtally(&[
        "once",
        "--summary",
        "--rules",
        "rules/envoy.toml",
        "testdata/envoy/access.log",
    ]);

    assert!(output.status.success(), "{}", stderr(&output));
    // The span runs from the first to the last matched Envoy line, 13:55:30.012 to 13:55:32.090.
    assert_eq!(stdout(&output), read_expected("testdata/envoy/summary.txt"));
}

#[test]
fn nginx_json_summary_without_rates() {
    // The JSON rules use no `time` key, so the summary adds it to the fields it reads. Every
    // line of the sample was written in the same second, so there are no rates.
    let output = logtally(&[
        "once",
        "--summary",
        "--rules",
        "rules/nginx-json.toml",
        "testdata/nginx/json.log",
    ]);

    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        read_expected("testdata/nginx/json-summary.txt")
    );
    // The report on standard error is the same as without --summary.
    assert_eq!(
        stderr(&output),
        "logtally: metric nginx_upstream_response_time_seconds: skipped 196 update(s), \
         value empty\n"
    );
}

const RULES: &str = r#"
[parse]
regex = '''^(?P<ts>\S+) (?P<method>\S+) (?P<ms>\d+)$'''

[[metric]]
name = "requests_total"
type = "counter"
help = "Requests."
labels = ["method"]

[[metric]]
name = "errors_total"
type = "counter"
help = "Requests with a method that never occurs."
labels = ["method"]
match = { method = '^TRACE$' }

[[metric]]
name = "last_duration_seconds"
type = "gauge"
help = "Duration of the last request."
value = "ms"
scale = 0.001

[[metric]]
name = "duration_seconds"
type = "histogram"
help = "Durations."
value = "ms"
scale = 0.001
buckets = [0.1, 0.5, 1]
"#;

/// Times in seconds since the epoch, from 1700000000 (2023-11-14T22:13:20Z) to 4 s later, out
/// of order. Durations 0.05, 0.3, 0.7, 0.08 and 2 s: 2 in the bucket up to 0.1, 1 up to 0.5, 1
/// up to 1 and 1 above, sum 3.13. The median's rank 2.5 is half way into (0.1, 0.5], so 0.3.
/// The ranks of p90 and p99, 4.5 and 4.95, are above the 4 observations up to 1, so 1.
const LOG: &str = "\
1700000000 GET 50
1700000001.5 GET 300
1700000004 POST 700
1700000003 G\"ET 80
1700000002 GET 2000
";

fn summary(extra: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);
    let log = write_file(dir.path(), "access.log", LOG);
    let mut args = vec!["once", "--summary", "--rules", rules.to_str().unwrap()];
    args.extend(extra);
    args.push(log.to_str().unwrap());
    logtally(&args)
}

#[test]
fn summary_rates_from_named_field() {
    let output = summary(&["--summary-time-field", "ts"]);

    assert!(output.status.success(), "{}", stderr(&output));
    let expected = concat!(
        "time span: 4 s, from 2023-11-14T22:13:20Z to 2023-11-14T22:13:24Z\n",
        "\n",
        "METRIC                 LABELS            VALUE   SUM  RATE/S  P50  P90  P99\n",
        "duration_seconds                             5  3.13    1.25  0.3    1    1\n",
        "errors_total           (no series)           -     -       -    -    -    -\n",
        "last_duration_seconds                        2     -       -    -    -    -\n",
        "requests_total         {method=\"G\\\"ET\"}      1     -    0.25    -    -    -\n",
        "requests_total         {method=\"GET\"}        3     -    0.75    -    -    -\n",
        "requests_total         {method=\"POST\"}       1     -    0.25    -    -    -\n",
    );
    assert_eq!(stdout(&output), expected);
    assert_eq!(stderr(&output), "");
}

#[test]
fn summary_without_time_field() {
    // `ts` is not one of the default time fields, and only a named field may give epoch
    // seconds.
    let output = summary(&[]);

    assert!(output.status.success(), "{}", stderr(&output));
    let expected = concat!(
        "time span: unknown (no matched line has a timestamp in a field named time, timestamp, ",
        "@timestamp, time_local, time_iso8601 or start_time), so no rates\n",
        "\n",
        "METRIC                 LABELS            VALUE   SUM  P50  P90  P99\n",
        "duration_seconds                             5  3.13  0.3    1    1\n",
        "errors_total           (no series)           -     -    -    -    -\n",
        "last_duration_seconds                        2     -    -    -    -\n",
        "requests_total         {method=\"G\\\"ET\"}      1     -    -    -    -\n",
        "requests_total         {method=\"GET\"}        3     -    -    -    -\n",
        "requests_total         {method=\"POST\"}       1     -    -    -    -\n",
    );
    assert_eq!(stdout(&output), expected);
}

#[test]
fn summary_unknown_time_field_fails() {
    let output = summary(&["--summary-time-field", "time"]);

    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    assert_eq!(
        stderr(&output),
        "logtally: --summary-time-field: no rule file has a field named \"time\". Name one of \
         these fields: method, ms, ts\n"
    );
}

#[test]
fn time_field_requires_summary() {
    let output = logtally(&[
        "once",
        "--summary-time-field",
        "ts",
        "--rules",
        "rules/envoy.toml",
        "testdata/envoy/access.log",
    ]);

    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stdout(&output), "");
    assert!(
        stderr(&output).starts_with(
            "error: the following required arguments were not provided:\n  --summary\n"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn once_help_describes_summary_flags() {
    let output = logtally(&["once", "--help"]);

    assert!(output.status.success());
    let text = stdout(&output);
    for flag in ["--summary ", "--summary-time-field <FIELD>"] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
    assert!(text.contains("histogram_quantile"), "{text}");
}
