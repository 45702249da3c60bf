//! `logtally run` over real files and real HTTP on 127.0.0.1: following, start positions, bad
//! input, the served paths and shutdown.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::{Daemon, append, http_request, samples, stderr, stdout, value, write_file};

const WAIT: Duration = Duration::from_secs(10);

const RULES: &str = r#"
[parse]
regex = '''^(?P<method>\S+) (?P<code>\d{3}) (?P<bytes>\S+) (?P<duration_ms>\S+)$'''

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

[[metric]]
name = "http_request_duration_seconds"
type = "histogram"
help = "Time from the first request byte to the last response byte."
value = "duration_ms"
scale = 0.001
buckets = [0.005, 0.01, 0.1, 1]
labels = ["method"]

[[metric]]
name = "http_last_response_size_bytes"
type = "gauge"
help = "Size of the last response."
value = "bytes"
"#;

/// Log content present before the daemon starts.
const THREE_LINES: &[u8] = b"GET 200 1 1\nGET 200 1 1\nGET 200 1 1\n";

const GET_200: &str = "http_requests_total{method=\"GET\",status=\"200\"}";

fn lines_read(path: &Path) -> String {
    format!("logtally_lines_read_total{{path=\"{}\"}}", path.display())
}

fn matched(rules: &Path) -> String {
    format!(
        "logtally_lines_matched_total{{rules=\"{}\"}}",
        rules.display()
    )
}

fn unmatched(rules: &Path) -> String {
    format!(
        "logtally_lines_unmatched_total{{rules=\"{}\"}}",
        rules.display()
    )
}

/// Creates a temporary directory with the rule file and an empty `access.log`, and starts a
/// daemon on it.
fn start(extra: &[&str]) -> (tempfile::TempDir, Daemon) {
    start_with_rules(RULES, b"", extra)
}

/// Adds `option` to the `http_requests_total` metric of [`RULES`], then starts as [`start`] does.
fn start_with_request_option(option: &str) -> (tempfile::TempDir, Daemon) {
    let labels = "labels = [\"method\", { status = \"code\" }]";
    let rules = RULES.replacen(labels, &format!("{labels}\n{option}"), 1);
    start_with_rules(&rules, b"", &[])
}

/// Starts as [`start`] does, with `rules` as the rule file and `access.log` containing
/// `contents`.
fn start_with_rules(rules: &str, contents: &[u8], extra: &[&str]) -> (tempfile::TempDir, Daemon) {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", rules);
    let log = dir.path().join("access.log");
    std::fs::write(&log, contents).unwrap();
    let glob = format!("{}/*.log", dir.path().display());
    let mut args = vec!["--rules", rules.to_str().unwrap(), "--logs", &glob];
    args.extend(extra);
    let daemon = Daemon::start(&args);
    daemon.wait_following(&log);
    (dir, daemon)
}

#[test]
fn appended_lines_scraped_exactly() {
    let (dir, daemon) = start(&[]);
    let log = dir.path().join("access.log");

    append(&log, b"GET 200 100 3\nGET 200 250 40\nPOST 500 0 1200\n");

    let body = daemon.wait_for(&lines_read(&log), "3", WAIT);
    let all = samples(&body);
    assert_eq!(all[GET_200], "2");
    assert_eq!(
        all["http_requests_total{method=\"POST\",status=\"500\"}"],
        "1"
    );
    assert_eq!(all["http_response_bytes_total"], "350");
    assert_eq!(all["http_last_response_size_bytes"], "0");
    assert_eq!(
        all["http_request_duration_seconds_bucket{method=\"GET\",le=\"0.005\"}"],
        "1"
    );
    assert_eq!(
        all["http_request_duration_seconds_bucket{method=\"GET\",le=\"0.1\"}"],
        "2"
    );
    assert_eq!(
        all["http_request_duration_seconds_sum{method=\"GET\"}"],
        "0.043"
    );
    assert_eq!(
        all["http_request_duration_seconds_bucket{method=\"POST\",le=\"1\"}"],
        "0"
    );
    assert_eq!(
        all["http_request_duration_seconds_bucket{method=\"POST\",le=\"+Inf\"}"],
        "1"
    );
    assert_eq!(
        all["http_request_duration_seconds_sum{method=\"POST\"}"],
        "1.2"
    );
    assert_eq!(all[&matched(&dir.path().join("rules.toml"))], "3");
    assert_eq!(all[&unmatched(&dir.path().join("rules.toml"))], "0");
}

