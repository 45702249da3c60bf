//! Reloading rules while running: SIGHUP, `POST /-/reload` and `--watch-rules`. Unchanged
//! metrics keep their values, changed ones start afresh, and broken rules change nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Daemon, append, http_request, samples, value, write_file};

const WAIT: Duration = Duration::from_secs(10);

const RULES: &str = common::METHOD_DURATION_RULES;

struct Setup {
    _dir: tempfile::TempDir,
    rules: PathBuf,
    log: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);
    let log = dir.path().join("access.log");
    std::fs::write(&log, b"").unwrap();
    Setup {
        _dir: dir,
        rules,
        log,
    }
}

fn start(setup: &Setup, extra: &[&str]) -> Daemon {
    let mut args = vec![
        "--rules",
        setup.rules.to_str().unwrap(),
        "--logs",
        setup.log.to_str().unwrap(),
    ];
    args.extend(extra);
    let daemon = Daemon::start(&args);
    daemon.wait_following(&setup.log);
    daemon
}

fn hangup(daemon: &Daemon) {
    Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .unwrap();
}

fn rewrite(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in the rule file");
    std::fs::write(path, text.replace(from, to)).unwrap();
}

const RELOAD_OK: &str = "logtally_config_last_reload_successful";

#[test]
fn sighup_swaps_changed_metrics() {
    let setup = setup();
    let daemon = start(&setup, &[]);
    append(&setup.log, b"GET 50\nGET 500\n");
    daemon.wait_for("requests_total{method=\"GET\"}", "2", WAIT);

    // New buckets change the histogram; the counter is untouched; a new metric appears.
    rewrite(&setup.rules, "buckets = [0.1, 1]", "buckets = [0.2, 2]");
    let mut text = std::fs::read_to_string(&setup.rules).unwrap();
    text.push_str("\n[[metric]]\nname = \"last_duration_seconds\"\ntype = \"gauge\"\nhelp = \"Last duration.\"\nvalue = \"ms\"\nscale = 0.001\n");
    std::fs::write(&setup.rules, text).unwrap();
    hangup(&daemon);
    daemon.wait_for_log("Reloaded rules.", WAIT);

    append(&setup.log, b"GET 150\n");
    let body = daemon.wait_for("requests_total{method=\"GET\"}", "3", WAIT);
    assert_eq!(value(&body, "duration_seconds_count"), "1");
    assert_eq!(value(&body, "duration_seconds_bucket{le=\"0.2\"}"), "1");
    assert_eq!(
        samples(&body).get("duration_seconds_bucket{le=\"0.1\"}"),
        None
    );
    assert_eq!(value(&body, "last_duration_seconds"), "0.15");
    assert_eq!(value(&body, RELOAD_OK), "1");
}

#[test]
fn broken_reload_keeps_old_rules() {
    let setup = setup();
    let daemon = start(&setup, &[]);
    append(&setup.log, b"GET 50\n");
    daemon.wait_for("requests_total{method=\"GET\"}", "1", WAIT);

    rewrite(&setup.rules, "type = \"counter\"", "type = \"countr\"");
    hangup(&daemon);
    let error = daemon.wait_for_log("Reloading rules failed", WAIT);
    assert!(
        error.contains(&format!(
            "{}:7:8: unknown metric type",
            setup.rules.display()
        )),
        "{error}"
    );

    append(&setup.log, b"GET 60\n");
    let body = daemon.wait_for("requests_total{method=\"GET\"}", "2", WAIT);
    assert_eq!(value(&body, RELOAD_OK), "0");
    assert_eq!(value(&body, "duration_seconds_count"), "2");
}

#[test]
fn lifecycle_endpoint_reloads() {
    let setup = setup();
    let daemon = start(&setup, &["--web.enable-lifecycle"]);
    append(&setup.log, b"GET 50\n");
    daemon.wait_for("requests_total{method=\"GET\"}", "1", WAIT);

    rewrite(
        &setup.rules,
        "labels = [\"method\"]",
        "labels = [{ verb = \"method\" }]",
    );
    assert_eq!(
        http_request(daemon.address, "POST", "/-/reload"),
        (200, "Reloaded.\n".to_owned())
    );
    append(&setup.log, b"PUT 50\n");
    let body = daemon.wait_for("requests_total{verb=\"PUT\"}", "1", WAIT);
    assert_eq!(
        samples(&body).get("requests_total{method=\"GET\"}"),
        None,
        "a changed label list starts afresh"
    );

    rewrite(&setup.rules, "type = \"counter\"", "type = \"countr\"");
    let (status, body) = http_request(daemon.address, "POST", "/-/reload");
    assert_eq!(status, 500);
    assert!(body.starts_with("failed to reload rules:\n"), "{body}");
    assert!(body.contains("unknown metric type \"countr\""), "{body}");
    assert_eq!(http_request(daemon.address, "GET", "/-/reload").0, 405);
}

