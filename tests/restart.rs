//! Restarts with a positions file: every line written is counted once across runs, whether
//! logtally stops cleanly or is killed, and whatever rotation happens while it is down.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Daemon, append, samples, stderr, value, write_file};

const WAIT: Duration = Duration::from_secs(20);

const RULES: &str = r#"
[parse]
regex = '''^line (?P<number>\d+) (?P<bytes>\d+)$'''

[[metric]]
name = "lines_total"
type = "counter"
help = "Lines written."

[[metric]]
name = "line_bytes_total"
type = "counter"
help = "Sum of the bytes field."
value = "bytes"

[[metric]]
name = "line_bytes"
type = "histogram"
help = "Bytes per line."
value = "bytes"
buckets = [1, 5, 10]
"#;

/// A test directory with rules, a log and a positions file path.
struct Setup {
    dir: tempfile::TempDir,
    rules: PathBuf,
    log: PathBuf,
    positions: PathBuf,
}

impl Setup {
    fn new(rules: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let rules = write_file(dir.path(), "rules.toml", rules);
        let log = dir.path().join("access.log");
        std::fs::write(&log, b"").unwrap();
        let positions = dir.path().join("state/positions.json");
        std::fs::create_dir(dir.path().join("state")).unwrap();
        Setup {
            dir,
            rules,
            log,
            positions,
        }
    }

    /// Starts a daemon on `access.log` with the positions file saved every 100 ms.
    fn start(&self, extra: &[&str]) -> Daemon {
        self.start_on(self.log.to_str().unwrap(), extra)
    }

