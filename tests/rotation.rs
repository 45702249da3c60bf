//! Rotation under load and at scale. A writer thread appends numbered lines at full speed while
//! the test rotates the log again and again, by each method logtally follows, with file events
//! and with polling. Afterwards every line written must be counted exactly once. Further tests
//! cover open descriptors after many rotations, a thousand files under one glob, and an
//! unreadable file.

mod common;

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::{Daemon, append, binary, find_program, http_get, samples, value, write_file};

const WAIT: Duration = Duration::from_secs(10);

/// Rotations in each torture test.
const ROTATIONS: u64 = 30;

/// Returns the lines the writer thread may add in rotation round `round`, and once more after
/// the last round. The count varies between 60 and 139 so that the log's size differs between
/// truncations in most rounds. `truncate_same_size_rewrite_counted` tests an equal size.
fn burst_lines(round: u64) -> u64 {
    60 + round * 37 % 80
}

/// Lines written through the old handle after a rename, before the writer reopens its log.
const LINES_AFTER_RENAME: u64 = 3;

const FILES_FOLLOWED: &str = "logtally_files_followed";

/// What logtally logs when a followed path names no file any more.
const PATH_GONE_MESSAGE: &str = "File was deleted or moved away";

/// What logtally logs when it starts following a file. Waiting for it after each rename or
/// deletion consumes that rotation's log lines, so the next round cannot match an old line.
const FOLLOWING_MESSAGE: &str = "Following file.";

const RULES: &str = r#"
[parse]
regex = '''^seq (?P<number>\d+)$'''

[[metric]]
name = "lines_total"
type = "counter"
help = "Lines written by the test."

[[metric]]
name = "line_numbers_total"
type = "counter"
help = "Sum of the sequence numbers, so that a lost line and a doubled one cannot cancel out."
value = "number"
"#;

fn unmatched(rules: &Path) -> String {
    format!(
        "logtally_lines_unmatched_total{{rules=\"{}\"}}",
        rules.display()
    )
}

fn file_errors(path: &Path) -> String {
    format!("logtally_file_errors_total{{path=\"{}\"}}", path.display())
}

/// Creates a temporary directory and returns it with its path with symlinks resolved, which is
/// how `/proc` shows the files logtally has open.
fn temporary_directory() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    (dir, root)
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|error| panic!("opening {} for append: {error}", path.display()))
}

/// Formats the line with sequence number `number`.
fn numbered_line(number: u64) -> String {
    format!("seq {number}\n")
}

/// Lists the files a process has open, as `/proc/PID/fd` shows them.
fn open_files(pid: u32) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    // A descriptor closed during the listing has no link left to read, so it is skipped.
    entries
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .collect()
}

fn descriptor_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("listing the daemon's descriptors")
        .count()
}

