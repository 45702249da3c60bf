//! Per-file counts that the tailer publishes for self-metrics and the status page.
//!
//! Counts are kept per path, the name a file was found under, so they continue across
//! rotations: the lines of `access.log` before and after a rotation add up in one series.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::metrics::now_ms;

/// Counts for one followed path.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileStats {
    pub lines: u64,
    pub bytes: u64,
    /// Lines cut to the maximum line length.
    pub truncated_lines: u64,
    /// NUL bytes dropped before lines.
    pub nul_bytes: u64,
    /// Times the path started naming another file.
    pub rotations: u64,
    /// Times the file got shorter or was rewritten from its start.
    pub truncations: u64,
    /// Failed opens and reads.
    pub errors: u64,
    /// Bytes read in the file the path names now.
    pub offset: u64,
    /// Size of that file when last read.
    pub size: u64,
    /// True while a handle on the path's current file is open.
    pub followed: bool,
    /// The last failed open or read, kept after reading works again.
    pub last_error: Option<FileError>,
}

/// A failed open or read of a followed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// When it happened, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// What failed and why, such as `failed to read: Input/output error (os error 5)`.
    pub message: String,
}

impl FileError {
    /// An error that happened now.
    pub fn now(message: String) -> FileError {
        FileError {
            time_ms: now_ms(),
            message,
        }
    }
}

/// Counts for every path seen, shared between the tailer and scrapes.
#[derive(Debug, Default, Clone)]
pub struct TailStats {
    files: Arc<Mutex<BTreeMap<PathBuf, FileStats>>>,
    caught_up: Arc<AtomicBool>,
    open_files: Arc<AtomicU64>,
}

impl TailStats {
    /// True once every file found at start has been read to its end once.
    pub fn caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Relaxed)
    }

    /// Files open now, including rotated ones still being read.
    pub fn open_files(&self) -> u64 {
        self.open_files.load(Ordering::Relaxed)
    }

    /// Sets the number of open files.
    pub fn set_open_files(&self, count: u64) {
        self.open_files.store(count, Ordering::Relaxed);
    }

    /// Marks the first catch-up as done.
    pub fn set_caught_up(&self) {
        self.caught_up.store(true, Ordering::Relaxed);
    }

    /// Locks the counts. A panic while the lock was held leaves valid numbers behind, so a
    /// poisoned lock is used as it is.
    pub fn lock(&self) -> MutexGuard<'_, BTreeMap<PathBuf, FileStats>> {
        self.files
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies `update` to the counts of `path`, creating them if needed.
    pub fn update(&self, path: &PathBuf, update: impl FnOnce(&mut FileStats)) {
        let mut stats = self.lock();
        match stats.get_mut(path) {
            Some(entry) => update(entry),
            None => update(stats.entry(path.clone()).or_default()),
        }
    }
}