    /// Starts a daemon on the files `logs` names, returning once the first glob expansion is done.
    fn start_on(&self, logs: &str, extra: &[&str]) -> Daemon {
        let mut args = vec![
            "--rules",
            self.rules.to_str().unwrap(),
            "--logs",
            logs,
            "--positions",
            self.positions.to_str().unwrap(),
            "--positions.save-interval",
            "100ms",
        ];
        args.extend(extra);
        let daemon = Daemon::start(&args);
        daemon.wait_for_log("Initial glob expansion done.", WAIT);
        daemon
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Lines `line N B` for N in `range`, where B is N modulo 12.
fn lines(range: std::ops::Range<u64>) -> Vec<u8> {
    range
        .flat_map(|number| format!("line {number} {}\n", number % 12).into_bytes())
        .collect()
}

fn bytes_sum(range: std::ops::Range<u64>) -> u64 {
    range.map(|number| number % 12).sum()
}

/// Checks the three metrics against the lines numbered in `range`.
fn assert_counts(body: &str, range: std::ops::Range<u64>) {
    let count = range.end - range.start;
    assert_eq!(value(body, "lines_total"), count.to_string());
    assert_eq!(
        value(body, "line_bytes_total"),
        bytes_sum(range.clone()).to_string()
    );
    assert_eq!(value(body, "line_bytes_count"), count.to_string());
    let at_most_one = range.clone().filter(|number| number % 12 <= 1).count();
    assert_eq!(
        value(body, "line_bytes_bucket{le=\"1\"}"),
        at_most_one.to_string()
    );
}

/// Starts the daemon again and checks that it counts lines `0..total`, each once.
fn restart_counts_each_once(setup: &Setup, total: u64) {
    let daemon = setup.start(&[]);
    let body = daemon.wait_for("lines_total", &total.to_string(), WAIT);
    assert_counts(&body, 0..total);
    // A line read twice would push the count past `total` after it was reached.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(value(&daemon.scrape(), "lines_total"), total.to_string());
}

fn kill(daemon: Daemon) {
    let pid = daemon_pid(&daemon);
    Command::new("kill").args(["-KILL", &pid]).status().unwrap();
    drop(daemon);
}

fn daemon_pid(daemon: &Daemon) -> String {
    daemon.pid().to_string()
}

#[test]
fn sigterm_saves_and_restart_continues() {
    let setup = Setup::new(RULES);
    let daemon = setup.start(&[]);
    append(&setup.log, &lines(0..100));
    daemon.wait_for("lines_total", "100", WAIT);
    assert_eq!(daemon.terminate().code(), Some(0));

    append(&setup.log, &lines(100..150));
    let daemon = setup.start(&[]);
    let body = daemon.wait_for("lines_total", "150", WAIT);
    assert_counts(&body, 0..150);
    // Only the lines written while logtally was down are read; the per-file counts are
    // published after each read, so they may trail the metrics briefly.
    let read = format!(
        "logtally_lines_read_total{{path=\"{}\"}}",
        setup.log.display()
    );
    daemon.wait_for(&read, "50", WAIT);
}

#[test]
fn sigkill_mid_stream_counts_once() {
    let setup = Setup::new(RULES);
    let daemon = setup.start(&[]);
    // Write in bursts while saves happen every 100 ms, then kill without warning.
    for burst in 0..20 {
        append(&setup.log, &lines(burst * 500..(burst + 1) * 500));
        std::thread::sleep(Duration::from_millis(15));
    }
    daemon.wait_for("lines_total", "10000", WAIT);
    kill(daemon);

    append(&setup.log, &lines(10_000..12_000));
    let daemon = setup.start(&[]);
    let body = daemon.wait_for("lines_total", "12000", WAIT);
    assert_counts(&body, 0..12_000);
}

#[test]
fn rename_while_down_reads_old_tail_then_new() {
    let setup = Setup::new(RULES);
    let daemon = setup.start(&[]);
    append(&setup.log, &lines(0..100));
    daemon.wait_for("lines_total", "100", WAIT);
    kill(daemon);

    // The old file gets more lines, is renamed to a name the glob does not match, and a new
    // file takes its place.
    append(&setup.log, &lines(100..130));
    std::fs::rename(&setup.log, setup.path("access.log.1")).unwrap();
    append(&setup.log, &lines(130..200));

    restart_counts_each_once(&setup, 200);
}

#[test]
fn copytruncate_while_down_reads_copy_tail() {
    let setup = Setup::new(RULES);
    let daemon = setup.start(&[]);
    append(&setup.log, &lines(0..100));
    daemon.wait_for("lines_total", "100", WAIT);
    // A save after the lines, so the positions hold the file's first bytes. With an empty
    // file at the last save, the copy could not be distinguished from the truncated original.
    std::thread::sleep(Duration::from_millis(400));
    kill(daemon);

    append(&setup.log, &lines(100..120));
    std::fs::copy(&setup.log, setup.path("access.log.1")).unwrap();
    std::fs::write(&setup.log, b"").unwrap();
    append(&setup.log, &lines(120..150));

    restart_counts_each_once(&setup, 150);
}

#[test]
fn two_renames_while_down_read_every_file() {
    let setup = Setup::new(RULES);
    // An archive from before the first run, unchanged since, and another log that only
    // shares the name's start: neither is read.
    append(&setup.path("access.log.9"), &lines(1000..1010));
    append(&setup.path("access.log.json"), &lines(2000..2010));
    let daemon = setup.start(&[]);
    append(&setup.log, &lines(0..100));
    daemon.wait_for("lines_total", "100", WAIT);
    assert_eq!(daemon.terminate().code(), Some(0));

    // Two rotations, logrotate style, while logtally is down: the file created by the first
    // one is rotated away by the second before logtally could see it.
    append(&setup.log, &lines(100..130));
    append(&setup.path("access.log.json"), &lines(2010..2020));
    std::fs::rename(&setup.log, setup.path("access.log.1")).unwrap();
    append(&setup.log, &lines(130..170));
    std::fs::rename(setup.path("access.log.1"), setup.path("access.log.2")).unwrap();
    std::fs::rename(&setup.log, setup.path("access.log.1")).unwrap();
    append(&setup.log, &lines(170..200));

    restart_counts_each_once(&setup, 200);
}

#[test]
fn two_copytruncates_while_down_read_every_copy() {
    let setup = Setup::new(RULES);
    let daemon = setup.start(&[]);
    append(&setup.log, &lines(0..100));
    daemon.wait_for("lines_total", "100", WAIT);
    assert_eq!(daemon.terminate().code(), Some(0));

    let copy_and_truncate = || {
        std::fs::copy(&setup.log, setup.path("access.log.1")).unwrap();
        std::fs::write(&setup.log, b"").unwrap();
    };
    append(&setup.log, &lines(100..120));
    copy_and_truncate();
    append(&setup.log, &lines(120..140));
    std::fs::rename(setup.path("access.log.1"), setup.path("access.log.2")).unwrap();
    copy_and_truncate();
    append(&setup.log, &lines(140..150));

    restart_counts_each_once(&setup, 150);
}

#[test]
fn deleted_rotation_with_same_first_bytes_not_reread() {
    let setup = Setup::new(RULES);
    let daemon = setup.start(&[]);
    append(&setup.log, &lines(0..10));
    daemon.wait_for("lines_total", "10", WAIT);

    // The next file starts with the same bytes as the first, so only its inode distinguishes
    // them. The first is rotated, then closed after its grace period.
    std::fs::rename(&setup.log, setup.path("access.log.1")).unwrap();
    append(&setup.log, &lines(0..20));
    daemon.wait_for("lines_total", "30", WAIT);
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(daemon.terminate().code(), Some(0));

    // While down, the first file is deleted and the second rotated into its name.
    std::fs::remove_file(setup.path("access.log.1")).unwrap();
    std::fs::rename(&setup.log, setup.path("access.log.1")).unwrap();
    append(&setup.log, &lines(20..25));

    let daemon = setup.start(&[]);
    let body = daemon.wait_for("lines_total", "35", WAIT);
    let bytes = bytes_sum(0..10) + bytes_sum(0..20) + bytes_sum(20..25);
    assert_eq!(value(&body, "line_bytes_total"), bytes.to_string());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(value(&daemon.scrape(), "lines_total"), "35");
}

#[test]
fn rotation_behind_symlink_while_down_reads_every_line() {
    let setup = Setup::new(RULES);
    // Container runtimes link /var/log/containers/<name>.log to a file under /var/log/pods,
    // and rotate that file where it is.
    let pods = setup.path("pods");
    let containers = setup.path("containers");
    std::fs::create_dir_all(&pods).unwrap();
    std::fs::create_dir_all(&containers).unwrap();
    let target = pods.join("0.log");
    std::fs::write(&target, b"").unwrap();
    std::os::unix::fs::symlink(&target, containers.join("web.log")).unwrap();
    let glob = format!("{}/*.log", containers.display());

    let daemon = setup.start_on(&glob, &[]);
    append(&target, &lines(0..10));
    daemon.wait_for("lines_total", "10", WAIT);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(daemon.terminate().code(), Some(0));

    append(&target, &lines(10..15));
    std::fs::rename(&target, pods.join("0.log.20261204-100000")).unwrap();
    append(&target, &lines(15..18));

    let daemon = setup.start_on(&glob, &[]);
    let body = daemon.wait_for("lines_total", "18", WAIT);
    assert_counts(&body, 0..18);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(value(&daemon.scrape(), "lines_total"), "18");
}

#[test]
fn renamed_to_matching_name_not_reread() {
    let setup = Setup::new(RULES);
    let glob = format!("{}/access.log*", setup.dir.path().display());
    let daemon = setup.start_on(&glob, &[]);
    append(&setup.log, &lines(0..100));
    daemon.wait_for("lines_total", "100", WAIT);
    assert_eq!(daemon.terminate().code(), Some(0));

    std::fs::rename(&setup.log, setup.path("access.log.1")).unwrap();
    append(&setup.log, &lines(100..110));

    let daemon = setup.start_on(&glob, &[]);
    let body = daemon.wait_for("lines_total", "110", WAIT);
    assert_counts(&body, 0..110);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(value(&daemon.scrape(), "lines_total"), "110");
}

#[test]
fn new_file_while_down_read_from_start() {
    let setup = Setup::new(RULES);
    let glob = format!("{}/*.log", setup.dir.path().display());
    let daemon = setup.start_on(&glob, &[]);
    assert_eq!(daemon.terminate().code(), Some(0));

    append(&setup.path("other.log"), &lines(0..7));
    let daemon = setup.start_on(&glob, &[]);
    daemon.wait_for("lines_total", "7", WAIT);
}

#[test]
fn changed_metric_starts_afresh() {
    let setup = Setup::new(RULES);
    let daemon = setup.start(&[]);
    append(&setup.log, &lines(0..10));
    daemon.wait_for("lines_total", "10", WAIT);
    assert_eq!(daemon.terminate().code(), Some(0));

    // New buckets change the histogram's definition; new help text changes nothing.
    let changed = RULES
        .replace("buckets = [1, 5, 10]", "buckets = [2, 4]")
        .replace(
            "help = \"Lines written.\"",
            "help = \"Every line written.\"",
        );
    std::fs::write(&setup.rules, changed).unwrap();
    append(&setup.log, &lines(10..13));
    let daemon = setup.start(&[]);
    let body = daemon.wait_for("lines_total", "13", WAIT);
    assert_eq!(
        value(&body, "line_bytes_total"),
        bytes_sum(0..13).to_string()
    );
    assert_eq!(value(&body, "line_bytes_count"), "3");
    assert_eq!(value(&body, "line_bytes_bucket{le=\"2\"}"), "1");
}

#[test]
fn corrupt_positions_give_fresh_start() {
    let setup = Setup::new(RULES);
    std::fs::write(&setup.positions, b"{ this is not json").unwrap();
    append(&setup.log, &lines(0..5));

    let daemon = setup.start(&["--from-start"]);
    let warning = daemon.wait_for_log("Ignoring the positions file", WAIT);
    assert!(warning.contains("is not a valid state file"), "{warning}");
    daemon.wait_for("lines_total", "5", WAIT);
    assert_eq!(daemon.terminate().code(), Some(0));

    // The next run has a valid file again.
    let text = std::fs::read_to_string(&setup.positions).unwrap();
    assert!(text.starts_with("{\"version\":1,"), "{text}");
}

#[test]
fn positions_file_format() {
    let setup = Setup::new(RULES);
    let daemon = setup.start(&[]);
    append(&setup.log, b"line 1 3\nline 2 4\npartial");
    daemon.wait_for("lines_total", "2", WAIT);
    assert_eq!(daemon.terminate().code(), Some(0));

    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&setup.positions).unwrap()).unwrap();
    assert_eq!(state["version"], 1);
    let file = &state["files"][0];
    assert_eq!(file["path"], setup.log.to_str().unwrap());
    // The offset is just past the last complete line, not the partial one.
    assert_eq!(file["offset"], 18);
    let metadata = std::fs::metadata(&setup.log).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(file["inode"], metadata.ino());
    assert_eq!(file["device"], metadata.dev());
    // The fingerprint is the file's first bytes, whole lines or not.
    assert_eq!(file["fingerprint"], hex(b"line 1 3\nline 2 4\npartial"));
    let families = state["families"].as_array().unwrap();
    let lines = families
        .iter()
        .find(|family| {
            family["definition"]
                .as_str()
                .unwrap()
                .starts_with("counter lines_total ")
        })
        .unwrap();
    assert_eq!(lines["series"][0]["value"], "2");
    assert!(!Path::new(&format!("{}.tmp", setup.positions.display())).exists());
    let _ = (samples, stderr);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
