//! Tailing: the first stage, from files on disk to lines.
//!
//! The [`Tailer`] expands the globs, follows every matching file and hands complete lines to a
//! [`LineSink`]. It runs on one plain thread and sleeps until a file event arrives (inotify,
//! through `notify`, on the directories involved) or a timer fires. Events are only hints:
//! every `rescan_interval` the globs are expanded again and every followed file is read, so a
//! lost event delays lines but never loses them. With `poll_interval` set, no events are used
//! and every file is checked at that interval.
//!
//! Rotation is followed by identity (device and inode), not by name:
//! - when a path starts naming another file, the old handle is kept and read to its end
//!   while the new file is read from its start;
//! - a file that shows up under a new name that the globs match is kept at its offset;
//! - a retired handle is closed once it is read to its end and either its file is deleted,
//!   the new file under its old name has data (the writer has moved on), or it has been idle
//!   for [`ROTATE_WAIT`];
//! - a file that gets shorter, or whose first bytes change, was truncated and is read again
//!   from its start.

mod discover;
mod follow;
mod stats;

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tracing::{debug, info, warn};

pub use discover::{Expansion, Glob, expand_all};
pub use follow::{Feed, FileId, FollowedFile, LineSink, ReadOutcome};
pub use stats::{FileStats, TailStats};

/// How long a retired handle stays open without new data before it is closed.
pub const ROTATE_WAIT: Duration = Duration::from_secs(5);

/// Bytes read from one file before the others get their turn.
const READ_BUDGET_BYTES: u64 = 4 * 1024 * 1024;

/// Size of each read.
const READ_CHUNK_BYTES: usize = 256 * 1024;

/// Interval at which retired handles are checked while any exist.
const RETIRED_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// Closed files remembered so they are not read again from the start if they reappear.
const CLOSED_FILES_REMEMBERED: usize = 4096;

/// How the tailer finds and reads files.
#[derive(Debug, Clone)]
pub struct TailConfig {
    pub globs: Vec<String>,
    /// Read files present at the first expansion from their start instead of their end.
    pub from_start: bool,
    pub rescan_interval: Duration,
    /// Poll at this interval instead of using file events.
    pub poll_interval: Option<Duration>,
    pub max_line_bytes: usize,
}

/// Why the tailer woke up.
enum Wake {
    Event(notify::Result<notify::Event>),
    Stop,
}

/// Stops a running [`Tailer`] from another thread.
#[derive(Clone)]
pub struct Stopper(Sender<Wake>);

impl Stopper {
    /// Asks the tailer to return from [`Tailer::run`] after its current read.
    pub fn stop(&self) {
        let _ = self.0.send(Wake::Stop);
    }
}

/// A file that was closed, so that it is recognised if it appears again.
struct ClosedFile {
    id: FileId,
    offset: u64,
}

/// Follows the files that match a set of globs.
pub struct Tailer {
    config: TailConfig,
    globs: Vec<Glob>,
    files: Vec<FollowedFile>,
    closed: VecDeque<ClosedFile>,
    /// Paths that failed to open, with the error kind, so each failure is logged once.
    failed: HashMap<PathBuf, io::ErrorKind>,
    watcher: Option<RecommendedWatcher>,
    watched: HashSet<PathBuf>,
    /// Directories whose watch failed, so each failure is logged once.
    unwatchable: HashSet<PathBuf>,
    wake_sender: Sender<Wake>,
    wakes: Receiver<Wake>,
    buffer: Vec<u8>,
    first_expansion_done: bool,
    stats: TailStats,
}

/// What the events since the last look ask for.
#[derive(Default)]
struct Pending {
    stop: bool,
    expand: bool,
    read_all: bool,
    paths: HashSet<PathBuf>,
}

