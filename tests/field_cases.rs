//! Inputs that log-to-metrics tools have got wrong in production, each with its exact result.
//! The logs and rules are in `testdata/cases/<case>/`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{Daemon, append, logtally, samples, stderr, stdout, value};
use logtally::engine::Engine;
use logtally::exposition;
use logtally::lines::LineSplitter;
use logtally::metrics::Store;
use logtally::rules::RuleSet;

const WAIT: Duration = Duration::from_secs(10);

fn case(name: &str) -> PathBuf {
    common::root().join("testdata/cases").join(name)
}

/// Runs `logtally once` on a case's input with its rules and returns the exposition.
fn once(name: &str) -> String {
    let dir = case(name);
    let rules = dir.join("rules.toml");
    let input = dir.join("input.log");
    let output = logtally(&[
        "once",
        "--rules",
        rules.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

/// The sample lines of one family.
fn family_samples(exposition: &str, prefix: &str) -> Vec<String> {
    exposition
        .lines()
        .filter(|line| line.starts_with(prefix) && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Reads input through the library in chunks of `chunk` bytes and returns the exposition and
/// the number of lines handed to the rules.
fn read_in_chunks(name: &str, chunk: usize) -> (String, u64) {
    let dir = case(name);
    let rules = Arc::new(RuleSet::load(&[dir.join("rules.toml")]).unwrap());
    let input = std::fs::read(dir.join("input.log")).unwrap();
    let mut store = Store::new(&rules);
    let mut engine = Engine::new(rules.clone());
    let mut splitter = LineSplitter::new(1024 * 1024);
    for piece in input.chunks(chunk) {
        splitter.push(piece, &mut |line| engine.apply(line, &mut store));
    }
    splitter.finish(&mut |line| engine.apply(line, &mut store));

    let mut families: Vec<_> = rules.families.iter().zip(&store.families).collect();
    let mut text = String::new();
    exposition::encode(&mut text, &mut families);
    (text, splitter.stats().lines)
}

#[test]
fn utf8_split_by_read_boundary() {
    let path = "requests_total{path=\"/wiki/一二三四五六七八九十\"}";
    // Chunk sizes that cut the three-byte characters at every possible position.
    for chunk in [1, 2, 3, 4, 5, 7, 64, 1000, 4093, 65536] {
        let (text, lines) = read_in_chunks("utf8-read-boundary", chunk);
        assert_eq!(lines, 1000, "chunk {chunk}");
        assert_eq!(
            family_samples(&text, "requests_total"),
            [format!("{path} 1000")],
            "chunk {chunk}"
        );
    }
}

#[test]
fn utf8_split_by_daemon_reads() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let rules = case("utf8-read-boundary").join("rules.toml");
    std::fs::write(&log, b"").unwrap();
    let daemon = Daemon::start(&[
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        log.to_str().unwrap(),
    ]);
    daemon.wait_following(&log);

    // Writes of 4093 bytes end in the middle of characters and lines.
    let input = std::fs::read(case("utf8-read-boundary").join("input.log")).unwrap();
    for piece in input.chunks(4093) {
        append(&log, piece);
    }

    let series = "requests_total{path=\"/wiki/一二三四五六七八九十\"}";
    let lines_read = format!("logtally_lines_read_total{{path=\"{}\"}}", log.display());
    daemon.wait_for(&lines_read, "1000", WAIT);
    let body = daemon.wait_for(series, "1000", WAIT);
    assert_eq!(
        family_samples(&body, "requests_total"),
        [format!("{series} 1000")]
    );
}

#[test]
fn invalid_utf8_keeps_other_lines() {
    let text = once("invalid-utf8");
    assert_eq!(
        family_samples(&text, "http_requests_total"),
        [
            "http_requests_total{status=\"200\"} 2",
            "http_requests_total{status=\"404\"} 1",
            "http_requests_total{status=\"500\"} 1",
        ]
    );
    // Each invalid byte becomes U+FFFD; an encoded U+FFFD stays as it is.
    assert_eq!(
        family_samples(&text, "http_requests_by_agent_total"),
        [
            "http_requests_by_agent_total{ua=\"FOO\u{FFFD}BAR\"} 1",
            "http_requests_by_agent_total{ua=\"bad\u{FFFD}\u{FFFD}agent\"} 1",
            "http_requests_by_agent_total{ua=\"curl/8.5.0\"} 2",
        ]
    );
}

#[test]
fn crlf_line_endings_accepted() {
    let text = once("crlf-line-endings");
    assert_eq!(
        family_samples(&text, "http_requests_total"),
        [
            "http_requests_total{status=\"200\"} 2",
            "http_requests_total{status=\"404\"} 1"
        ]
    );
    assert_eq!(value(&text, "http_response_bytes_total"), "1377");
    assert_eq!(
        family_samples(&text, "http_requests_by_agent_total"),
        ["http_requests_by_agent_total{ua=\"curl/8.5.0\"} 3"]
    );
}

#[test]
fn nginx_upstream_dash_and_lists() {
    let text = once("nginx-upstream-dash-multi");
    assert_eq!(
        family_samples(&text, "http_requests_total"),
        ["http_requests_total{status=\"200\"} 4"]
    );
    assert_eq!(
        family_samples(&text, "upstream_response_seconds_"),
        [
            "upstream_response_seconds_bucket{le=\"0.005\"} 0",
            "upstream_response_seconds_bucket{le=\"0.01\"} 0",
            "upstream_response_seconds_bucket{le=\"0.025\"} 2",
            "upstream_response_seconds_bucket{le=\"0.05\"} 3",
            "upstream_response_seconds_bucket{le=\"0.1\"} 3",
            "upstream_response_seconds_bucket{le=\"+Inf\"} 3",
            "upstream_response_seconds_sum 0.09",
            "upstream_response_seconds_count 3",
        ]
    );
    assert_eq!(
        family_samples(&text, "upstream_response_last_seconds_"),
        [
            "upstream_response_last_seconds_bucket{le=\"0.005\"} 0",
            "upstream_response_last_seconds_bucket{le=\"0.01\"} 0",
            "upstream_response_last_seconds_bucket{le=\"0.025\"} 2",
            "upstream_response_last_seconds_bucket{le=\"0.05\"} 3",
            "upstream_response_last_seconds_bucket{le=\"0.1\"} 3",
            "upstream_response_last_seconds_bucket{le=\"+Inf\"} 3",
            "upstream_response_last_seconds_sum 0.081",
            "upstream_response_last_seconds_count 3",
        ]
    );
    assert_eq!(
        family_samples(&text, "request_seconds_"),
        [
            "request_seconds_bucket{le=\"0.005\"} 1",
            "request_seconds_bucket{le=\"0.01\"} 1",
            "request_seconds_bucket{le=\"0.025\"} 3",
            "request_seconds_bucket{le=\"0.05\"} 3",
            "request_seconds_bucket{le=\"0.1\"} 4",
            "request_seconds_bucket{le=\"+Inf\"} 4",
            "request_seconds_sum 0.093",
            "request_seconds_count 4",
        ]
    );
}

#[test]
fn nginx_upstream_dash_counted_as_skip() {
    let dir = case("nginx-upstream-dash-multi");
    let output = logtally(&[
        "once",
        "--rules",
        dir.join("rules.toml").to_str().unwrap(),
        dir.join("input.log").to_str().unwrap(),
    ]);
    assert_eq!(
        stderr(&output),
        "logtally: metric upstream_response_seconds: skipped 1 update(s), value dash\n\
         logtally: metric upstream_response_last_seconds: skipped 1 update(s), value dash\n"
    );
}

#[test]
fn escaped_quotes_stay_in_field() {
    let text = once("escaped-quotes-in-fields");
    assert_eq!(
        family_samples(&text, "http_requests_total"),
        [
            "http_requests_total{method=\"GET\",status=\"200\"} 2",
            "http_requests_total{method=\"GET\",status=\"302\"} 1",
            "http_requests_total{method=\"GET\",status=\"404\"} 1",
        ]
    );
    assert_eq!(value(&text, "http_response_bytes_total"), "1377");
}

#[test]
fn label_values_escaped_exactly() {
    let text = once("label-value-escaping");
    assert_eq!(
        family_samples(&text, "requests_total"),
        [
            "requests_total{user=\"EXAMPLE\\\\user1\",path=\"/files/report\\\"2024\\\".pdf\",ua=\"curl/8.5.0\"} 1",
            "requests_total{user=\"alice\",path=\"/x\\\\ny\",ua=\"a\tb\"} 2",
        ]
    );
}

#[test]
fn label_value_escaping_passes_promtool() {
    let Some(promtool) = common::require_program("promtool") else {
        return;
    };
    let text = once("label-value-escaping");
    let output = common::promtool_check_metrics(&promtool, text.as_bytes());
    assert!(
        output.status.success(),
        "promtool: {}{}",
        stdout(&output),
        stderr(&output)
    );
}

#[test]
fn histogram_units_and_bounds() {
    let text = once("histogram-units-and-bounds");
    assert_eq!(
        family_samples(&text, "request_duration_seconds_"),
        [
            "request_duration_seconds_bucket{le=\"0.01\"} 2",
            "request_duration_seconds_bucket{le=\"0.1\"} 3",
            "request_duration_seconds_bucket{le=\"0.25\"} 4",
            "request_duration_seconds_bucket{le=\"0.7\"} 5",
            "request_duration_seconds_bucket{le=\"1\"} 6",
            "request_duration_seconds_bucket{le=\"2.5\"} 7",
            "request_duration_seconds_bucket{le=\"+Inf\"} 7",
            "request_duration_seconds_sum 4.559",
            "request_duration_seconds_count 7",
        ]
    );
}

#[test]
fn le_label_float_format() {
    let text = once("le-label-float-format");
    let expected = [
        ("1000", 1000.0, "1"),
        ("10000", 1e4, "2"),
        ("100000", 1e5, "2"),
        ("1000000", 1e6, "2"),
        ("10000000", 1e7, "3"),
        ("100000000", 1e8, "3"),
        ("+Inf", f64::INFINITY, "4"),
    ];
    let buckets = family_samples(&text, "request_size_bytes_bucket");
    assert_eq!(buckets.len(), expected.len());
    for (line, (le, bound, count)) in buckets.iter().zip(expected) {
        assert_eq!(
            line,
            &format!("request_size_bytes_bucket{{le=\"{le}\"}} {count}")
        );
        // Prometheus parses `le` as a float; it must read back as the bound.
        let parsed: f64 = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap()
        };
        assert_eq!(parsed, bound);
    }
    assert_eq!(value(&text, "request_size_bytes_sum"), "152005500");
    assert_eq!(value(&text, "request_size_bytes_count"), "4");
}

/// Starts the daemon on one log file with a case's rules, polling or with file events.
fn start_on(name: &str, log: &Path, poll: bool) -> Daemon {
    let rules = case(name).join("rules.toml");
    let mut args = vec![
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        log.to_str().unwrap(),
    ];
    if poll {
        args.extend(["--poll-interval", "300ms"]);
    }
    let daemon = Daemon::start(&args);
    daemon.wait_following(log);
    daemon
}

fn case_lines(name: &str) -> Vec<Vec<u8>> {
    let input = std::fs::read(case(name).join("input.log")).unwrap();
    input
        .split_inclusive(|byte| *byte == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

const STATUS_200: &str = "http_requests_total{status=\"200\"}";

/// Writes the first three lines of the copytruncate case, copies the log away and truncates it
/// in place, then writes the case's next lines up to `total`. Returns once `total` are counted.
fn copytruncate_then_write(total: usize, poll: bool) -> (tempfile::TempDir, Daemon, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, b"").unwrap();
    let lines = case_lines("copytruncate");
    let daemon = start_on("copytruncate", &log, poll);

    lines[0..3].iter().for_each(|line| append(&log, line));
    daemon.wait_for(STATUS_200, "3", WAIT);
    std::fs::copy(&log, dir.path().join("access.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .unwrap();
    lines[3..total].iter().for_each(|line| append(&log, line));

    daemon.wait_for(STATUS_200, &total.to_string(), WAIT);
    (dir, daemon, log)
}

/// Truncation in place (copytruncate), then fewer bytes than were read before.
fn copytruncate_shorter(poll: bool) {
    copytruncate_then_write(5, poll);
}

/// Truncation in place, then more bytes than were read before, before the tailer looks.
fn copytruncate_longer(poll: bool) {
    let (_dir, daemon, log) = copytruncate_then_write(8, poll);

    // Counters continue across the truncation instead of restarting. The per-file counts are
    // published after each read, so they may trail the rule metrics briefly.
    let path = format!("{{path=\"{}\"}}", log.display());
    let body = daemon.wait_for(&format!("logtally_lines_read_total{path}"), "8", WAIT);
    assert_eq!(
        value(&body, &format!("logtally_file_truncations_total{path}")),
        "1"
    );
    assert_eq!(value(&body, STATUS_200), "8");
}

#[test]
fn copytruncate_shorter_events() {
    copytruncate_shorter(false);
}

#[test]
fn copytruncate_shorter_polling() {
    copytruncate_shorter(true);
}

#[test]
fn copytruncate_longer_events() {
    copytruncate_longer(false);
}

#[test]
fn copytruncate_longer_polling() {
    copytruncate_longer(true);
}

/// Rename and create, with a write to the renamed file before the writer reopens.
fn rename_create(poll: bool) {
    use std::io::Write;

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, b"").unwrap();
    let lines = case_lines("rename-create-rotation");
    let daemon = start_on("rename-create-rotation", &log, poll);

    let mut writer = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    lines[0..3]
        .iter()
        .for_each(|line| writer.write_all(line).unwrap());
    std::fs::rename(&log, dir.path().join("access.log.1")).unwrap();
    writer.write_all(&lines[3]).unwrap();
    let mut writer = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    lines[4..6]
        .iter()
        .for_each(|line| writer.write_all(line).unwrap());

    let body = daemon.wait_for(STATUS_200, "6", WAIT);
    // Nothing is counted twice once the rotated file is closed.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(value(&daemon.scrape(), STATUS_200), "6", "{body}");
}

#[test]
fn rename_create_events() {
    rename_create(false);
}

#[test]
fn rename_create_polling() {
    rename_create(true);
}

#[test]
fn partial_line_waits_for_newline() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, b"").unwrap();
    let lines = case_lines("partial-line-write");
    let daemon = start_on("partial-line-write", &log, true);

    lines[0..2].iter().for_each(|line| append(&log, line));
    append(&log, &lines[2][..40]);
    daemon.wait_for(STATUS_200, "2", WAIT);
    // Three poll intervals: the fragment must stay unread.
    std::thread::sleep(Duration::from_millis(900));
    let before = samples(&daemon.scrape());
    assert_eq!(before.get("http_requests_total{status=\"503\"}"), None);
    assert_eq!(before[STATUS_200], "2");
    let unmatched = format!(
        "logtally_lines_unmatched_total{{rules=\"{}\"}}",
        case("partial-line-write").join("rules.toml").display()
    );
    assert_eq!(before[&unmatched], "0");

    append(&log, &lines[2][40..]);
    let after = daemon.wait_for("http_requests_total{status=\"503\"}", "1", WAIT);
    assert_eq!(value(&after, STATUS_200), "2");
    assert_eq!(value(&after, &unmatched), "0");
}

#[test]
fn many_idle_files_then_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let line = std::fs::read(case("idle-cpu-many-files").join("input.log")).unwrap();
    for host in 1..=50 {
        let app = dir.path().join(format!("h{host}/app"));
        std::fs::create_dir_all(&app).unwrap();
        for file in 1..=10 {
            std::fs::write(app.join(format!("f{file}.log")), &line).unwrap();
        }
    }
    let glob = format!("{}/*/app/*.log", dir.path().display());
    let rules = case("idle-cpu-many-files").join("rules.toml");
    let daemon = Daemon::start(&["--rules", rules.to_str().unwrap(), "--logs", &glob]);
    let followed = |body: &str| {
        body.lines()
            .filter(|line| line.starts_with("logtally_lines_read_total{"))
            .count()
    };
    let deadline = std::time::Instant::now() + WAIT;
    let mut body = daemon.scrape();
    while followed(&body) < 500 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        body = daemon.scrape();
    }
    assert_eq!(followed(&body), 500);

    // Files present at start are read from their end: nothing is counted yet.
    assert_eq!(samples(&body).get(STATUS_200), None, "{body}");

    append(&dir.path().join("h17/app/f3.log"), &line);
    daemon.wait_for(STATUS_200, "1", WAIT);
}

#[test]
fn copytruncate_unread_tail_from_copy() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, b"").unwrap();
    let lines = case_lines("copytruncate");
    let rules = case("copytruncate").join("rules.toml");
    let daemon = Daemon::start(&[
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        log.to_str().unwrap(),
        "--poll-interval",
        "2s",
    ]);
    daemon.wait_following(&log);

    lines[0..3].iter().for_each(|line| append(&log, line));
    daemon.wait_for(STATUS_200, "3", WAIT);
    // Within one poll interval: two more lines, then copytruncate, then two lines in the
    // truncated file. The first two are only in the copy.
    lines[3..5].iter().for_each(|line| append(&log, line));
    std::fs::copy(&log, dir.path().join("access.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .unwrap();
    lines[5..7].iter().for_each(|line| append(&log, line));

    daemon.wait_for(STATUS_200, "7", WAIT);
    // The per-file counts are published after each read, so they may trail the rule metrics.
    let truncations = format!(
        "logtally_file_truncations_total{{path=\"{}\"}}",
        log.display()
    );
    daemon.wait_for(&truncations, "1", WAIT);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(value(&daemon.scrape(), STATUS_200), "7");
}