#[test]
fn repeated_reload_errors_logged_once() {
    let setup = setup();
    let daemon = start(&setup, &["--web.enable-lifecycle"]);
    let reload = || http_request(daemon.address, "POST", "/-/reload").0;

    rewrite(&setup.rules, "type = \"counter\"", "type = \"countr\"");
    for _ in 0..5 {
        assert_eq!(reload(), 500);
    }
    rewrite(&setup.rules, "type = \"countr\"", "type = \"counter\"");
    assert_eq!(reload(), 200);
    let lines = daemon.log_lines_until("Reloaded rules.", WAIT);
    let failures: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains("Reloading rules failed"))
        .collect();
    assert_eq!(failures.len(), 1, "{lines:#?}");
    assert!(failures[0].ends_with(" suppressed=0"), "{}", failures[0]);

    // A failure after a success is logged again, even with the same errors.
    rewrite(&setup.rules, "type = \"counter\"", "type = \"countr\"");
    assert_eq!(reload(), 500);
    assert_eq!(reload(), 500);
    rewrite(&setup.rules, "type = \"countr\"", "type = \"counter\"");
    assert_eq!(reload(), 200);
    let lines = daemon.log_lines_until("Reloaded rules.", WAIT);
    let failures = lines
        .iter()
        .filter(|line| line.contains("Reloading rules failed"))
        .count();
    assert_eq!(failures, 1, "{lines:#?}");
}

#[test]
fn lifecycle_endpoint_off_by_default() {
    let setup = setup();
    let daemon = start(&setup, &[]);
    let response = http_request(daemon.address, "POST", "/-/reload");
    assert_eq!(
        response,
        (403, "Lifecycle API is not enabled.\n".to_owned())
    );
}

#[test]
fn watched_rules_reload_on_change() {
    let setup = setup();
    let daemon = start(&setup, &["--watch-rules"]);
    rewrite(
        &setup.rules,
        "help = \"Requests.\"",
        "help = \"All requests.\"",
    );
    daemon.wait_for_log("Reloaded rules.", WAIT);
    let body = daemon.scrape();
    assert!(
        body.contains("# HELP requests_total All requests.\n"),
        "{body}"
    );
}

#[test]
fn ready_after_catch_up() {
    let setup = setup();
    let daemon = start(&setup, &[]);
    let deadline = std::time::Instant::now() + WAIT;
    while daemon.get("/ready").0 != 200 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(daemon.get("/ready"), (200, "ready\n".to_owned()));
}

#[test]
fn build_and_process_metrics_served() {
    let setup = setup();
    let daemon = start(&setup, &[]);
    let body = daemon.scrape();
    let version = format!(
        "logtally_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&body, &version), "1");
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(samples(&body).contains_key(name), "{name} missing");
    }
    let fds: u64 = value(&body, "process_open_fds").parse().unwrap();
    let counted = std::fs::read_dir(format!("/proc/{}/fd", daemon.pid()))
        .unwrap()
        .count() as u64;
    assert!(
        fds.abs_diff(counted) <= 2,
        "process_open_fds {fds}, /proc shows {counted}"
    );
}

#[test]
fn changed_globs_need_a_restart() {
    let setup = setup();
    let daemon = start(&setup, &[]);
    let glob = setup.log.to_str().unwrap().replace("access.log", "*.log");
    let text = std::fs::read_to_string(&setup.rules).unwrap();
    std::fs::write(&setup.rules, format!("files = [\"{glob}\"]\n{text}")).unwrap();
    hangup(&daemon);

    let warning = "The `files` globs of the rules changed; logtally follows the logs they \
                   select from its next start.";
    let line = daemon.wait_for_log(warning, WAIT);
    assert!(line.contains("level=warn"), "{line}");
    daemon.wait_for_log("Reloaded rules.", WAIT);
}