#[test]
fn file_created_after_start_read_from_start() {
    let (dir, daemon) = start(&[]);
    let late = dir.path().join("late.log");

    append(&late, b"GET 200 1 1\nGET 200 1 1\n");

    daemon.wait_for(&lines_read(&late), "2", WAIT);
    daemon.wait_for(GET_200, "2", WAIT);
}

#[test]
fn directory_created_after_start_found() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);
    let glob = format!("{}/later/*.log", dir.path().display());
    let daemon = Daemon::start(&["--rules", rules.to_str().unwrap(), "--logs", &glob]);
    daemon.wait_for_log("Initial glob expansion done.", WAIT);

    std::fs::create_dir(dir.path().join("later")).unwrap();
    let log = dir.path().join("later/access.log");
    append(&log, b"GET 200 1 1\n");

    daemon.wait_for(&lines_read(&log), "1", WAIT);
    daemon.wait_for(GET_200, "1", WAIT);
}

#[test]
fn existing_content_skipped_by_default() {
    let (dir, daemon) = start_with_rules(RULES, THREE_LINES, &[]);
    let log = dir.path().join("access.log");

    append(&log, b"GET 200 1 1\n");

    daemon.wait_for(&lines_read(&log), "1", WAIT);
    daemon.wait_for(GET_200, "1", WAIT);
}

#[test]
fn from_start_reads_existing_content() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);
    let log = dir.path().join("access.log");
    std::fs::write(&log, THREE_LINES).unwrap();
    // Not started through start_with_rules: it waits for a read count of 0, which
    // --from-start passes straight by.
    let daemon = Daemon::start(&[
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        log.to_str().unwrap(),
        "--from-start",
    ]);

    daemon.wait_for(&lines_read(&log), "3", WAIT);
    append(&log, b"GET 200 1 1\n");
    daemon.wait_for(GET_200, "4", WAIT);
}

#[test]
fn bad_input_counted_and_survived() {
    let (dir, daemon) = start(&[]);
    let log = dir.path().join("access.log");
    let rules = dir.path().join("rules.toml");

    let mut input = Vec::new();
    input.extend_from_slice(b"GET 200 1 1\n");
    input.extend_from_slice(b"GET 200 \xFF\xFE 1\n"); // invalid UTF-8 value: skipped, line counted
    input.extend_from_slice(b"\xFF\xFE\xFD garbage\n"); // matches nothing
    input.extend_from_slice(b"\0\0\0\0\0\0\0\0GET 200 1 1\n"); // NUL run before a line
    input.extend_from_slice(b"\0\0\0\0\n"); // a line of NUL bytes only
    input.extend_from_slice(b"GET 200 1 1\r\n");
    input.extend_from_slice(&vec![b'x'; 10 * 1024 * 1024]); // a 10 MiB line
    input.extend_from_slice(b"\nGET 200 1 1\n");
    append(&log, &input);

    let body = daemon.wait_for(&lines_read(&log), "7", WAIT);
    let path = format!("{{path=\"{}\"}}", log.display());
    assert_eq!(value(&body, GET_200), "5");
    assert_eq!(value(&body, "http_response_bytes_total"), "4");
    assert_eq!(value(&body, &matched(&rules)), "5");
    assert_eq!(value(&body, &unmatched(&rules)), "2");
    assert_eq!(
        value(&body, &format!("logtally_nul_bytes_skipped_total{path}")),
        "12"
    );
    assert_eq!(
        value(&body, &format!("logtally_lines_truncated_total{path}")),
        "1"
    );
    let skipped =
        "logtally_values_skipped_total{metric=\"http_response_bytes_total\",reason=\"invalid\"}";
    assert_eq!(value(&body, skipped), "1");
}

#[test]
fn binary_and_empty_files_survived() {
    let (dir, daemon) = start(&[]);
    let empty = dir.path().join("empty.log");
    std::fs::write(&empty, b"").unwrap();
    let binary = dir.path().join("binary.log");
    // A deterministic byte soup with no newline in its first 2 MiB.
    let mut state: u32 = 12345;
    let soup: Vec<u8> = (0..3 * 1024 * 1024)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let byte = (state >> 16) as u8;
            if byte == b'\n' { b'.' } else { byte }
        })
        .collect();
    append(&binary, &soup);
    append(&binary, b"\nGET 200 1 1\n");

    daemon.wait_for(&lines_read(&binary), "2", WAIT);
    let body = daemon.wait_for(GET_200, "1", WAIT);
    assert_eq!(value(&body, &lines_read(&empty)), "0");
    let truncated = format!(
        "logtally_lines_truncated_total{{path=\"{}\"}}",
        binary.display()
    );
    assert_eq!(value(&body, &truncated), "1");
    assert_eq!(daemon.get("/healthz"), (200, "ok\n".to_owned()));
}

