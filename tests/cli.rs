//! The command-line contract: `once`, `check`, `--help` and `--version`, run as a user would.

mod common;

use common::{logtally, stderr, stdout, write_file};

const RULES: &str = r#"
[parse]
regex = '''^(?P<method>\S+) (?P<code>\d{3}) (?P<bytes>\d+|-) (?P<duration_ms>\d+)$'''

[[metric]]
name = "http_requests_total"
type = "counter"
help = "Requests seen in the access log."
labels = ["method", "code"]

[[metric]]
name = "http_response_bytes_total"
type = "counter"
help = "Response body bytes."
value = "bytes"

[[metric]]
name = "http_request_duration_seconds"
type = "histogram"
help = "Time from the first request byte to the last response byte."
value = "duration_ms"
scale = 0.001
buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.7, 1, 2.5, 5, 10]
labels = ["method"]
"#;

const LOG: &str = "GET 200 512 3\nGET 200 100 700\nPOST 201 - 0\nGET 404 0 2500\nnot a request\n";

#[test]
fn once_prints_exact_exposition() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);
    let log = write_file(dir.path(), "access.log", LOG);

    let output = logtally(&[
        "once",
        "--rules",
        rules.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);

    assert!(output.status.success(), "{}", stderr(&output));
    let expected = "\
# HELP http_request_duration_seconds Time from the first request byte to the last response byte.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{method=\"GET\",le=\"0.005\"} 1
http_request_duration_seconds_bucket{method=\"GET\",le=\"0.01\"} 1
http_request_duration_seconds_bucket{method=\"GET\",le=\"0.025\"} 1
http_request_duration_seconds_bucket{method=\"GET\",le=\"0.05\"} 1
http_request_duration_seconds_bucket{method=\"GET\",le=\"0.1\"} 1
http_request_duration_seconds_bucket{method=\"GET\",le=\"0.25\"} 1
http_request_duration_seconds_bucket{method=\"GET\",le=\"0.5\"} 1
http_request_duration_seconds_bucket{method=\"GET\",le=\"0.7\"} 2
http_request_duration_seconds_bucket{method=\"GET\",le=\"1\"} 2
http_request_duration_seconds_bucket{method=\"GET\",le=\"2.5\"} 3
http_request_duration_seconds_bucket{method=\"GET\",le=\"5\"} 3
http_request_duration_seconds_bucket{method=\"GET\",le=\"10\"} 3
http_request_duration_seconds_bucket{method=\"GET\",le=\"+Inf\"} 3
http_request_duration_seconds_sum{method=\"GET\"} 3.203
http_request_duration_seconds_count{method=\"GET\"} 3
http_request_duration_seconds_bucket{method=\"POST\",le=\"0.005\"} 1
http_request_duration_seconds_bucket{method=\"POST\",le=\"0.01\"} 1
http_request_duration_seconds_bucket{method=\"POST\",le=\"0.025\"} 1
http_request_duration_seconds_bucket{method=\"POST\",le=\"0.05\"} 1
http_request_duration_seconds_bucket{method=\"POST\",le=\"0.1\"} 1
http_request_duration_seconds_bucket{method=\"POST\",le=\"0.25\"} 1
http_request_duration_seconds_bucket{method=\"POST\",le=\"0.5\"} 1
http_request_duration_seconds_bucket{method=\"POST\",le=\"0.7\"} 1
http_request_duration_seconds_bucket{method=\"POST\",le=\"1\"} 1
http_request_duration_seconds_bucket{method=\"POST\",le=\"2.5\"} 1
http_request_duration_seconds_bucket{method=\"POST\",le=\"5\"} 1
http_request_duration_seconds_bucket{method=\"POST\",le=\"10\"} 1
http_request_duration_seconds_bucket{method=\"POST\",le=\"+Inf\"} 1
http_request_duration_seconds_sum{method=\"POST\"} 0
http_request_duration_seconds_count{method=\"POST\"} 1
# HELP http_requests_total Requests seen in the access log.
# TYPE http_requests_total counter
http_requests_total{method=\"GET\",code=\"200\"} 2
http_requests_total{method=\"GET\",code=\"404\"} 1
http_requests_total{method=\"POST\",code=\"201\"} 1
# HELP http_response_bytes_total Response body bytes.
# TYPE http_response_bytes_total counter
http_response_bytes_total 612
";
    assert_eq!(stdout(&output), expected);
}

#[test]
fn once_reports_unmatched_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);
    let log = write_file(dir.path(), "access.log", LOG);

    let output = logtally(&[
        "once",
        "--rules",
        rules.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);

    let expected = format!(
        "logtally: {}: 1 of 5 line(s) matched no pattern of the rule file\n\
         logtally: metric http_response_bytes_total: skipped 1 update(s), value dash\n",
        rules.display()
    );
    assert_eq!(stderr(&output), expected);
}

#[test]
fn once_reads_several_files_and_final_line() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);
    let first = write_file(dir.path(), "a.log", "GET 200 1 1\n");
    let second = write_file(dir.path(), "b.log", "GET 200 1 1\r\nGET 200 1 1");

    let output = logtally(&[
        "once",
        "--rules",
        rules.to_str().unwrap(),
        first.to_str().unwrap(),
        second.to_str().unwrap(),
    ]);

    assert!(output.status.success());
    let text = stdout(&output);
    assert_eq!(
        common::value(&text, "http_requests_total{method=\"GET\",code=\"200\"}"),
        "3"
    );
    assert_eq!(common::value(&text, "http_response_bytes_total"), "3");
}

#[test]
fn once_missing_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);
    let missing = dir.path().join("missing.log");

    let output = logtally(&[
        "once",
        "--rules",
        rules.to_str().unwrap(),
        missing.to_str().unwrap(),
    ]);

    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!(
            "logtally: failed to read {}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
}

#[test]
fn once_accepts_rules_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    write_file(&dir.path().join("rules"), "a.toml", RULES);
    write_file(&dir.path().join("rules"), "notes.txt", "not a rule file");
    let log = write_file(dir.path(), "access.log", "PUT 204 0 1\n");
    let rules = dir.path().join("rules");

    let output = logtally(&[
        "once",
        "--rules",
        rules.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);

    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert_eq!(
        common::value(&text, "http_requests_total{method=\"PUT\",code=\"204\"}"),
        "1"
    );
}

#[test]
fn check_accepts_valid_rules() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);

    let output = logtally(&["check", rules.to_str().unwrap()]);

    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "1 rule file(s), 3 metric(s), 0 test(s): ok\n"
    );
}

/// Each case: rule file text, then the exact error lines `check` must print.
const BAD_RULES: &[(&str, &str, &str)] = &[
    (
        "invalid_toml",
        "[parse\nregex = 'x'\n",
        "FILE:1:7: unclosed table, expected `]`",
    ),
    (
        "regex_error",
        "[parse]\nregex = '^(?P<a>x'\n[[metric]]\nname = \"a_total\"\ntype = \"counter\"\nhelp = \"h\"\n",
        "FILE:2:11: invalid regex: unclosed group",
    ),
    (
        "unknown_key",
        "[parse]\nregex = 'x'\n[[metric]]\nname = \"a_total\"\ntype = \"counter\"\nhelp = \"h\"\ncolour = 1\n",
        "FILE:7:1: unknown field `colour`, expected one of `name`, `type`, `help`, `labels`, `value`, `scale`, `list`, `buckets`, `max_series`, `expire`, `match`, `unless`, `regex`, `native`, `initial`",
    ),
    (
        "missing_help",
        "[parse]\nregex = 'x'\n[[metric]]\nname = \"a_total\"\ntype = \"counter\"\n",
        "FILE:3:1: missing field `help` in this table",
    ),
    (
        "counter_without_total",
        "[parse]\nregex = 'x'\n[[metric]]\nname = \"requests\"\ntype = \"counter\"\nhelp = \"h\"\n",
        "FILE:4:8: counter name \"requests\" must end in \"_total\" (for example \"requests_total\")",
    ),
    (
        "process_metric_name",
        "[parse]\nregex = 'x'\n[[metric]]\nname = \"process_cpu_seconds_total\"\ntype = \"counter\"\nhelp = \"h\"\n",
        "FILE:4:8: metric name \"process_cpu_seconds_total\" starts with \"process_\", which is reserved for logtally's own metrics; choose another prefix",
    ),
    (
        "invalid_metric_name",
        "[parse]\nregex = 'x'\n[[metric]]\nname = \"http-requests_total\"\ntype = \"counter\"\nhelp = \"h\"\n",
        "FILE:4:8: invalid metric name \"http-requests_total\": use letters, digits and underscores, not starting with a digit",
    ),
    (
        "invalid_label_name",
        "[parse]\nregex = '(?P<code>x)'\n[[metric]]\nname = \"a_total\"\ntype = \"counter\"\nhelp = \"h\"\nlabels = [{ \"status-code\" = \"code\" }]\n",
        "FILE:7:13: invalid label name \"status-code\": use letters, digits and underscores, not starting with a digit",
    ),
    (
        "duplicate_metric",
        "[parse]\nregex = 'x'\n[[metric]]\nname = \"a_total\"\ntype = \"counter\"\nhelp = \"h\"\n[[metric]]\nname = \"a_total\"\ntype = \"counter\"\nhelp = \"h\"\n",
        "FILE:8:8: metric \"a_total\" is already defined in this file at FILE:4:8",
    ),
    (
        "unknown_label_field",
        "[parse]\nregex = '(?P<method>\\S+) (?P<code>\\d+)'\n[[metric]]\nname = \"a_total\"\ntype = \"counter\"\nhelp = \"h\"\nlabels = [\"metod\"]\n",
        "FILE:7:11: field \"metod\" is not a named group of the [parse] regex; did you mean \"method\"?",
    ),
    (
        "unknown_value_field",
        "[parse]\nregex = '(?P<method>\\S+) (?P<code>\\d+)'\n[[metric]]\nname = \"a_bytes_total\"\ntype = \"counter\"\nhelp = \"h\"\nvalue = \"bytes\"\n",
        "FILE:7:9: field \"bytes\" is not a named group of the [parse] regex; the fields are code, method",
    ),
    (
        "unsorted_buckets",
        "[parse]\nregex = '(?P<ms>\\d+)'\n[[metric]]\nname = \"a_seconds\"\ntype = \"histogram\"\nhelp = \"h\"\nvalue = \"ms\"\nbuckets = [0.1, 0.05]\n",
        "FILE:8:17: bucket bounds must increase: 0.05 follows 0.1; sort them and remove duplicates",
    ),
    (
        "nan_bucket",
        "[parse]\nregex = '(?P<ms>\\d+)'\n[[metric]]\nname = \"a_seconds\"\ntype = \"histogram\"\nhelp = \"h\"\nvalue = \"ms\"\nbuckets = [0.1, nan]\n",
        "FILE:8:17: invalid bucket bound NaN: use a finite number",
    ),
    (
        "infinite_bucket",
        "[parse]\nregex = '(?P<ms>\\d+)'\n[[metric]]\nname = \"a_seconds\"\ntype = \"histogram\"\nhelp = \"h\"\nvalue = \"ms\"\nbuckets = [0.1, inf]\n",
        "FILE:8:17: invalid bucket bound +Inf: the +Inf bucket is always added",
    ),
    (
        "max_series_beyond_64_bits",
        "[parse]\nregex = 'x'\n[[metric]]\nname = \"a_total\"\ntype = \"counter\"\nhelp = \"h\"\nmax_series = 99999999999999999999\n",
        "FILE:7:14: integer 99999999999999999999 is too large; the largest is 9223372036854775807",
    ),
    (
        "empty_buckets",
        "[parse]\nregex = '(?P<ms>\\d+)'\n[[metric]]\nname = \"a_seconds\"\ntype = \"histogram\"\nhelp = \"h\"\nvalue = \"ms\"\nbuckets = []\n",
        "FILE:8:11: `buckets` is empty; list at least one upper bound",
    ),
    (
        "number_as_string",
        "[parse]\nregex = '(?P<v>\\d+)'\n[[metric]]\nname = \"a_seconds\"\ntype = \"gauge\"\nhelp = \"h\"\nvalue = \"v\"\nscale = \"0.001\"\n",
        "FILE:8:9: invalid type: string \"0.001\", expected a number",
    ),
    (
        "empty_help",
        "[parse]\nregex = 'x'\n[[metric]]\nname = \"a_total\"\ntype = \"counter\"\nhelp = \"\"\n",
        "FILE:6:8: `help` is empty; describe what the metric counts, as Prometheus shows it",
    ),
    (
        "empty_parse_array",
        "parse = []\n[[metric]]\nname = \"a_total\"\ntype = \"counter\"\nhelp = \"h\"\n",
        "FILE:1:1: `parse` is an empty array; give at least one [[parse]] table",
    ),
    (
        "second_pattern_invalid",
        "[[parse]]\nregex = 'x'\n[[parse]]\nregex = '(y'\n[[metric]]\nname = \"a_total\"\ntype = \"counter\"\nhelp = \"h\"\n",
        "FILE:4:10: invalid regex: unclosed group",
    ),
    (
        "unknown_format",
        "[parse]\nformat = \"yaml\"\n[[metric]]\nname = \"a_total\"\ntype = \"counter\"\nhelp = \"h\"\n",
        "FILE:2:10: unknown format \"yaml\"; expected \"regex\", \"json\" or \"logfmt\"",
    ),
    (
        "json_with_regex",
        "[parse]\nformat = \"json\"\nregex = 'x'\n[[metric]]\nname = \"a_total\"\ntype = \"counter\"\nhelp = \"h\"\n",
        "FILE:3:9: `regex` does not apply to format \"json\"; remove it or use format \"regex\"",
    ),
    (
        "filter_unknown_field",
        "[parse]\nregex = '(?P<code>\\d+)'\n[[metric]]\nname = \"a_total\"\ntype = \"counter\"\nhelp = \"h\"\nmatch = { cod = '^5' }\n",
        "FILE:7:9: field \"cod\" is not a named group of the [parse] regex; did you mean \"code\"?",
    ),
    (
        "no_metrics",
        "[parse]\nregex = 'x'\n",
        "FILE:1:1: the file has no [[metric]] tables, so it would count nothing",
    ),
    (
        "unknown_type",
        "[parse]\nregex = 'x'\n[[metric]]\nname = \"a_total\"\ntype = \"summary\"\nhelp = \"h\"\n",
        "FILE:5:8: unknown metric type \"summary\"; expected \"counter\", \"gauge\" or \"histogram\"",
    ),
];

#[test]
fn check_reports_each_error_kind() {
    let dir = tempfile::tempdir().unwrap();
    for (name, source, expected) in BAD_RULES {
        let path = write_file(dir.path(), &format!("{name}.toml"), source);
        let output = logtally(&["check", path.to_str().unwrap()]);

        assert_eq!(output.status.code(), Some(1), "{name}");
        let expected = expected.replace("FILE", path.to_str().unwrap());
        assert_eq!(stderr(&output), format!("{expected}\n"), "{name}");
    }
}

#[test]
fn check_reports_errors_of_all_files() {
    let dir = tempfile::tempdir().unwrap();
    let first = write_file(dir.path(), "a.toml", BAD_RULES[0].1);
    let second = write_file(dir.path(), "b.toml", BAD_RULES[1].1);

    let output = logtally(&["check", first.to_str().unwrap(), second.to_str().unwrap()]);

    assert_eq!(output.status.code(), Some(1));
    let lines: Vec<String> = stderr(&output).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("{}:1:7: ", first.display())),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(&format!("{}:2:11: ", second.display())),
        "{}",
        lines[1]
    );
}

#[test]
fn check_rejects_clashing_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let counter = "[parse]\nregex = '(?P<v>\\d+)'\n[[metric]]\nname = \"shared_total\"\ntype = \"counter\"\nhelp = \"h\"\n";
    let other = "[parse]\nregex = '(?P<v>\\d+)'\n[[metric]]\nname = \"shared_total\"\ntype = \"counter\"\nhelp = \"h\"\nlabels = [\"v\"]\n";
    let first = write_file(dir.path(), "a.toml", counter);
    let second = write_file(dir.path(), "b.toml", other);
    let same = write_file(dir.path(), "c.toml", counter);

    let clash = logtally(&["check", first.to_str().unwrap(), second.to_str().unwrap()]);
    let shared = logtally(&["check", first.to_str().unwrap(), same.to_str().unwrap()]);

    assert_eq!(clash.status.code(), Some(1));
    assert_eq!(
        stderr(&clash),
        format!(
            "{}:4:8: metric \"shared_total\" is also defined at {}:4:8 with a different label \
             list; one metric name needs one definition\n",
            second.display(),
            first.display()
        )
    );
    assert_eq!(shared.status.code(), Some(0), "{}", stderr(&shared));
}

#[test]
fn check_missing_file_fails() {
    let output = logtally(&["check", "/nonexistent/rules.toml"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "/nonexistent/rules.toml: failed to read: No such file or directory (os error 2)\n"
    );
}

#[test]
fn help_lists_each_command() {
    let output = logtally(&["--help"]);
    let text = stdout(&output);
    assert!(output.status.success());
    for command in ["run", "once", "check"] {
        assert!(
            text.contains(&format!("  {command} ")),
            "{command} missing from:\n{text}"
        );
    }
}

#[test]
fn run_help_lists_contract_flags() {
    let output = logtally(&["run", "--help"]);
    let text = stdout(&output);
    assert!(output.status.success());
    for flag in [
        "--rules <PATH>",
        "--logs <GLOB>",
        "--web.listen-address <HOST:PORT>",
        "--web.telemetry-path <PATH>",
        "--positions <FILE>",
        "--from-start",
    ] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
    assert!(text.contains("[default: :3904]"), "{text}");
    assert!(text.contains("[default: /metrics]"), "{text}");
}

#[test]
fn subcommand_help_works() {
    for command in ["once", "check"] {
        let output = logtally(&[command, "--help"]);
        assert!(output.status.success(), "{command}");
        let text = stdout(&output);
        assert!(
            text.contains(&format!("Usage: logtally {command} ")),
            "{text}"
        );
    }
}

#[test]
fn version_prints_package_version() {
    let output = logtally(&["--version"]);
    assert!(output.status.success());
    assert_eq!(
        stdout(&output),
        format!("logtally {}\n", env!("CARGO_PKG_VERSION"))
    );
}

const TESTED_RULES: &str = r#"
[parse]
regex = '''^(?P<method>\S+) (?P<code>\d{3})$'''

[[metric]]
name = "http_requests_total"
type = "counter"
help = "Requests."
labels = ["method", "code"]

[[test]]
name = "counts by method and code"
input = """
GET 200
GET 200
POST 500
"""
expect = [
  'http_requests_total{code="200",method="GET"} 2',
  'http_requests_total{method="POST",code="500"} 1.0',
]
"#;

#[test]
fn check_runs_rule_tests() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", TESTED_RULES);

    let output = logtally(&["check", rules.to_str().unwrap()]);

    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "1 rule file(s), 1 metric(s), 1 test(s): ok\n"
    );
}

#[test]
fn check_reports_failed_rule_test() {
    let dir = tempfile::tempdir().unwrap();
    let failing = TESTED_RULES.replace(
        "expect = [\n  'http_requests_total{code=\"200\",method=\"GET\"} 2',\n  'http_requests_total{method=\"POST\",code=\"500\"} 1.0',\n]",
        "expect = [\n  'http_requests_total{code=\"200\",method=\"GET\"} 3',\n  'http_requests_total{method=\"PUT\",code=\"500\"} 1',\n]\nall = true",
    );
    assert_ne!(failing, TESTED_RULES);
    let rules = write_file(dir.path(), "rules.toml", &failing);

    let output = logtally(&["check", rules.to_str().unwrap()]);

    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!(
            "{}:11:1: test \"counts by method and code\" failed:\n\
             \x20 http_requests_total{{code=\"200\",method=\"GET\"}}: expected 3, got 2\n\
             \x20 http_requests_total{{code=\"500\",method=\"PUT\"}}: expected 1, but there is no such sample\n\
             \x20 http_requests_total{{code=\"500\",method=\"POST\"}}: not expected, got 1\n\
             1 of 1 test(s) failed\n",
            rules.display()
        )
    );
}

#[test]
fn check_rejects_bad_expected_sample() {
    let dir = tempfile::tempdir().unwrap();
    let broken = TESTED_RULES.replace("} 2'", "} two'");
    let rules = write_file(dir.path(), "rules.toml", &broken);

    let output = logtally(&["check", rules.to_str().unwrap()]);

    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!(
            "{}:19:3: invalid expected sample: the value \"two\" is not a number\n",
            rules.display()
        )
    );
}

#[test]
fn once_files_merge_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(
        dir.path(),
        "rules.toml",
        "[parse]\nregex = '^(?P<v>\\d+)$'\n\n[[metric]]\nname = \"lines_total\"\ntype = \"counter\"\nhelp = \"Lines.\"\n\n[[metric]]\nname = \"last_value\"\ntype = \"gauge\"\nhelp = \"Last value.\"\nvalue = \"v\"\n",
    );
    let files: Vec<String> = (0..5)
        .map(|index| {
            let body: String = (0..=index)
                .map(|value| format!("{}\n", index * 10 + value))
                .collect();
            write_file(dir.path(), &format!("{index}.log"), &body)
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let mut args = vec!["once", "--rules", rules.to_str().unwrap()];
    args.extend(files.iter().map(String::as_str));

    let output = logtally(&args);

    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    // 1 + 2 + 3 + 4 + 5 lines; the gauge keeps the last line of the last file, 44.
    assert_eq!(common::value(&text, "lines_total"), "15");
    assert_eq!(common::value(&text, "last_value"), "44");
}

#[test]
fn explain_shows_updates_and_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", TESTED_RULES);

    let matched = logtally(&["explain", "--rules", rules.to_str().unwrap(), "GET 200"]);
    let failed = logtally(&["explain", "--rules", rules.to_str().unwrap(), "GET 2000"]);

    assert!(matched.status.success(), "{}", stderr(&matched));
    assert_eq!(
        stdout(&matched),
        format!(
            "\
line 1: GET 200
  {}:
    matched by pattern 1 (walked); fields:
      method = \"GET\"
      code = \"200\"
    updates:
      http_requests_total{{method=\"GET\",code=\"200\"}} 1
",
            rules.display()
        )
    );
    assert_eq!(
        stdout(&failed),
        format!(
            "line 1: GET 2000\n  {}:\n    no pattern matched\n    pattern 1: matched 7 bytes (\"GET 200\"), then expected `$`\n",
            rules.display()
        )
    );
}

const DERIVED_RULES: &str = r#"
[[parse]]
regex = '''^(?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3})$'''

[[parse]]
regex = '''^(?P<status>\d{3})$'''

[[derive]]
name = "class"
from = "status"
status_class = true

[[derive]]
name = "method"
from = "method"
lowercase = true

[[metric]]
name = "requests_total"
type = "counter"
help = "Requests."
labels = ["method", "class"]
"#;

#[test]
fn explain_lists_parsed_and_derived_fields() {
    use std::io::Write;

    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", DERIVED_RULES);
    let mut child = std::process::Command::new(common::binary())
        .args(["explain", "--rules", rules.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"GET /a?b=1 404\n503\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();

    assert!(output.status.success(), "{}", stderr(&output));
    // The second line comes from the pattern without method and path: path has no value,
    // and the method derived from the missing method is empty.
    let expected = format!(
        "\
line 1: GET /a?b=1 404
  {rules}:
    matched by pattern 1 (walked); fields:
      method = \"get\" (derived from method)
      path = \"/a?b=1\"
      status = \"404\"
      class = \"4xx\" (derived from status)
    updates:
      requests_total{{method=\"get\",class=\"4xx\"}} 1
line 2: 503
  {rules}:
    matched by pattern 2 (walked); fields:
      method = \"\" (derived from method)
      path = (no value)
      status = \"503\"
      class = \"5xx\" (derived from status)
    updates:
      requests_total{{method=\"\",class=\"5xx\"}} 1
",
        rules = rules.display()
    );
    assert_eq!(stdout(&output), expected);
}

#[test]
fn explain_lists_used_json_fields() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(
        dir.path(),
        "rules.toml",
        "[parse]\nformat = \"json\"\n\n[[metric]]\nname = \"response_bytes_total\"\n\
         type = \"counter\"\nhelp = \"Bytes.\"\nvalue = \"bytes\"\nlabels = [\"method\"]\n",
    );
    // The fields of a JSON line are the keys the rules name, in the order they first do.
    let line = r#"{"method":"G\"ET","bytes":null,"uri":"/"}"#;

    let output = logtally(&["explain", "--rules", rules.to_str().unwrap(), line]);

    assert!(output.status.success(), "{}", stderr(&output));
    let expected = format!(
        "\
line 1: {line}
  {rules}:
    matched by pattern 1 (JSON); fields:
      method = \"G\\\"ET\"
      bytes = (no value)
    updates:
      response_bytes_total: no update, value empty
",
        rules = rules.display()
    );
    assert_eq!(stdout(&output), expected);
}

#[test]
fn completions_and_man_page_cover_commands() {
    let bash = logtally(&["completions", "bash"]);
    assert!(bash.status.success());
    let script = stdout(&bash);
    assert!(script.starts_with("_logtally() {"), "{script}");
    let man = logtally(&["man"]);
    assert!(man.status.success());
    let page = stdout(&man);
    assert!(page.contains(".TH logtally 1"), "{page}");
    for command in ["run", "once", "check", "explain", "generate", "probe"] {
        assert!(
            script.contains(&format!("cmd=\"logtally__subcmd__{command}\"")),
            "{command} missing from completions"
        );
        assert!(
            page.contains(&format!("logtally\\-{command}(1)")),
            "{command} missing from the man page"
        );
    }
}

#[test]
fn once_reads_stdin_and_gzip() {
    use std::io::Write;

    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);
    let gzip_path = dir.path().join("old.log.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(b"GET 200 1 1\nGET 200 1 1\n").unwrap();
    std::fs::write(&gzip_path, encoder.finish().unwrap()).unwrap();

    let mut child = std::process::Command::new(common::binary())
        .args([
            "once",
            "--rules",
            rules.to_str().unwrap(),
            "-",
            gzip_path.to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"GET 200 1 1\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();

    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert_eq!(
        common::value(&text, "http_requests_total{method=\"GET\",code=\"200\"}"),
        "3"
    );
}

#[test]
fn once_notes_that_files_do_not_select() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    for proxy in ["front", "egress"] {
        write_file(
            &rules,
            &format!("{proxy}.toml"),
            &format!(
                "files = [\"/logs/{proxy}/*.log\"]\nconst_labels = {{ proxy = \"{proxy}\" }}\n\
                 [parse]\nregex = '^(?P<status>\\d{{3}})$'\n[[metric]]\n\
                 name = \"responses_total\"\ntype = \"counter\"\nhelp = \"h\"\n\
                 labels = [\"status\"]\n"
            ),
        );
    }
    let log = write_file(dir.path(), "access.log", "200\n");
    let output = logtally(&[
        "once",
        "--rules",
        rules.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stderr(&output),
        "logtally: note: once applies every rule file to every input and does not select them \
         by `files`; give it only the rule files for these logs\n"
    );
    assert!(stdout(&output).contains("responses_total{status=\"200\",proxy=\"egress\"} 1\n"));
    assert!(stdout(&output).contains("responses_total{status=\"200\",proxy=\"front\"} 1\n"));
}

/// Runs `explain` on one line with a rule file written from `rules`, and returns its output
/// with the rule file's path replaced by `RULES`.
fn explain_with(rules: &str, line: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "rules.toml", rules);
    let output = logtally(&["explain", "--rules", path.to_str().unwrap(), line]);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output).replace(&path.display().to_string(), "RULES")
}

#[test]
fn explain_names_regex_engine_patterns() {
    // A lazy field may run past the space after it, so this regex is not walked.
    let rules = "[parse]\nregex = '^(?P<method>.*?) (?P<status>\\d{3})$'\n\
                 [[metric]]\nname = \"requests_total\"\ntype = \"counter\"\nhelp = \"h\"\n";

    assert_eq!(
        explain_with(rules, "GET 200"),
        "line 1: GET 200\n  RULES:\n    matched by pattern 1 (regex engine); fields:\n      \
         method = \"GET\"\n      status = \"200\"\n    updates:\n      requests_total 1\n"
    );
}

#[test]
fn explain_names_blocking_filter() {
    let rules = "[parse]\nregex = '^(?P<method>\\S+) (?P<status>\\d{3})$'\n\
                 [[metric]]\nname = \"errors_total\"\ntype = \"counter\"\nhelp = \"h\"\n\
                 labels = [\"status\"]\nmatch = { status = '^5' }\n\
                 [[metric]]\nname = \"reads_total\"\ntype = \"counter\"\nhelp = \"h\"\n\
                 unless = { method = '^(POST|PUT)$' }\n";

    assert_eq!(
        explain_with(rules, "POST 200"),
        "line 1: POST 200\n  RULES:\n    matched by pattern 1 (walked); fields:\n      \
         method = \"POST\"\n      status = \"200\"\n    updates:\n      errors_total: no \
         update, field status does not match `match` '^5'\n      reads_total: no update, field \
         method matches `unless` '^(POST|PUT)$'\n"
    );
}
