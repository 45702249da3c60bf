//! The status pages of `logtally run` over real HTTP on 127.0.0.1: `/status.json` with exact
//! counts, before and after a failed reload.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Daemon, http_request, write_file};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

const RULES: &str = r#"
[parse]
regex = '''^(?P<method>\S+) (?P<code>\d{3}) (?P<bytes>\S+)$'''

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
"#;

/// Three lines that match, one of them without a byte count, and two that do not: a text and
/// an empty line.
const LOG: &str = "GET 200 512\nPOST 201 -\nnot a request\nGET 404 0\n\n";

/// The message of the read error that [`unreadable_log`] gives.
const EIO: &str = "Input/output error (os error 5)";

/// Links `name` in `dir` to `/proc/self/mem`. Reading that file at offset 0 fails with an I/O
/// error in every process, so the daemon gets a real read error.
fn unreadable_log(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::os::unix::fs::symlink("/proc/self/mem", &path).unwrap();
    path
}

/// Starts a daemon that reads `access.log` (holding [`LOG`]) from its start, and an unreadable
/// `broken.log`, with the lifecycle API on. The rescan interval is long, so each file is read
/// once at start and again only on a file event.
fn start(dir: &Path, rules_name: &str) -> (PathBuf, PathBuf, PathBuf, Daemon) {
    let rules = write_file(dir, rules_name, RULES);
    let log = write_file(dir, "access.log", LOG);
    let broken = unreadable_log(dir, "broken.log");
    let glob = format!("{}/*.log", dir.display());
    let daemon = Daemon::start(&[
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        &glob,
        "--from-start",
        "--rescan-interval",
        "1h",
        "--web.enable-lifecycle",
    ]);
    let errors = format!(
        "logtally_file_errors_total{{path=\"{}\"}}",
        broken.display()
    );
    daemon.wait_for(&errors, "1", WAIT);
    let lines = format!("logtally_lines_read_total{{path=\"{}\"}}", log.display());
    daemon.wait_for(&lines, "5", WAIT);
    (rules, log, broken, daemon)
}

fn status_json(daemon: &Daemon) -> Value {
    let (status, body) = daemon.get("/status.json");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("/status.json is JSON")
}

#[test]
fn status_json_exact_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, log, broken, daemon) = start(dir.path(), "rules.toml");
    let status = status_json(&daemon);

    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["ready"], true);
    assert_eq!(status["reload"]["successful"], true);
    assert_eq!(status["reload"]["last_reload_time"], Value::Null);
    assert_eq!(status["reload"]["errors"], json!([]));

    // "GET 200 512", "POST 201 -" and "GET 404 0" match; "not a request" and the empty line
    // do not.
    assert_eq!(
        status["rule_files"],
        json!([{
            "path": rules.to_str().unwrap(),
            "metrics": 2,
            "lines_matched": 3,
            "lines_unmatched": 2,
            "values_skipped": {"dash": 1, "empty": 0, "invalid": 0, "negative": 0},
            "last_reload_successful": true,
            "last_reload_error": null,
        }])
    );

    let files = status["followed_files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(
        files[0],
        json!({
            "path": log.to_str().unwrap(),
            "followed": true,
            "offset": LOG.len(),
            "size": LOG.len(),
            "lines_read": 5,
            "bytes_read": LOG.len(),
            "rotations": 0,
            "truncations": 0,
            "errors": 0,
            "last_error": null,
        })
    );
    assert_eq!(files[1]["path"], broken.to_str().unwrap());
    assert_eq!(files[1]["followed"], true);
    assert_eq!(files[1]["offset"], 0);
    assert_eq!(files[1]["lines_read"], 0);
    assert_eq!(files[1]["errors"], 1);
    assert_eq!(
        files[1]["last_error"]["message"],
        format!("failed to read: {EIO}")
    );

    assert_eq!(status["recent_events_total"], 1);
    let events = status["recent_events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["level"], "warn");
    assert_eq!(events[0]["message"], "Failed to read log file; will retry.");
    assert_eq!(
        events[0]["fields"],
        json!({"path": broken.to_str().unwrap(), "error": EIO, "suppressed": "0"})
    );
    assert_eq!(events[0]["time"], files[1]["last_error"]["time"]);
}

#[test]
fn failed_reload_shown_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, _log, _broken, daemon) = start(dir.path(), "rules.toml");
    let text = std::fs::read_to_string(&rules).unwrap();
    std::fs::write(
        &rules,
        text.replacen("type = \"counter\"", "type = \"countr\"", 1),
    )
    .unwrap();
    assert_eq!(http_request(daemon.address, "POST", "/-/reload").0, 500);

    let status = status_json(&daemon);
    let message =
        "unknown metric type \"countr\"; expected \"counter\", \"gauge\" or \"histogram\"";
    let text = format!("{}:7:8: {message}", rules.display());
    assert_eq!(status["reload"]["successful"], false);
    assert_eq!(
        status["reload"]["errors"],
        json!([{
            "path": rules.to_str().unwrap(),
            "line": 7,
            "column": 8,
            "message": message,
            "text": text,
        }])
    );
    let reloaded = status["reload"]["last_reload_time"].as_str().unwrap();
    assert!(reloaded > status["reload"]["last_success_time"].as_str().unwrap());

    // The old rules stay in force, with their counts.
    let file = &status["rule_files"][0];
    assert_eq!(file["last_reload_successful"], false);
    assert_eq!(file["last_reload_error"], text);
    assert_eq!(file["metrics"], 2);
    assert_eq!(file["lines_matched"], 3);

    assert_eq!(status["recent_events_total"], 2);
    let newest = &status["recent_events"][0];
    assert_eq!(newest["level"], "error");
    assert_eq!(
        newest["message"],
        "Reloading rules failed; keeping the old rules."
    );
    assert_eq!(newest["fields"]["errors"], text);
}