impl Tailer {
    /// Compiles the globs and starts watching, unless polling is configured.
    pub fn new(config: TailConfig) -> Result<Tailer, String> {
        let globs = config
            .globs
            .iter()
            .map(|text| Glob::new(text))
            .collect::<Result<_, _>>()?;
        let (wake_sender, wakes) = mpsc::channel();
        let watcher = match config.poll_interval {
            Some(_) => None,
            None => create_watcher(wake_sender.clone()),
        };
        Ok(Tailer {
            config,
            globs,
            files: Vec::new(),
            closed: VecDeque::new(),
            failed: HashMap::new(),
            watcher,
            watched: HashSet::new(),
            unwatchable: HashSet::new(),
            wake_sender,
            wakes,
            buffer: vec![0; READ_CHUNK_BYTES],
            first_expansion_done: false,
            stats: TailStats::default(),
        })
    }

    /// Returns a handle that stops [`Tailer::run`].
    pub fn stopper(&self) -> Stopper {
        Stopper(self.wake_sender.clone())
    }

    /// The per-path counts this tailer publishes.
    pub fn stats(&self) -> TailStats {
        self.stats.clone()
    }

    /// Files currently open.
    pub fn files(&self) -> &[FollowedFile] {
        &self.files
    }

    /// Follows files until stopped, handing lines to `sink`.
    pub fn run(&mut self, sink: &mut dyn LineSink) {
        self.expand();
        info!(
            files = self.files.len(),
            globs = self.globs.len(),
            "Initial glob expansion done."
        );
        let mut more = self.read_files(sink, None);
        let mut next_rescan = Instant::now() + self.config.rescan_interval;

        loop {
            let timeout = self.next_timeout(next_rescan, more);
            let pending = self.wait(timeout);
            if pending.stop {
                info!(files = self.files.len(), "Tailer stopped.");
                return;
            }

            let now = Instant::now();
            let rescan = now >= next_rescan;
            if rescan {
                next_rescan = now + self.config.rescan_interval;
            }
            let polled = self.config.poll_interval.is_some();
            let expand = rescan || pending.expand || (polled && self.any_path_moved());
            if expand {
                self.expand();
            }
            // Files found by an expansion have no events of their own yet, so all are read.
            let read_all = expand || pending.read_all || more || polled;
            let only = (!read_all).then_some(&pending.paths);
            more = self.read_files(sink, only);
            self.close_drained();
        }
    }

    /// Time to sleep before the next look when no event arrives.
    fn next_timeout(&self, next_rescan: Instant, more: bool) -> Duration {
        if more {
            return Duration::ZERO;
        }
        let mut timeout = next_rescan.saturating_duration_since(Instant::now());
        if let Some(poll) = self.config.poll_interval {
            timeout = timeout.min(poll);
        }
        if self.files.iter().any(|file| file.retired_at.is_some()) {
            timeout = timeout.min(RETIRED_CHECK_INTERVAL);
        }
        timeout
    }

    /// Sleeps until an event or the timeout, then collects every event already queued.
    fn wait(&self, timeout: Duration) -> Pending {
        let mut pending = Pending::default();
        let first = match self.wakes.recv_timeout(timeout) {
            Ok(wake) => wake,
            Err(RecvTimeoutError::Timeout) => return pending,
            Err(RecvTimeoutError::Disconnected) => {
                pending.stop = true;
                return pending;
            }
        };
        pending.add(first);
        while let Ok(wake) = self.wakes.try_recv() {
            pending.add(wake);
        }
        pending
    }

    /// Expands the globs, starts following new files and retires files whose path now names
    /// another file or nothing.
    fn expand(&mut self) {
        self.forget_removed_directories();
        let mut expansion = expand_all(&self.globs);
        // Files created in a new directory before its watch was added raise no event, so a
        // walk that added watches is repeated. The bound only guards against a tree that keeps
        // growing; the rescan timer covers what is left.
        for _ in 0..4 {
            if !self.watch(&expansion.directories) {
                break;
            }
            expansion = expand_all(&self.globs);
        }

        let at_end = !self.first_expansion_done && !self.config.from_start;
        self.first_expansion_done = true;
        self.retire_moved_files();

        for path in &expansion.files {
            self.follow(path, at_end);
        }
    }