/// Waits until the daemon has the file now at `path` open, before rotation `round`.
fn wait_open(daemon: &Daemon, path: &Path, round: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let open = open_files(daemon.pid());
        if open.iter().any(|file| file == path) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "before rotation {round}, logtally did not open {} within {WAIT:?}; open files: \
             {open:?}",
            path.display()
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until `lines_total` is `expected`, or fails with `context` and the daemon's counts
/// for the files it reads.
fn wait_lines(daemon: &Daemon, expected: u64, context: &str) {
    wait_count(daemon, &expected.to_string(), context, |count| {
        count == expected
    });
}

/// Waits until `lines_total` passes `done`, which `condition` describes, or fails with
/// `context` and the daemon's counts for the files it reads.
fn wait_count(daemon: &Daemon, condition: &str, context: &str, done: impl Fn(u64) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let body = daemon.scrape();
        let all = samples(&body);
        let count = all.get("lines_total").and_then(|count| count.parse().ok());
        if count.is_some_and(&done) {
            return;
        }
        if Instant::now() > deadline {
            let counts: Vec<String> = all
                .iter()
                .filter(|(series, _)| {
                    series.starts_with("lines_total") || series.starts_with("logtally_file")
                })
                .map(|(series, value)| format!("{series} {value}"))
                .collect();
            panic!(
                "{context}: lines_total did not reach {condition} within {WAIT:?}; last \
                 counts:\n{}",
                counts.join("\n")
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The writer's open log and what it has written. Holding the lock pauses the writer thread.
struct Log {
    file: File,
    /// Lines written so far, which is also the next line's sequence number.
    lines: u64,
    number_sum: u64,
}

impl Log {
    fn write_lines(&mut self, count: u64) {
        let mut text = String::new();
        for _ in 0..count {
            text.push_str(&numbered_line(self.lines));
            self.number_sum += self.lines;
            self.lines += 1;
        }
        self.file
            .write_all(text.as_bytes())
            .expect("writing to the log");
    }

    /// Opens `path` for appending, creating it if missing, as a log writer does when it reopens
    /// its log.
    fn reopen(&mut self, path: &Path) {
        self.file = open_append(path);
    }
}

struct WriterShared {
    log: Mutex<Log>,
    /// Lines the writer may have written in total; the test raises it once per rotation.
    allowance: AtomicU64,
    /// The line count as of the writer thread's last batch, readable without pausing it.
    written: AtomicU64,
    stop: AtomicBool,
}

impl WriterShared {
    fn lock(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A thread that appends numbered lines in batches of one to five, without pausing, until it
/// reaches its allowance. Dropping it stops the thread.
struct Writer {
    shared: Arc<WriterShared>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts writing to `path`, opened with `O_APPEND` so that writes after a truncation land
    /// at the new end.
    fn start(path: &Path) -> Writer {
        let shared = Arc::new(WriterShared {
            log: Mutex::new(Log {
                file: open_append(path),
                lines: 0,
                number_sum: 0,
            }),
            allowance: AtomicU64::new(0),
            written: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let thread = {
            let shared = shared.clone();
            thread::spawn(move || write_until_stopped(&shared))
        };
        Writer {
            shared,
            thread: Some(thread),
        }
    }

    /// Pauses the writer thread while the guard lives, and gives access to its log.
    fn pause(&self) -> MutexGuard<'_, Log> {
        self.shared.lock()
    }

    /// Raises the allowance by `lines` and returns the new allowance.
    fn allow(&self, lines: u64) -> u64 {
        self.shared.allowance.fetch_add(lines, Ordering::SeqCst) + lines
    }

    /// Waits until the writer thread has written at least `lines` lines in total.
    fn wait_written(&self, lines: u64) {
        let deadline = Instant::now() + WAIT;
        while self.shared.written.load(Ordering::SeqCst) < lines {
            assert!(
                Instant::now() < deadline,
                "the writer did not reach {lines} lines within {WAIT:?}"
            );
            // Yielding rather than sleeping, so that the rotation begins before the burst ends.
            thread::yield_now();
        }
    }

    /// Waits until the writer has used its allowance, stops it, and returns the number of
    /// lines written and the sum of their sequence numbers.
    fn finish(mut self) -> (u64, u64) {
        let deadline = Instant::now() + WAIT;
        loop {
            let log = self.shared.lock();
            if log.lines >= self.shared.allowance.load(Ordering::SeqCst) {
                break;
            }
            drop(log);
            assert!(
                Instant::now() < deadline,
                "the writer did not finish within {WAIT:?}"
            );
            thread::sleep(Duration::from_millis(1));
        }
        self.stop();
        let log = self.shared.lock();
        (log.lines, log.number_sum)
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the writer thread panicked");
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn write_until_stopped(shared: &WriterShared) {
    while !shared.stop.load(Ordering::SeqCst) {
        let mut log = shared.lock();
        let left = shared
            .allowance
            .load(Ordering::SeqCst)
            .saturating_sub(log.lines);
        if left == 0 {
            drop(log);
            thread::sleep(Duration::from_micros(100));
            continue;
        }
        let batch = left.min(1 + log.lines % 5);
        log.write_lines(batch);
        shared.written.store(log.lines, Ordering::SeqCst);
    }
}

/// How the test rotates the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rotation {
    RenameCreate,
    CopyTruncate,
    DeleteRecreate,
    Truncate,
    SymlinkSwap,
}

/// How the daemon learns of changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Events,
    Polling,
}

/// Runs the writer against a daemon following `*.log` in a temporary directory, rotating the
/// log `ROTATIONS` times, then checks that every line written was counted exactly once.
fn torture(rotation: Rotation, mode: Mode) {
    let (_dir, root) = temporary_directory();
    let rules = write_file(&root, "rules.toml", RULES);
    let data = root.join("data");
    let log = match rotation {
        Rotation::SymlinkSwap => root.join("current.log"),
        _ => root.join("access.log"),
    };
    // The file the writer writes to: the log itself, or the symlink's target.
    let mut target = log.clone();
    if rotation == Rotation::SymlinkSwap {
        std::fs::create_dir(&data).unwrap();
        target = data.join("gen-0.log");
        File::create(&target).unwrap();
        symlink(&target, &log).unwrap();
    } else {
        File::create(&log).unwrap();
    }

    let glob = format!("{}/*.log", root.display());
    // The rescan is a safety net for missed events, so an hour keeps it from hiding a rotation
    // that the file events or the polls missed.
    let mut args = vec![
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        &glob,
        "--rescan-interval",
        "1h",
    ];
    if mode == Mode::Polling {
        args.extend(["--poll-interval", "100ms"]);
    }
    let daemon = Daemon::start(&args);
    daemon.wait_following(&log);

    let writer = Writer::start(&target);
    // Lines written before the last copytruncate.
    let mut copied_lines = 0;
    for round in 0..ROTATIONS {
        let burst = burst_lines(round);
        writer.allow(burst / 2);
        // After a rotation logtally can read only what it had open or had read before it. A
        // file that the glob stops matching is read to its end through a handle opened while
        // it still matched. A copy is recognised by the first bytes logtally read from the
        // log, so logtally must have read a line written since the last copytruncate.
        match rotation {
            Rotation::RenameCreate | Rotation::DeleteRecreate => wait_open(&daemon, &log, round),
            Rotation::SymlinkSwap => wait_open(&daemon, &target, round),
            Rotation::CopyTruncate => wait_count(
                &daemon,
                &format!("more than {copied_lines}"),
                &format!("before copytruncate {round}"),
                |count| count > copied_lines,
            ),
            Rotation::Truncate => {}
        }
        // The rotation starts once half of the rest is written, while the writer goes on.
        let rest = burst - burst / 2;
        let allowance = writer.allow(rest);
        writer.wait_written(allowance - rest / 2);
        match rotation {
            Rotation::RenameCreate => rename_create(&daemon, &writer, &log, round),
            Rotation::CopyTruncate => copied_lines = copy_truncate(&writer, &log, round),
            Rotation::DeleteRecreate => delete_recreate(&daemon, &writer, &log, round),
            Rotation::Truncate => truncate(&daemon, &writer, round),
            Rotation::SymlinkSwap => {
                target = swap_symlink(&daemon, &writer, &log, &target, round);
            }
        }
    }
    writer.allow(burst_lines(ROTATIONS));
    let (lines, number_sum) = writer.finish();

    let expected = lines.to_string();
    wait_lines(&daemon, lines, "after the writer stopped");
    // A file read twice would push the count past the expected value after it was reached.
    thread::sleep(Duration::from_millis(500));
    let body = daemon.scrape();
    assert_eq!(value(&body, "lines_total"), expected, "lines counted twice");
    assert_eq!(
        value(&body, "line_numbers_total"),
        number_sum.to_string(),
        "the counted lines are not the lines written"
    );
    assert_eq!(
        value(&body, &unmatched(&rules)),
        "0",
        "lines were read from their middle"
    );
    // Truncation keeps the file, so only the other kinds make the path name another file.
    let rotations = match rotation {
        Rotation::CopyTruncate | Rotation::Truncate => 0,
        _ => ROTATIONS,
    };
    let rotations_series = format!(
        "logtally_file_rotations_total{{path=\"{}\"}}",
        log.display()
    );
    assert_eq!(value(&body, &rotations_series), rotations.to_string());
}

/// Renames the log away while the writer keeps writing to it, writes a few more lines through
/// the old handle, then reopens the log under its name. On even rounds the writer reopens only
/// after logtally has logged that the path names no file. On odd rounds it reopens at once,
/// so that logtally often finds the rename and the new file in one look.
fn rename_create(daemon: &Daemon, writer: &Writer, log: &Path, round: u64) {
    let rotated = log.with_file_name(format!("access.log.{round}"));
    std::fs::rename(log, &rotated).unwrap();
    if round.is_multiple_of(2) {
        daemon.wait_for_log(PATH_GONE_MESSAGE, WAIT);
    }
    {
        let mut paused = writer.pause();
        paused.write_lines(LINES_AFTER_RENAME);
        paused.reopen(log);
    }
    daemon.wait_for_log(FOLLOWING_MESSAGE, WAIT);
}

/// Copies the log and truncates it in place, as logrotate's `copytruncate` does, and returns
/// the number of lines written before the truncation. The writer is paused from the copy to
/// the truncation, because lines written then are lost for any reader. Every earlier line is
/// in the copy or still in the log.
fn copy_truncate(writer: &Writer, log: &Path, round: u64) -> u64 {
    let paused = writer.pause();
    let copy = log.with_file_name(format!("access.log.{round}"));
    std::fs::copy(log, copy).unwrap();
    paused.file.set_len(0).unwrap();
    paused.lines
}

/// Deletes the log and has the writer create it again. On even rounds the new file appears
/// only after logtally has logged that the path names no file.
fn delete_recreate(daemon: &Daemon, writer: &Writer, log: &Path, round: u64) {
    {
        // Paused, because lines written to the deleted file after logtally has read it to its
        // end and closed it are lost for any reader.
        let mut paused = writer.pause();
        std::fs::remove_file(log).unwrap();
        if round.is_multiple_of(2) {
            daemon.wait_for_log(PATH_GONE_MESSAGE, WAIT);
        }
        paused.reopen(log);
    }
    daemon.wait_for_log(FOLLOWING_MESSAGE, WAIT);
}

/// Truncates the log to zero while the writer keeps its handle, so its next lines rewrite the
/// file from the start.
fn truncate(daemon: &Daemon, writer: &Writer, round: u64) {
    let paused = writer.pause();
    // Lines still unread at the truncation are gone from disk, so logtally must have counted
    // every line first.
    wait_lines(
        daemon,
        paused.lines,
        &format!("before truncation {round}, the lines written since the last one were not read"),
    );
    paused.file.set_len(0).unwrap();
}

/// Points the symlink `link` at a new target in the data directory, atomically through a
/// temporary symlink renamed over it, and moves the writer to the new target after a few more
/// lines to the old one. On even rounds the writer moves only after logtally has opened the
/// new target. Returns the new target.
fn swap_symlink(
    daemon: &Daemon,
    writer: &Writer,
    link: &Path,
    target: &Path,
    round: u64,
) -> PathBuf {
    let next = target.with_file_name(format!("gen-{}.log", round + 1));
    File::create(&next).unwrap();
    let temporary = link.with_file_name("current.log.tmp");
    symlink(&next, &temporary).unwrap();
    std::fs::rename(&temporary, link).unwrap();
    if round.is_multiple_of(2) {
        wait_open(daemon, &next, round);
    }
    let mut paused = writer.pause();
    paused.write_lines(LINES_AFTER_RENAME);
    paused.reopen(&next);
    next
}

#[test]
fn torture_rename_create_events() {
    torture(Rotation::RenameCreate, Mode::Events);
}

#[test]
fn torture_rename_create_polling() {
    torture(Rotation::RenameCreate, Mode::Polling);
}

#[test]
fn torture_copytruncate_events() {
    torture(Rotation::CopyTruncate, Mode::Events);
}

#[test]
fn torture_copytruncate_polling() {
    torture(Rotation::CopyTruncate, Mode::Polling);
}

#[test]
fn torture_delete_recreate_events() {
    torture(Rotation::DeleteRecreate, Mode::Events);
}

#[test]
fn torture_delete_recreate_polling() {
    torture(Rotation::DeleteRecreate, Mode::Polling);
}

#[test]
fn torture_truncate_events() {
    torture(Rotation::Truncate, Mode::Events);
}

#[test]
fn torture_truncate_polling() {
    torture(Rotation::Truncate, Mode::Polling);
}

#[test]
fn torture_symlink_swap_events() {
    torture(Rotation::SymlinkSwap, Mode::Events);
}

#[test]
fn torture_symlink_swap_polling() {
    torture(Rotation::SymlinkSwap, Mode::Polling);
}

#[test]
fn truncate_same_size_rewrite_counted() {
    let (_dir, root) = temporary_directory();
    let rules = write_file(&root, "rules.toml", RULES);
    let log = root.join("access.log");
    File::create(&log).unwrap();
    let glob = format!("{}/*.log", root.display());
    // Polling every 200 ms, so that logtally looks before the truncation and after the rewrite
    // and almost surely not in the microseconds between, when the file is shorter.
    let daemon = Daemon::start(&[
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        &glob,
        "--poll-interval",
        "200ms",
    ]);
    daemon.wait_following(&log);
    append(&log, b"seq 1\nseq 2\n");
    wait_lines(&daemon, 2, "before the truncation");

    // Truncated and rewritten with as many bytes as before.
    std::fs::write(&log, b"seq 3\nseq 4\n").unwrap();
    wait_lines(&daemon, 4, "after the rewrite to the same size");
    let truncations = format!(
        "logtally_file_truncations_total{{path=\"{}\"}}",
        log.display()
    );
    assert_eq!(value(&daemon.scrape(), &truncations), "1");
}

#[test]
fn descriptors_flat_over_1000_rotations() {
    const ROUNDS: u64 = 1000;
    /// Descriptors allowed beyond the count before the rotations once rotated files are
    /// closed: the current log's, and connections of scrapes in progress.
    const SLACK: usize = 10;
    /// Descriptors allowed beyond the count before the rotations while they go on. Rotated
    /// files stay open for a while in case their writer appends more, but a count that grew
    /// with every rotation would pass this bound long before the last one.
    const PEAK_SLACK: usize = 250;

    let (_dir, root) = temporary_directory();
    let rules = write_file(&root, "rules.toml", RULES);
    let log = root.join("access.log");
    File::create(&log).unwrap();
    let glob = format!("{}/*.log", root.display());
    let daemon = Daemon::start(&["--rules", rules.to_str().unwrap(), "--logs", &glob]);
    daemon.wait_following(&log);
    let before = descriptor_count(daemon.pid());

    let mut number = 0;
    let mut number_sum = 0;
    let mut write_line = |file: &mut File| {
        file.write_all(numbered_line(number).as_bytes()).unwrap();
        number_sum += number;
        number += 1;
    };
    let mut peak = before;
    for round in 0..ROUNDS {
        let mut file = open_append(&log);
        write_line(&mut file);
        // The glob does not match the rotated name, so logtally must have this file open before
        // the rename to read it.
        wait_open(&daemon, &log, round);
        std::fs::rename(&log, root.join(format!("access.log.{round}"))).unwrap();
        write_line(&mut file);
        peak = peak.max(descriptor_count(daemon.pid()));
    }

    let expected = number.to_string();
    daemon.wait_for("lines_total", &expected, WAIT);
    assert!(
        peak <= before + PEAK_SLACK,
        "descriptors grew from {before} to {peak} during {ROUNDS} rotations"
    );

    let deadline = Instant::now() + WAIT;
    let mut after = descriptor_count(daemon.pid());
    while after > before + SLACK && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
        after = descriptor_count(daemon.pid());
    }
    assert!(
        after <= before + SLACK,
        "descriptors were {after} {WAIT:?} after {ROUNDS} rotations, {before} before them; open \
         files: {:?}",
        open_files(daemon.pid())
    );
    let body = daemon.scrape();
    assert_eq!(value(&body, "lines_total"), expected);
    assert_eq!(value(&body, "line_numbers_total"), number_sum.to_string());
}

#[test]
fn thousand_files_one_glob() {
    const FILES: u64 = 1000;
    const LINES_PER_FILE: u64 = 3;

    let (_dir, root) = temporary_directory();
    let rules = write_file(&root, "rules.toml", RULES);
    let logs = root.join("logs");
    std::fs::create_dir(&logs).unwrap();
    let paths: Vec<PathBuf> = (0..FILES)
        .map(|index| logs.join(format!("app-{index:04}.log")))
        .collect();

    // Sequence numbers are unique across the files: line `j` of file `i` is number
    // `i * LINES_PER_FILE + j`, and each file's appended line comes after all of those.
    let mut number_sum = 0;
    for (index, path) in (0..).zip(&paths) {
        let mut text = String::new();
        for line in 0..LINES_PER_FILE {
            let number = index * LINES_PER_FILE + line;
            text.push_str(&numbered_line(number));
            number_sum += number;
        }
        std::fs::write(path, text).unwrap();
    }

    let glob = format!("{}/*.log", logs.display());
    let daemon = Daemon::start(&[
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        &glob,
        "--from-start",
    ]);
    let initial = FILES * LINES_PER_FILE;
    let body = daemon.wait_for("lines_total", &initial.to_string(), WAIT);
    assert_eq!(value(&body, FILES_FOLLOWED), FILES.to_string());
    assert_eq!(value(&body, "line_numbers_total"), number_sum.to_string());

    // One more line in every file shows that each one is followed, not only read once.
    for (index, path) in (0..).zip(&paths) {
        let number = initial + index;
        append(path, numbered_line(number).as_bytes());
        number_sum += number;
    }
    let expected = (initial + FILES).to_string();
    daemon.wait_for("lines_total", &expected, WAIT);
    thread::sleep(Duration::from_millis(500));
    let body = daemon.scrape();
    assert_eq!(value(&body, "lines_total"), expected);
    assert_eq!(value(&body, "line_numbers_total"), number_sum.to_string());
    assert_eq!(value(&body, FILES_FOLLOWED), FILES.to_string());
    assert_eq!(value(&body, &unmatched(&rules)), "0");
}

/// `logtally run` started through a command prefix such as setpriv, killed when dropped.
/// `common::Daemon` runs the binary itself, so it cannot drop privileges.
struct PrefixedDaemon {
    child: Child,
    address: SocketAddr,
    log_lines: mpsc::Receiver<String>,
    /// Every standard error line received so far.
    seen: Vec<String>,
}

impl PrefixedDaemon {
    fn start(prefix: &[OsString], args: &[&str], directory: &Path) -> PrefixedDaemon {
        let (program, prefix_args) = prefix.split_first().expect("a program to run");
        // The build directory may sit under a directory only root can enter, so the daemon
        // runs from a copy in the test's own directory.
        let copy = directory.join("logtally");
        std::fs::copy(binary(), &copy).expect("copying the logtally binary");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = Command::new(program)
            .args(prefix_args)
            .arg(&copy)
            .arg("run")
            .args(args)
            .args(["--web.listen-address", "127.0.0.1:0"])
            .current_dir(directory)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting logtally run");

        let stderr = child.stderr.take().expect("piped stderr");
        let (sender, log_lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });

        let mut daemon = PrefixedDaemon {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_lines,
            seen: Vec::new(),
        };
        daemon.address = daemon.wait_for_address();
        daemon
    }

    /// Reads standard error until the line with `address=`, the listening address.
    fn wait_for_address(&mut self) -> SocketAddr {
        let deadline = Instant::now() + WAIT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.log_lines.recv_timeout(left) else {
                break;
            };
            self.seen.push(line.clone());
            if let Some(rest) = line.split("address=").nth(1) {
                let address = rest.split_whitespace().next().expect("an address");
                return address.parse().expect("a socket address");
            }
        }
        panic!(
            "logtally did not log its listening address within {WAIT:?}; standard error:\n{}",
            self.seen.join("\n")
        );
    }

    fn scrape(&self) -> String {
        let (status, body) = http_get(self.address, "/metrics");
        assert_eq!(status, 200, "scrape failed: {body}");
        body
    }

    /// Scrapes until `series` has `expected` as its value, or fails showing the last scrape.
    fn wait_for(&self, series: &str, expected: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let body = self.scrape();
            if samples(&body).get(series).map(String::as_str) == Some(expected) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{series} did not reach {expected} within {WAIT:?}; last scrape:\n{body}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Returns every standard error line logged so far.
    fn log(&mut self) -> &[String] {
        self.seen.extend(self.log_lines.try_iter());
        &self.seen
    }
}

impl Drop for PrefixedDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn unreadable_file_skipped_others_counted() {
    const NOBODY: &str = "65534";
    const LINES_PER_FILE: u64 = 5;

    let (_dir, root) = temporary_directory();
    // Root reads files whatever their mode, so as root the daemon runs as uid 65534, which
    // Debian names `nobody`.
    let prefix: Vec<OsString> = if root.metadata().unwrap().uid() == 0 {
        let Some(setpriv) = find_program("setpriv") else {
            let _ = writeln!(std::io::stderr(), "skipped: setpriv is not available");
            return;
        };
        let mut prefix = vec![setpriv.into_os_string()];
        prefix.extend(
            [
                format!("--reuid={NOBODY}"),
                format!("--regid={NOBODY}"),
                "--clear-groups".to_owned(),
            ]
            .map(OsString::from),
        );
        prefix
    } else {
        vec![OsString::from("env")]
    };

    // tempfile creates the directory with mode 0700.
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let rules = write_file(&root, "rules.toml", RULES);
    let logs = root.join("logs");
    std::fs::create_dir(&logs).unwrap();
    let readable = [logs.join("a.log"), logs.join("b.log")];
    let unreadable = logs.join("secret.log");

    let mut number = 0;
    let mut number_sum = 0;
    let mut lines = |count: u64| {
        let mut text = String::new();
        for _ in 0..count {
            text.push_str(&numbered_line(number));
            number_sum += number;
            number += 1;
        }
        text
    };
    for path in &readable {
        std::fs::write(path, lines(LINES_PER_FILE)).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    // Its lines do not count: the daemon cannot read them.
    std::fs::write(&unreadable, "seq 1000000\n").unwrap();
    std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o000)).unwrap();

    let glob = format!("{}/*.log", logs.display());
    // Each rescan retries the unreadable file, so one more second of rescans every 100 ms
    // shows whether the warning repeats.
    let mut daemon = PrefixedDaemon::start(
        &prefix,
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--logs",
            &glob,
            "--from-start",
            "--rescan-interval",
            "100ms",
        ],
        &root,
    );
    let initial = (2 * LINES_PER_FILE).to_string();
    daemon.wait_for("lines_total", &initial);
    daemon.wait_for(&file_errors(&unreadable), "1");

    // The other files are still followed.
    append(&readable[0], lines(1).as_bytes());
    append(&readable[1], lines(2).as_bytes());
    let expected = (2 * LINES_PER_FILE + 3).to_string();
    daemon.wait_for("lines_total", &expected);
    thread::sleep(Duration::from_secs(1));

    let body = daemon.scrape();
    assert_eq!(value(&body, "lines_total"), expected);
    assert_eq!(value(&body, "line_numbers_total"), number_sum.to_string());
    assert_eq!(value(&body, &file_errors(&unreadable)), "1");
    for path in &readable {
        assert_eq!(value(&body, &file_errors(path)), "0");
    }
    let warnings: Vec<&String> = daemon
        .log()
        .iter()
        .filter(|line| line.contains("Failed to open log file"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning expected: {warnings:#?}");
    assert!(
        warnings[0].contains(&unreadable.display().to_string()),
        "the warning names the file: {}",
        warnings[0]
    );
}