#[test]
fn served_paths() {
    let (_dir, daemon) = start(&[]);

    assert_eq!(daemon.get("/healthz"), (200, "ok\n".to_owned()));
    let (status, page) = daemon.get("/");
    assert_eq!(status, 200);
    assert!(page.contains("<a href=\"/metrics\">Metrics</a>"), "{page}");
    assert!(page.contains("<a href=\"/healthz\">Health</a>"), "{page}");
    assert!(page.contains("<a href=\"/status\">Status</a>"), "{page}");
    assert_eq!(daemon.get("/status").0, 200);
    assert_eq!(daemon.get("/status.json").0, 200);
    assert_eq!(daemon.get("/status/").0, 404);
    assert_eq!(http_request(daemon.address, "POST", "/status").0, 405);
    assert_eq!(daemon.get("/nope").0, 404);
    assert_eq!(daemon.get("/metrics/").0, 404);
}

#[test]
fn custom_telemetry_path() {
    let (_dir, daemon) = start(&["--web.telemetry-path", "/custom"]);

    let (status, body) = daemon.get("/custom");
    assert_eq!(status, 200);
    assert!(
        body.contains("# TYPE http_requests_total counter"),
        "{body}"
    );
    assert_eq!(daemon.get("/metrics").0, 404);
    assert!(
        daemon
            .get("/")
            .1
            .contains("<a href=\"/custom\">Metrics</a>")
    );
}

#[test]
fn scrape_passes_promtool() {
    let Some(promtool) = common::require_program("promtool") else {
        return;
    };
    let (dir, daemon) = start(&[]);
    let log = dir.path().join("access.log");
    append(
        &log,
        b"GET 200 10 3\nPOST 500 - 1200\nbad line\nGET 404 5 \"quoted\\\"\n",
    );
    daemon.wait_for(&lines_read(&log), "4", WAIT);

    let body = daemon.scrape();
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

#[test]
fn sigterm_exits_cleanly() {
    let (_dir, daemon) = start(&[]);
    let status = daemon.terminate();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn invalid_glob_rejected_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);
    let output = common::logtally(&[
        "run",
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        "/tmp/[x.log",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        last_line(&stderr(&output)),
        "logtally: invalid glob \"/tmp/[x.log\": unclosed character class; missing ']'"
    );
}

#[test]
fn busy_port_reported() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = common::logtally(&[
        "run",
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        "/nonexistent/*.log",
        "--web.listen-address",
        &address,
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        last_line(&stderr(&output)),
        format!("logtally: failed to listen on {address}: Address already in use (os error 98)")
    );
}

#[test]
fn invalid_flags_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);
    let rules = rules.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--rescan-interval", "0s"],
            "invalid duration \"0s\": it must be greater than zero",
        ),
        (
            &["--poll-interval", "10"],
            "invalid duration \"10\": write a number and a unit",
        ),
        (&["--max-line-bytes", "0"], "must be at least 1 byte"),
        (
            &["--web.listen-address", "127.0.0.1:99999"],
            "invalid listen address \"127.0.0.1:99999\": the port \"99999\" is not a number from 0 to 65535",
        ),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["run", "--rules", rules, "--logs", "/nonexistent/*.log"];
        args.extend(flags);
        let output = common::logtally(&args);
        assert_ne!(output.status.code(), Some(0), "{flags:?}");
        assert!(
            stderr(&output).contains(expected),
            "{flags:?}: {}",
            stderr(&output)
        );
    }
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or("")
}

#[test]
fn excluded_paths_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);
    let glob = format!("{}/*.log", dir.path().display());
    let exclude = format!("{}/debug-*.log", dir.path().display());
    let daemon = Daemon::start(&[
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        &glob,
        "--logs.exclude",
        &exclude,
    ]);
    daemon.wait_for_log("Initial glob expansion done.", WAIT);

    let debug = dir.path().join("debug-1.log");
    let access = dir.path().join("access.log");
    append(&debug, b"GET 200 1 1\nGET 200 1 1\n");
    append(&access, b"GET 200 1 1\n");

    let body = daemon.wait_for(&lines_read(&access), "1", WAIT);
    assert_eq!(samples(&body).get(&lines_read(&debug)), None, "{body}");
    assert_eq!(value(&body, GET_200), "1");
}