    /// Returns true when a followed path now names another file or nothing. Polling uses
    /// this check, one `stat` per followed file, to see rotations between glob expansions.
    fn any_path_moved(&self) -> bool {
        self.files
            .iter()
            .filter(|file| file.retired_at.is_none())
            .any(|file| {
                std::fs::metadata(&file.path)
                    .ok()
                    .map(|meta| FileId::of(&meta))
                    != Some(file.id)
            })
    }

    fn retire_moved_files(&mut self) {
        let now = Instant::now();
        for file in self
            .files
            .iter_mut()
            .filter(|file| file.retired_at.is_none())
        {
            let current = std::fs::metadata(&file.path)
                .ok()
                .map(|meta| FileId::of(&meta));
            if current != Some(file.id) {
                info!(path = %file.path.display(), "File was rotated; reading the old file to its end.");
                file.retired_at = Some(now);
                self.stats.update(&file.path, |stats| {
                    stats.rotations += 1;
                    stats.followed = false;
                });
            }
        }
    }

    /// Starts following `path` unless the file behind it is already followed.
    fn follow(&mut self, path: &Path, at_end: bool) {
        let Ok(metadata) = std::fs::metadata(path) else {
            return;
        };
        let id = FileId::of(&metadata);
        if let Some(known) = self.files.iter_mut().find(|file| file.id == id) {
            if known.path != path && known.retired_at.is_some() {
                info!(old = %known.path.display(), new = %path.display(), "Followed file renamed; continuing at its offset.");
                known.path = path.to_path_buf();
                known.retired_at = None;
            }
            return;
        }

        let opened = FollowedFile::open(path, at_end, self.config.max_line_bytes);
        let mut file = match opened {
            Ok(file) => file,
            Err(error) => {
                if self.failed.insert(path.to_path_buf(), error.kind()) != Some(error.kind()) {
                    warn!(path = %path.display(), %error, "Failed to open log file; will retry.");
                    self.stats
                        .update(&path.to_path_buf(), |stats| stats.errors += 1);
                }
                return;
            }
        };
        self.failed.remove(path);
        if let Some(closed) = self.take_closed(id, &metadata) {
            file.offset = closed.offset;
            info!(path = %path.display(), offset = file.offset, "File was read before; continuing at its offset.");
        } else {
            info!(path = %path.display(), offset = file.offset, "Following file.");
        }
        self.stats.update(&file.path, |stats| stats.followed = true);
        self.files.push(file);
    }

    /// Finds a closed file with this identity whose data the new handle still covers.
    fn take_closed(&mut self, id: FileId, metadata: &std::fs::Metadata) -> Option<ClosedFile> {
        let index = self.closed.iter().position(|closed| closed.id == id)?;
        let closed = self.closed.remove(index)?;
        // A shorter file under a reused inode is a different file.
        (metadata.len() >= closed.offset).then_some(closed)
    }

