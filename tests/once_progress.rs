//! The progress line of `logtally once`: drawn on standard error only when it is a terminal.
//! The input is a FIFO, so the read lasts until the test closes the FIFO's write end, however
//! fast the machine is.

mod common;

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{binary, stderr, stdout, write_file};

const RULES: &str = "[parse]\nregex = '^(?P<code>\\d{3})$'\n\n[[metric]]\n\
                     name = \"requests_total\"\ntype = \"counter\"\nhelp = \"Requests.\"\n\
                     labels = [\"code\"]\n";

/// Three lines of 4 bytes each.
const LINES: &[u8] = b"200\n200\n200\n";

/// Maximum wait for logtally to open the FIFO or to draw.
const DEADLINE: Duration = Duration::from_secs(30);

/// A rule file and a FIFO in a temporary directory.
struct Setup {
    _dir: tempfile::TempDir,
    rules: PathBuf,
    fifo: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_file(dir.path(), "rules.toml", RULES);
    let fifo = dir.path().join("access.log");
    let path = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    let result = unsafe { libc::mkfifo(path.as_ptr(), 0o600) };
    assert_eq!(result, 0, "mkfifo: {}", std::io::Error::last_os_error());
    Setup {
        _dir: dir,
        rules,
        fifo,
    }
}

/// Opens the FIFO's write end once logtally has opened its read end. A non-blocking open
/// fails with ENXIO until then, so a logtally that exits early fails the test instead of
/// leaving it blocked.
fn open_writer(fifo: &Path, child: &mut Child) -> File {
    let started = Instant::now();
    loop {
        match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
        {
            Ok(file) => return file,
            Err(error) if error.raw_os_error() == Some(libc::ENXIO) => {}
            Err(error) => panic!("opening the FIFO: {error}"),
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("logtally exited with {status} before opening the FIFO");
        }
        assert!(
            started.elapsed() < DEADLINE,
            "logtally never opened the FIFO"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Opens a pseudo-terminal and returns its master end, for reading what is written to the
/// terminal, and its slave end, the terminal itself.
fn open_pty() -> (File, OwnedFd) {
    let mut master = -1;
    let mut slave = -1;
    // SAFETY: both pointers are valid for writes, and openpty accepts null for the name,
    // terminal settings and window size.
    let result = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(result, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty returned two open descriptors that nothing else owns.
    unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

#[test]
fn progress_drawn_on_terminal() {
    let setup = setup();
    let (mut master, slave) = open_pty();
    let mut child = Command::new(binary())
        .args(["once", "--rules"])
        .args([&setup.rules, &setup.fifo])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    // The spawned command is dropped, so logtally has the only terminal descriptor, and
    // reading the master end stops with an error once logtally exits.
    let terminal = Arc::new(Mutex::new(Vec::new()));
    let collected = terminal.clone();
    let reader = thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(read @ 1..) = master.read(&mut buffer) {
            collected.lock().unwrap().extend_from_slice(&buffer[..read]);
        }
    });

    let mut writer = open_writer(&setup.fifo, &mut child);
    writer.write_all(LINES).unwrap();
    let started = Instant::now();
    while !String::from_utf8_lossy(&terminal.lock().unwrap()).contains("read 12 B, ") {
        assert!(started.elapsed() < DEADLINE, "no progress line drawn");
        thread::sleep(Duration::from_millis(20));
    }
    drop(writer);
    let output = child.wait_with_output().unwrap();
    reader.join().unwrap();

    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        common::value(&stdout(&output), "requests_total{code=\"200\"}"),
        "3"
    );
    let text = String::from_utf8(terminal.lock().unwrap().clone()).unwrap();
    // Each draw starts with \r. The last one is followed by spaces as wide as the line and a
    // \r that leaves the cursor at the start of the blank line.
    let draws: Vec<&str> = text.split('\r').collect();
    assert!(draws.len() >= 4, "{text:?}");
    assert_eq!(draws[0], "", "{text:?}");
    assert_eq!(draws[draws.len() - 1], "", "{text:?}");
    let last = draws[draws.len() - 3].trim_end();
    let blank = draws[draws.len() - 2];
    assert_eq!(blank, " ".repeat(last.chars().count()), "{text:?}");
    let rate = last
        .strip_prefix("logtally: read 12 B, ")
        .and_then(|rest| rest.strip_suffix(" lines/s"));
    assert!(
        rate.is_some_and(|rate| rate.parse::<u64>().is_ok()),
        "{text:?}"
    );
    assert!(!text.contains('\n'), "{text:?}");
}

#[test]
fn no_progress_when_stderr_is_a_pipe() {
    let setup = setup();
    let mut child = Command::new(binary())
        .args(["once", "--rules"])
        .args([&setup.rules, &setup.fifo])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let mut writer = open_writer(&setup.fifo, &mut child);
    writer.write_all(LINES).unwrap();
    // A terminal would get its first draw 1 s into the read; keep the read going past that.
    thread::sleep(Duration::from_millis(1500));
    drop(writer);
    let output = child.wait_with_output().unwrap();

    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
    assert_eq!(
        common::value(&stdout(&output), "requests_total{code=\"200\"}"),
        "3"
    );
}