#[test]
fn old_files_ignored_until_changed() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);
    let old = dir.path().join("old.log");
    std::fs::write(&old, b"GET 200 1 1\nGET 200 1 1\n").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let fresh = dir.path().join("fresh.log");
    std::fs::write(&fresh, b"GET 200 1 1\n").unwrap();
    let glob = format!("{}/*.log", dir.path().display());
    let daemon = Daemon::start(&[
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        &glob,
        "--from-start",
        "--logs.ignore-older",
        "1h",
    ]);

    let body = daemon.wait_for(&lines_read(&fresh), "1", WAIT);
    assert_eq!(samples(&body).get(&lines_read(&old)), None, "{body}");

    // A change makes the old file current; only its new line counts.
    append(&old, b"GET 200 1 1\n");
    daemon.wait_for(&lines_read(&old), "1", WAIT);
    daemon.wait_for(GET_200, "2", WAIT);
}

#[test]
fn label_flood_held_at_limit() {
    let (dir, daemon) = start_with_request_option("max_series = 50");
    let log = dir.path().join("access.log");

    // 5000 distinct methods: the first 50 get series, the other 4950 lines overflow.
    let flood: String = (0..5000)
        .map(|index| format!("M{index} 200 1 1\n"))
        .collect();
    append(&log, flood.as_bytes());

    let body = daemon.wait_for(&lines_read(&log), "5000", WAIT);
    let overflow = "http_requests_total{method=\"__overflow__\",status=\"__overflow__\"}";
    assert_eq!(value(&body, overflow), "4950");
    assert_eq!(
        value(&body, "logtally_series{metric=\"http_requests_total\"}"),
        "51"
    );
    assert_eq!(
        value(
            &body,
            "logtally_series_overflowed_total{metric=\"http_requests_total\"}"
        ),
        "4950"
    );
    assert_eq!(
        value(&body, "http_requests_total{method=\"M49\",status=\"200\"}"),
        "1"
    );
    assert_eq!(
        samples(&body).get("http_requests_total{method=\"M50\",status=\"200\"}"),
        None
    );
    assert_eq!(
        daemon.count_log_lines("Metric reached max_series", Duration::from_millis(500)),
        1
    );
}

#[test]
fn late_writer_after_rotation_counted() {
    let (dir, daemon) = start(&[]);
    let log = dir.path().join("access.log");
    let mut late_writer = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    append(&log, b"GET 200 1 1\n");
    daemon.wait_for(GET_200, "1", WAIT);

    // Rotate; one writer moves to the new file at once, another keeps the old file a while.
    std::fs::rename(&log, dir.path().join("access.log.1")).unwrap();
    append(&log, b"GET 200 1 1\n");
    daemon.wait_for(GET_200, "2", WAIT);
    std::thread::sleep(Duration::from_millis(1000));
    late_writer
        .write_all(b"GET 200 1 1\nGET 200 1 1\n")
        .unwrap();

    daemon.wait_for(GET_200, "4", WAIT);
}

#[test]
fn reused_inode_not_taken_for_deleted_file() {
    let (dir, daemon) = start(&[]);
    let log = dir.path().join("access.log");
    append(&log, "GET 200 1 1\n".repeat(100).as_bytes());
    daemon.wait_for(GET_200, "100", WAIT);

    // Deleted, then a new log with the same first bytes and more lines; the file system may
    // give it the deleted file's inode.
    std::fs::remove_file(&log).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let fresh = dir.path().join("access-2.log");
    std::fs::write(&fresh, "GET 200 1 1\n".repeat(300)).unwrap();

    daemon.wait_for(&lines_read(&fresh), "300", WAIT);
    daemon.wait_for(GET_200, "400", WAIT);
}

#[test]
fn polling_finds_new_files_between_rescans() {
    let (dir, daemon) = start(&["--poll-interval", "100ms", "--rescan-interval", "1h"]);
    let late = dir.path().join("late.log");
    append(&late, b"GET 200 1 1\n");
    daemon.wait_for(&lines_read(&late), "1", WAIT);
}

