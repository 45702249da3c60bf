//! The status pages of `logtally run` over real HTTP on 127.0.0.1: `/status.json` with exact
//! counts, before and after a failed reload, and `/` and `/status` as headless Chromium shows
//! them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{Daemon, append, http_request, samples, write_file};
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

/// A headless Chromium that contacts 127.0.0.1 only: background networking, component
/// updates, sync, default apps, extensions and the first-run setup are off, each run gets a
/// fresh profile, and no host name resolves.
struct Browser {
    program: PathBuf,
    profile: tempfile::TempDir,
}

impl Browser {
    /// Returns the browser, or `None` after printing why the test is skipped.
    fn find() -> Option<Browser> {
        let program = common::require_program("chromium")?;
        let profile = tempfile::tempdir().unwrap();
        Some(Browser { program, profile })
    }

    /// Loads `url` and returns the page's DOM, serialized after the page has loaded.
    fn dump_dom(&self, url: &str) -> String {
        let mut child = Command::new(&self.program)
            .args([
                "--headless",
                "--disable-gpu",
                // Chromium refuses to start as root with its sandbox, and CI runs as root.
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-default-apps",
                "--disable-extensions",
                // With only the flags above, Chromium 156 still looked up clients2.google.com
                // and update.googleapis.com at the system's DNS server (seen with strace).
                // Every name now fails without a lookup; the pages use the address itself.
                // NOTE: Chromium still connects a UDP socket to 2001:4860:4860::8888 to learn
                // whether IPv6 is routed. Connecting a UDP socket sends no packet.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                // Connect directly even when the environment names a proxy.
                "--no-proxy-server",
            ])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .args(["--dump-dom", url])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromium");
        let stdout = child.stdout.take().unwrap();
        let reader = thread::spawn(move || std::io::read_to_string(stdout).unwrap());
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("chromium did not finish loading {url} within 60 s");
            }
            thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "chromium failed on {url}: {status}");
        reader.join().unwrap()
    }
}

/// Extracts the text of each cell of each table row in `dom` as a person reads it, with tags
/// removed and character references decoded.
fn table_rows(dom: &str) -> Vec<Vec<String>> {
    dom.split("<tr>")
        .skip(1)
        .map(|row| {
            let row = row.split("</tr>").next().unwrap();
            row.split("</td>")
                .filter_map(|cell| cell.split_once("<td").map(|(_, rest)| rest))
                .map(|cell| visible_text(cell.split_once('>').unwrap().1))
                .collect()
        })
        .filter(|cells: &Vec<String>| !cells.is_empty())
        .collect()
}

/// Removes tags and decodes the character references an HTML serializer writes in text.
fn visible_text(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for character in html.chars() {
        match character {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => text.push(character),
            _ => {}
        }
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

#[test]
fn status_pages_in_browser() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (rules, log, broken, daemon) = start(dir.path(), "rules <proxy> & \"edge\".toml");

    // 1000 more bytes in 10 lines of 100 bytes each, all matching.
    let line = format!("GET 200 {}\n", "9".repeat(91));
    assert_eq!(line.len(), 100);
    append(&log, line.repeat(10).as_bytes());
    let lines = format!("logtally_lines_read_total{{path=\"{}\"}}", log.display());
    let body = daemon.wait_for(&lines, "15", WAIT);
    let offset = samples(&body)
        [&format!("logtally_file_offset_bytes{{path=\"{}\"}}", log.display())]
        .clone();
    assert_eq!(offset, (LOG.len() + 1000).to_string());

    let base = format!("http://{}", daemon.address);
    let landing = browser.dump_dom(&format!("{base}/"));
    assert!(
        landing.contains("<a href=\"/status\">Status</a>"),
        "{landing}"
    );
    assert!(
        landing.contains("<a href=\"/metrics\">Metrics</a>"),
        "{landing}"
    );

    let page = browser.dump_dom(&format!("{base}/status"));
    assert!(page.contains("<title>logtally status</title>"), "{page}");
    // The quotes and angle brackets of the file name stay text: no element came of them.
    assert!(!page.contains("<proxy>"), "{page}");
    let rows = table_rows(&page);
    let row = |first: &str| {
        rows.iter()
            .find(|cells| cells[0] == first)
            .unwrap_or_else(|| panic!("no row for {first} in {rows:#?}"))
            .clone()
    };

    let total = (LOG.len() + 1000).to_string();
    assert_eq!(
        row(rules.to_str().unwrap()),
        [rules.to_str().unwrap(), "2", "13", "2", "1 (dash 1)", "ok"]
    );
    assert_eq!(
        row(log.to_str().unwrap()),
        [
            log.to_str().unwrap(),
            "yes",
            &total,
            &total,
            "15",
            "0",
            "0",
            "0",
            ""
        ]
    );
    let broken_row = row(broken.to_str().unwrap());
    assert_eq!(
        &broken_row[..8],
        [
            broken.to_str().unwrap(),
            "yes",
            "0",
            "0",
            "0",
            "0",
            "0",
            "1"
        ]
    );
    assert!(
        broken_row[8].ends_with(&format!(": failed to read: {EIO}")),
        "{broken_row:?}"
    );
    let warning = rows
        .iter()
        .find(|cells| {
            cells.get(2).map(String::as_str) == Some("Failed to read log file; will retry.")
        })
        .unwrap_or_else(|| panic!("no warning row in {rows:#?}"));
    assert_eq!(warning[1], "warn");
    assert_eq!(
        warning[3],
        format!("path: {}\nerror: {EIO}\nsuppressed: 0", broken.display())
    );
}

/// Collects the path of every object key in `value`, with `[]` for array elements, leaving
/// out the keys inside `fields`, which differ from event to event.
fn key_paths(value: &Value, prefix: &str, paths: &mut std::collections::BTreeSet<String>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                let path = format!("{prefix}.{key}");
                paths.insert(path.clone());
                if key != "fields" {
                    key_paths(child, &path, paths);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                key_paths(item, &format!("{prefix}[]"), paths);
            }
        }
        _ => {}
    }
}

#[test]
fn documented_shape_matches() {
    let markdown = std::fs::read_to_string(common::root().join("docs/status.md")).unwrap();
    let example = markdown
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a JSON example in docs/status.md");
    let documented: Value = serde_json::from_str(example).expect("the example is JSON");

    // The example shows a failed reload and a read error, so the daemon gets both too.
    let dir = tempfile::tempdir().unwrap();
    let (rules, _log, _broken, daemon) = start(dir.path(), "rules.toml");
    let text = std::fs::read_to_string(&rules).unwrap();
    std::fs::write(
        &rules,
        text.replacen("type = \"counter\"", "type = \"countr\"", 1),
    )
    .unwrap();
    assert_eq!(http_request(daemon.address, "POST", "/-/reload").0, 500);
    let served = status_json(&daemon);

    let mut documented_paths = std::collections::BTreeSet::new();
    key_paths(&documented, "", &mut documented_paths);
    let mut served_paths = std::collections::BTreeSet::new();
    key_paths(&served, "", &mut served_paths);
    assert_eq!(documented_paths, served_paths);
    assert_eq!(served_paths.len(), 44, "{served_paths:#?}");
}