    /// Adds watches for directories not yet watched; returns true if it added any.
    fn watch(&mut self, directories: &[PathBuf]) -> bool {
        let Some(watcher) = &mut self.watcher else {
            return false;
        };
        let mut added = false;
        for directory in directories {
            if self.watched.contains(directory) {
                continue;
            }
            match watcher.watch(directory, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    debug!(directory = %directory.display(), "Watching directory.");
                    self.watched.insert(directory.clone());
                    added = true;
                }
                Err(error) => {
                    if self.unwatchable.insert(directory.clone()) {
                        warn!(directory = %directory.display(), %error, "Failed to watch directory; relying on rescans.");
                    }
                }
            }
        }
        added
    }

    /// Forgets watches on directories that no longer exist, so a directory created again
    /// under the same name is watched again.
    fn forget_removed_directories(&mut self) {
        let removed: Vec<PathBuf> = self
            .watched
            .iter()
            .filter(|directory| !directory.is_dir())
            .cloned()
            .collect();
        for directory in removed {
            if let Some(watcher) = &mut self.watcher {
                let _ = watcher.unwatch(&directory);
            }
            self.watched.remove(&directory);
        }
    }

    /// Reads the followed files (all, or those named in `only`, plus retired ones). Returns
    /// true when some file has more data than its read budget allowed.
    fn read_files(&mut self, sink: &mut dyn LineSink, only: Option<&HashSet<PathBuf>>) -> bool {
        let mut more = false;
        for file in &mut self.files {
            let wanted = only
                .is_none_or(|paths| paths.contains(&file.path) || paths.contains(&file.real_path));
            if !wanted && file.retired_at.is_none() {
                continue;
            }
            match file.read_available(&mut self.buffer, READ_BUDGET_BYTES, sink) {
                Ok(outcome) => {
                    if std::mem::take(&mut file.failing) {
                        info!(path = %file.path.display(), "Reading log file works again.");
                    }
                    if outcome.truncated {
                        info!(path = %file.path.display(), "File was truncated; reading it from its start.");
                    }
                    more |= outcome.more;
                }
                Err(error) => {
                    if !std::mem::replace(&mut file.failing, true) {
                        warn!(path = %file.path.display(), %error, "Failed to read log file; will retry.");
                    }
                    file.count_error();
                }
            }
        }
        self.publish();
        more
    }

    /// Moves every open file's new counts into the shared stats, under one lock.
    fn publish(&mut self) {
        let mut stats = self.stats.lock();
        for file in &mut self.files {
            match stats.get_mut(&file.path) {
                Some(entry) => file.publish(entry),
                None => file.publish(stats.entry(file.path.clone()).or_default()),
            }
        }
    }

    /// Closes retired handles that are read to their end and will get no more data.
    fn close_drained(&mut self) {
        let active_with_data: HashSet<PathBuf> = self
            .files
            .iter()
            .filter(|file| file.retired_at.is_none() && file.offset > 0)
            .map(|file| file.path.clone())
            .collect();

        let mut index = 0;
        while index < self.files.len() {
            if self.is_drained(&self.files[index], &active_with_data) {
                let file = self.files.swap_remove(index);
                info!(path = %file.path.display(), offset = file.offset, "Closed rotated file after reading it to its end.");
                self.remember_closed(&file);
            } else {
                index += 1;
            }
        }
    }

    fn is_drained(&self, file: &FollowedFile, active_with_data: &HashSet<PathBuf>) -> bool {
        if file.retired_at.is_none() {
            return false;
        }
        let Ok(metadata) = file.metadata() else {
            return true;
        };
        if metadata.len() > file.offset {
            return false;
        }
        use std::os::unix::fs::MetadataExt;
        metadata.nlink() == 0
            || active_with_data.contains(&file.path)
            || file.last_data_at.elapsed() >= ROTATE_WAIT
    }

    fn remember_closed(&mut self, file: &FollowedFile) {
        if self.closed.len() == CLOSED_FILES_REMEMBERED {
            self.closed.pop_front();
        }
        self.closed.push_back(ClosedFile {
            id: file.id,
            offset: file.offset,
        });
    }
}

impl Pending {
    fn add(&mut self, wake: Wake) {
        let event = match wake {
            Wake::Stop => {
                self.stop = true;
                return;
            }
            Wake::Event(Ok(event)) => event,
            Wake::Event(Err(error)) => {
                // Typically an overflowed event queue: look at everything.
                debug!(%error, "File event error; rescanning.");
                self.expand = true;
                self.read_all = true;
                return;
            }
        };

        if event.need_rescan() {
            self.expand = true;
            self.read_all = true;
        }
        match event.kind {
            EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any)
            | EventKind::Access(AccessKind::Close(AccessMode::Write)) => {
                self.paths.extend(event.paths);
            }
            EventKind::Access(_) => {}
            _ => {
                self.expand = true;
                self.paths.extend(event.paths);
            }
        }
    }
}

fn create_watcher(sender: Sender<Wake>) -> Option<RecommendedWatcher> {
    let handler = move |event: notify::Result<notify::Event>| {
        let _ = sender.send(Wake::Event(event));
    };
    match notify::recommended_watcher(handler) {
        Ok(watcher) => Some(watcher),
        Err(error) => {
            warn!(%error, "File events are unavailable; relying on rescans.");
            None
        }
    }
}