#[test]
fn probe_reports_health() {
    let (_dir, daemon) = start(&[]);
    let healthy = common::logtally(&["probe", &format!("http://{}/healthz", daemon.address)]);
    assert_eq!(healthy.status.code(), Some(0), "{}", stderr(&healthy));

    let missing = format!("http://{}/nope", daemon.address);
    let not_found = common::logtally(&["probe", &missing]);
    assert_eq!(not_found.status.code(), Some(1));
    assert_eq!(
        stderr(&not_found),
        format!("logtally: {missing} responded with status 404\n")
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let refused = common::logtally(&["probe", &format!("http://{closed}/healthz")]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("Connection refused"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn idle_series_expire() {
    let (dir, daemon) = start_with_request_option("expire = \"1s\"");
    let log = dir.path().join("access.log");

    append(&log, b"GET 200 1 1\nPUT 200 1 1\n");
    daemon.wait_for(GET_200, "1", WAIT);
    // PUT stays quiet past its expiry while GET keeps being updated.
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(300));
        append(&log, b"GET 200 1 1\n");
    }
    let body = daemon.wait_for(GET_200, "7", WAIT);
    assert_eq!(
        samples(&body).get("http_requests_total{method=\"PUT\",status=\"200\"}"),
        None,
        "{body}"
    );
    assert_eq!(
        value(
            &body,
            "logtally_series_expired_total{metric=\"http_requests_total\"}"
        ),
        "1"
    );
    // A metric without expire keeps its series.
    assert_eq!(
        value(
            &body,
            "logtally_series_expired_total{metric=\"http_request_duration_seconds\"}"
        ),
        "0"
    );
}

/// A rule file for one proxy's logs, labelled with the proxy's name.
fn proxy_rules(dir: &Path, proxy: &str) -> String {
    format!(
        "files = [\"{}/{proxy}/*.log\"]\nconst_labels = {{ proxy = \"{proxy}\" }}\n\n\
         [parse]\nregex = '''^(?P<method>\\S+) (?P<code>\\d{{3}})$'''\n\n\
         [[metric]]\nname = \"proxy_requests_total\"\ntype = \"counter\"\nhelp = \"Requests.\"\n\
         labels = [\"method\", \"code\"]\n",
        dir.display()
    )
}

#[test]
fn two_proxies_kept_apart() {
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = dir.path().join("rules");
    for proxy in ["front", "egress"] {
        std::fs::create_dir_all(dir.path().join(proxy)).unwrap();
        std::fs::create_dir_all(&rules_dir).unwrap();
        write_file(
            &rules_dir,
            &format!("{proxy}.toml"),
            &proxy_rules(dir.path(), proxy),
        );
    }
    let daemon = Daemon::start(&["--rules", rules_dir.to_str().unwrap(), "--from-start"]);
    daemon.wait_for_log("Initial glob expansion done.", WAIT);

    append(
        &dir.path().join("front/access.log"),
        b"GET 200\nGET 200\nPOST 500\n",
    );
    append(&dir.path().join("egress/access.log"), b"GET 200\n");

    let front = "proxy_requests_total{method=\"GET\",code=\"200\",proxy=\"front\"}";
    let egress = "proxy_requests_total{method=\"GET\",code=\"200\",proxy=\"egress\"}";
    daemon.wait_for(front, "2", WAIT);
    let body = daemon.wait_for(egress, "1", WAIT);
    assert_eq!(value(&body, front), "2");
    assert_eq!(
        value(
            &body,
            "proxy_requests_total{method=\"POST\",code=\"500\",proxy=\"front\"}"
        ),
        "1"
    );
    // Each rule file reads only its own proxy's log, so neither counts unmatched lines.
    for proxy in ["front", "egress"] {
        let rules = rules_dir.join(format!("{proxy}.toml"));
        assert_eq!(value(&body, &unmatched(&rules)), "0", "{proxy}");
    }
}

#[test]
fn two_proxies_share_one_rule_file() {
    let dir = tempfile::tempdir().unwrap();
    for proxy in ["front", "egress"] {
        std::fs::create_dir_all(dir.path().join(proxy)).unwrap();
        append(&dir.path().join(format!("{proxy}/access.log")), b"");
    }
    let rules = format!(
        r#"files = [
  {{ glob = "{root}/front/*.log", labels = {{ proxy = "front" }} }},
  {{ glob = "{root}/egress/*.log", labels = {{ proxy = "egress" }} }},
]
path_labels = '/(?P<log>[a-z]+)\.log$'

[parse]
regex = '^(?P<method>\S+) (?P<code>\d{{3}})$'

[[metric]]
name = "proxy_requests_total"
type = "counter"
help = "Requests."
labels = ["code"]
initial = [{{ code = "500" }}]
"#,
        root = dir.path().display()
    );
    let rules = write_file(dir.path(), "proxies.toml", &rules);
    let daemon = Daemon::start(&["--rules", rules.to_str().unwrap()]);
    daemon.wait_for_log("Initial glob expansion done.", WAIT);

    // The declared label set is exported for each log before its first line.
    let front_500 = "proxy_requests_total{code=\"500\",proxy=\"front\",log=\"access\"}";
    let egress_500 = "proxy_requests_total{code=\"500\",proxy=\"egress\",log=\"access\"}";
    daemon.wait_for(front_500, "0", WAIT);
    daemon.wait_for(egress_500, "0", WAIT);

    append(&dir.path().join("front/access.log"), b"GET 200\nGET 500\n");
    append(&dir.path().join("egress/access.log"), b"GET 200\n");
    let front_200 = "proxy_requests_total{code=\"200\",proxy=\"front\",log=\"access\"}";
    let egress_200 = "proxy_requests_total{code=\"200\",proxy=\"egress\",log=\"access\"}";
    daemon.wait_for(front_200, "1", WAIT);
    let body = daemon.wait_for(egress_200, "1", WAIT);
    let series: Vec<&str> = body
        .lines()
        .filter(|line| line.starts_with("proxy_requests_total{"))
        .collect();
    assert_eq!(
        series,
        [
            "proxy_requests_total{code=\"200\",proxy=\"egress\",log=\"access\"} 1",
            "proxy_requests_total{code=\"200\",proxy=\"front\",log=\"access\"} 1",
            "proxy_requests_total{code=\"500\",proxy=\"egress\",log=\"access\"} 0",
            "proxy_requests_total{code=\"500\",proxy=\"front\",log=\"access\"} 1",
        ]
    );
}

#[test]
fn no_logs_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);
    let output = common::logtally(&["run", "--rules", rules.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        last_line(&stderr(&output)),
        "logtally: no logs to follow: give --logs GLOB, or `files` in a rule file"
    );
}

#[test]
fn json_logs_parse() {
    let (dir, daemon) = start(&["--log.format", "json"]);
    append(&dir.path().join("access.log"), b"GET 200 1 1\n");
    daemon.wait_for(GET_200, "1", WAIT);
    let line = daemon.wait_for_log("Initial glob expansion done.", WAIT);
    let event: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(event["message"], "Initial glob expansion done.");
    assert_eq!(event["level"], "INFO");
    assert_eq!(event["files"], 1);
}

#[test]
fn logfmt_logs_by_default() {
    let (_dir, daemon) = start(&[]);
    let line = daemon.wait_for_log("Initial glob expansion done.", WAIT);
    assert!(line.starts_with("ts="), "{line}");
    assert!(
        line.contains(" level=info msg=\"Initial glob expansion done.\" files=1 globs=1"),
        "{line}"
    );
}

/// Links `name` in `dir` to `/proc/self/mem`. Reading that file at offset 0 fails with an I/O
/// error in every process, so the daemon gets a real read error each time it reads the link.
fn unreadable_log(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::os::unix::fs::symlink("/proc/self/mem", &path).unwrap();
    path
}

#[test]
fn repeated_read_errors_logged_once() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);
    let broken = unreadable_log(dir.path(), "broken.log");
    let glob = format!("{}/*.log", dir.path().display());
    let daemon = Daemon::start(&[
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        &glob,
        "--rescan-interval",
        "50ms",
    ]);

    // Every rescan reads the file again and fails again.
    let errors = format!(
        "logtally_file_errors_total{{path=\"{}\"}}",
        broken.display()
    );
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let body = daemon.scrape();
        let count: u64 = samples(&body)
            .get(&errors)
            .map_or(0, |value| value.parse().unwrap());
        if count >= 5 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        std::thread::sleep(Duration::from_millis(20));
    }

    // The signal's log line comes after every warning about the reads counted above.
    std::process::Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .unwrap();
    let lines = daemon.log_lines_until("Received signal", WAIT);
    let warnings = daemon
        .early_log_lines()
        .iter()
        .chain(&lines)
        .filter(|line| line.contains("Failed to read log file"))
        .count();
    assert_eq!(warnings, 1, "{lines:#?}");
}
