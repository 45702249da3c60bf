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
//! - a retired handle is closed once it is read to its end and both its retirement and its
//!   last data are [`ROTATE_WAIT`] in the past, or earlier when more than
//!   `MAX_RETIRED_HANDLES` are open;
//! - a file that gets shorter, or whose first bytes change, was truncated and is read again
//!   from its start.

mod discover;
mod follow;
mod stats;

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tracing::{debug, info, warn};

use crate::state::SavedFile;
use crate::throttle::{MAX_KEYS, Throttles, WARNING_INTERVAL};
use follow::{FirstDrops, matches_saved};

pub use discover::{Expansion, Glob, expand_all};
pub use follow::{Feed, FileId, FollowedFile, LineSink, ReadOutcome, Start};
pub use stats::{FileError, FileStats, TailStats};

/// How long a retired handle stays open after its rotation, and after its last data, before it
/// is closed: writers that have not reopened their log yet may still append to it.
pub const ROTATE_WAIT: Duration = Duration::from_secs(5);

/// Shortest interval between glob expansions when polling.
const MIN_POLL_EXPANSION_INTERVAL: Duration = Duration::from_secs(1);

/// Retired handles kept open at most; with more, the longest-retired ones that are read to
/// their end are closed early, so very fast rotation cannot use up file descriptors.
const MAX_RETIRED_HANDLES: usize = 64;

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
    /// Interval between calls of [`LineSink::checkpoint`]; `None` for no checkpoints.
    pub checkpoint_interval: Option<Duration>,
    /// Globs of paths never to follow, even when `globs` match them.
    pub exclude: Vec<String>,
    /// Files not modified for this long are not followed until they change.
    pub ignore_older: Option<Duration>,
}

/// A problem with a followed path. Each is logged when it starts (opens or reads start to fail,
/// a file has its first cut line), and at most once per [`WARNING_INTERVAL`] per path, so a
/// file that keeps failing or rotating cannot flood the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Problem {
    Open,
    Read,
    CutLine,
    NulBytes,
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

/// Follows the files that match a set of globs.
pub struct Tailer {
    config: TailConfig,
    globs: Vec<Glob>,
    excludes: Vec<Glob>,
    /// Files skipped for being older than `ignore_older`, with their size then: if one changes,
    /// it is followed from that size, so only its new lines count.
    ignored: HashMap<FileId, u64>,
    files: Vec<FollowedFile>,
    /// Files closed after being read to their end, remembered so they are not read again
    /// from the start if they appear under a name the globs match.
    closed: VecDeque<SavedFile>,
    /// Paths whose file was moved away or deleted while nothing took its place. The next file
    /// found under one of them is a rotation (rename now, create later).
    vacated: VecDeque<PathBuf>,
    /// Positions from the state file, used by the first expansion.
    restored: Vec<SavedFile>,
    /// When the state file was last written: files changed after it were written while
    /// logtally was down.
    saved_at: Option<SystemTime>,
    /// True when positions were restored: files unknown to them appeared while logtally was
    /// down, so they are read from their start.
    has_restored: bool,
    /// Paths that failed to open, with the error kind, so each failure is logged once.
    failed: HashMap<PathBuf, io::ErrorKind>,
    watcher: Option<RecommendedWatcher>,
    watched: HashSet<PathBuf>,
    /// Directories whose watch failed, so each failure is logged once.
    unwatchable: HashSet<PathBuf>,
    /// Limits the warnings about each path's problems.
    warnings: Throttles<(PathBuf, Problem)>,
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
        let excludes = config
            .exclude
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
            excludes,
            ignored: HashMap::new(),
            globs,
            files: Vec::new(),
            closed: VecDeque::new(),
            vacated: VecDeque::new(),
            restored: Vec::new(),
            saved_at: None,
            has_restored: false,
            failed: HashMap::new(),
            watcher,
            watched: HashSet::new(),
            unwatchable: HashSet::new(),
            warnings: Throttles::new(WARNING_INTERVAL, MAX_KEYS),
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

    /// Gives the positions saved by an earlier run. Call before [`Tailer::run`].
    /// Sets the positions to resume from, saved at `saved_at` (the state file's modification
    /// time, if known).
    pub fn restore(&mut self, files: Vec<SavedFile>, saved_at: Option<SystemTime>) {
        self.restored = files;
        self.saved_at = saved_at;
        self.has_restored = true;
    }

    /// The position of every open file and of the closed files remembered, for the state
    /// file. Offsets are just past the last complete line handed to the sink.
    pub fn positions(&self) -> Vec<SavedFile> {
        let mut files: Vec<SavedFile> = self.files.iter().map(FollowedFile::saved).collect();
        files.extend(self.closed.iter().cloned());
        files
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
        for glob in &self.globs {
            if !self.files.iter().any(|file| glob.matches(&file.path)) {
                warn!(
                    glob = glob.as_str(),
                    "Glob matches no file yet; files that appear later are followed."
                );
            }
        }
        if self.config.checkpoint_interval.is_some() {
            // Saved before any read, so a crash before the first interval still resumes here.
            sink.checkpoint(self.positions());
        }
        let mut more = self.read_files(sink, None);
        let mut caught_up = !more;
        if caught_up {
            self.stats.set_caught_up();
        }
        let rescan_interval = self.rescan_interval();
        let mut next_rescan = Instant::now() + rescan_interval;
        let mut next_checkpoint = self
            .config
            .checkpoint_interval
            .map(|every| Instant::now() + every);

        loop {
            let mut timeout = self.next_timeout(next_rescan, more);
            if let Some(at) = next_checkpoint {
                timeout = timeout.min(at.saturating_duration_since(Instant::now()));
            }
            let pending = self.wait(timeout);
            if pending.stop {
                if self.config.checkpoint_interval.is_some() {
                    sink.checkpoint(self.positions());
                }
                info!(files = self.files.len(), "Tailer stopped.");
                return;
            }

            let now = Instant::now();
            if let (Some(at), Some(every)) = (next_checkpoint, self.config.checkpoint_interval)
                && now >= at
            {
                sink.checkpoint(self.positions());
                next_checkpoint = Some(now + every);
            }
            let rescan = now >= next_rescan;
            if rescan {
                next_rescan = now + rescan_interval;
            }
            let polled = self.config.poll_interval.is_some();
            let expand = rescan
                || pending.expand
                || (polled && self.any_path_moved())
                || self.event_on_skipped_file(&pending.paths);
            if expand {
                self.expand();
            }
            // Files found by an expansion have no events of their own yet, so all are read.
            let read_all = expand || pending.read_all || more || polled;
            let only = (!read_all).then_some(&pending.paths);
            more = self.read_files(sink, only);
            if !caught_up && !more {
                caught_up = true;
                self.stats.set_caught_up();
            }
            self.close_drained();
        }
    }

    /// How often the globs are expanded. Polling has no directory events to announce new
    /// files, so it expands at the poll interval too, but at most once a second: expanding a
    /// large tree is costlier than checking the files already followed.
    fn rescan_interval(&self) -> Duration {
        match self.config.poll_interval {
            Some(poll) => self
                .config
                .rescan_interval
                .min(poll.max(MIN_POLL_EXPANSION_INTERVAL)),
            None => self.config.rescan_interval,
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
        expansion
            .files
            .retain(|path| !self.excludes.iter().any(|exclude| exclude.matches(path)));

        let first = !self.first_expansion_done;
        self.first_expansion_done = true;
        let start = if first && !self.config.from_start && !self.has_restored {
            Start::End
        } else {
            Start::Beginning
        };
        self.retire_moved_files();
        if first && !self.restored.is_empty() {
            self.recover_restored(&expansion.files);
        }

        for path in &expansion.files {
            self.follow(path, start);
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

    /// Retires each followed file whose path now names another file (a rotation) or nothing
    /// (remembered in `vacated`, so a file created there later is counted as a rotation).
    fn retire_moved_files(&mut self) {
        let now = Instant::now();
        let mut vacated = Vec::new();
        for file in self
            .files
            .iter_mut()
            .filter(|file| file.retired_at.is_none())
        {
            let current = std::fs::metadata(&file.path)
                .ok()
                .map(|meta| FileId::of(&meta));
            if current != Some(file.id) {
                if current.is_some() {
                    info!(
                        path = %file.path.display(),
                        "File was rotated; reading the old file to its end."
                    );
                } else {
                    info!(
                        path = %file.path.display(),
                        "File was deleted or moved away; reading it to its end."
                    );
                }
                file.retired_at = Some(now);
                let rotated = current.is_some();
                self.stats.update(&file.path, |stats| {
                    stats.rotations += u64::from(rotated);
                    stats.followed = false;
                });
                if !rotated {
                    vacated.push(file.path.clone());
                }
            }
        }
        for path in vacated {
            self.remember_vacated(path);
        }
    }

    fn remember_vacated(&mut self, path: PathBuf) {
        if self.vacated.contains(&path) {
            return;
        }
        if self.vacated.len() == CLOSED_FILES_REMEMBERED {
            self.vacated.pop_front();
        }
        self.vacated.push_back(path);
    }

    /// Returns true, forgetting the path, when a file was moved away from `path` earlier.
    fn take_vacated(&mut self, path: &Path) -> bool {
        let position = self.vacated.iter().position(|vacated| vacated == path);
        position.is_some_and(|index| self.vacated.remove(index).is_some())
    }

    /// Starts following `path` unless the file behind it is already followed. A file closed
    /// earlier in this run continues at its offset; any other starts at `start`.
    fn follow(&mut self, path: &Path, start: Start) {
        let Ok(metadata) = std::fs::metadata(path) else {
            return;
        };
        let id = FileId::of(&metadata);
        if let Some(known) = self.files.iter_mut().find(|file| file.id == id) {
            if known.path != path && known.retired_at.is_some() {
                info!(
                    old = %known.path.display(),
                    new = %path.display(),
                    "Followed file renamed; continuing at its offset."
                );
                known.path = path.to_path_buf();
                known.retired_at = None;
            }
            return;
        }

        if self.is_too_old(&metadata) {
            if self.ignored.insert(id, metadata.len()).is_none() {
                debug!(
                    path = %path.display(),
                    "Not following file: it was not modified within --logs.ignore-older."
                );
            }
            return;
        }
        let closed = take_matching(&mut self.closed, id, path);
        let start = match (&closed, self.ignored.remove(&id)) {
            (Some(saved), _) => Start::Offset(saved.offset),
            (None, Some(size)) if size <= metadata.len() => Start::Offset(size),
            (None, _) => start,
        };
        if let Some(file) = self.open(path, start) {
            match closed {
                Some(_) => {
                    info!(
                        path = %path.display(),
                        offset = file.offset,
                        "File was read before; continuing at its offset."
                    )
                }
                None => info!(path = %path.display(), offset = file.offset, "Following file."),
            }
            let rotated = self.take_vacated(path);
            self.stats.update(&file.path, |stats| {
                stats.rotations += u64::from(rotated);
                stats.followed = true;
            });
            self.files.push(file);
        }
    }

    /// Returns true when a file event names a file that was skipped for its age or failed to
    /// open: it changed, so the next expansion may follow it now.
    fn event_on_skipped_file(&self, paths: &HashSet<PathBuf>) -> bool {
        if paths.is_empty() || (self.ignored.is_empty() && self.failed.is_empty()) {
            return false;
        }
        let followed: HashSet<&Path> = self.files.iter().map(|file| file.path.as_path()).collect();
        paths.iter().any(|path| !followed.contains(path.as_path()))
    }

    fn is_too_old(&self, metadata: &std::fs::Metadata) -> bool {
        let Some(limit) = self.config.ignore_older else {
            return false;
        };
        let age = metadata
            .modified()
            .ok()
            .and_then(|modified| modified.elapsed().ok());
        age.is_some_and(|age| age > limit)
    }

    /// Opens a file, logging a failure once per path and error kind.
    fn open(&mut self, path: &Path, start: Start) -> Option<FollowedFile> {
        match FollowedFile::open(path, start, self.config.max_line_bytes) {
            Ok(file) => {
                self.failed.remove(path);
                Some(file)
            }
            Err(error) => {
                if self.failed.insert(path.to_path_buf(), error.kind()) != Some(error.kind()) {
                    let key = (path.to_path_buf(), Problem::Open);
                    if let Some(suppressed) = self.warnings.allow(key, Instant::now()) {
                        warn!(
                            path = %path.display(),
                            %error,
                            suppressed,
                            "Failed to open log file; will retry."
                        );
                    }
                    let last_error = FileError::now(format!("failed to open: {error}"));
                    self.stats.update(&path.to_path_buf(), |stats| {
                        stats.errors += 1;
                        stats.last_error = Some(last_error);
                    });
                }
                None
            }
        }
    }

    /// Finds the files of the restored positions and continues each at its saved offset. A
    /// file may have been renamed while logtally was down (same device and inode), or copied
    /// and truncated (a copy with the same first bytes); either is looked for in the directory
    /// of its saved path, where rotation puts it, whether or not the globs match its new name.
    fn recover_restored(&mut self, matched: &[PathBuf]) {
        let mut listings: HashMap<PathBuf, Vec<PathBuf>> = HashMap::new();
        let mut accounted: HashSet<PathBuf> = HashSet::new();
        let mut saved_paths: Vec<PathBuf> = Vec::new();
        // A file that one saved position names by its inode is that position's, even when its
        // first bytes equal those of another saved file that was deleted.
        let saved_ids: HashSet<(u64, u64)> = self
            .restored
            .iter()
            .map(|saved| (saved.device, saved.inode))
            .collect();
        for saved in std::mem::take(&mut self.restored) {
            saved_paths.push(saved.path.clone());
            let directory = saved
                .path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            // Behind a symlink (`/var/log/containers/*.log`), rotation happens in the target's
            // directory, so that is searched too.
            let target_directory = std::fs::canonicalize(&saved.path)
                .ok()
                .and_then(|real| real.parent().map(Path::to_path_buf))
                .filter(|real| *real != directory);
            for listed in std::iter::once(&directory).chain(&target_directory) {
                listings
                    .entry(listed.clone())
                    .or_insert_with(|| list_files(listed));
            }
            let target_listing = target_directory
                .as_ref()
                .and_then(|real| listings.get(real))
                .into_iter()
                .flatten();
            let candidates = std::iter::once(&saved.path)
                .chain(matched)
                .chain(&listings[&directory])
                .chain(target_listing)
                .filter(|path| !accounted.contains(*path));
            let found = find_saved(&saved, candidates, &saved_ids);
            if let Some((path, _)) = &found {
                accounted.insert(path.clone());
            }
            let Some((path, same_inode)) = found else {
                self.closed.push_back(saved.clone());
                debug!(
                    path = %saved.path.display(),
                    "Saved file not found; it was rotated away or deleted."
                );
                continue;
            };
            let is_matched = matched.contains(&path);
            if !is_matched && std::fs::metadata(&path).is_ok_and(|meta| meta.len() == saved.offset)
            {
                // Read to its end already and not followed any more: nothing to do.
                self.closed.push_back(saved);
                continue;
            }
            let Some(mut file) = self.open(&path, Start::Offset(saved.offset)) else {
                continue;
            };
            if !is_matched || !same_inode {
                // A rotated file: counted under its old name, read to its end, then closed.
                file.path = saved.path.clone();
                file.retired_at = Some(Instant::now());
            }
            info!(
                path = %path.display(),
                offset = saved.offset,
                "Resuming file at its saved offset."
            );
            if file.retired_at.is_none() {
                self.stats.update(&file.path, |stats| stats.followed = true);
            }
            self.files.push(file);
        }
        self.read_generations_made_while_down(&saved_paths, matched, &accounted, &listings);
    }

    /// Reads from their start the files that were both created and rotated away while logtally
    /// was down. They are siblings named after a saved path with a rotation suffix
    /// (`access.log.1`), unknown to the saved positions and the globs, and changed after the
    /// state file was written.
    fn read_generations_made_while_down(
        &mut self,
        saved_paths: &[PathBuf],
        matched: &[PathBuf],
        accounted: &HashSet<PathBuf>,
        listings: &HashMap<PathBuf, Vec<PathBuf>>,
    ) {
        let Some(saved_at) = self.saved_at else {
            return;
        };
        let mut seen: HashSet<PathBuf> = HashSet::new();
        for saved_path in saved_paths {
            let Some(name) = saved_path.file_name().and_then(|name| name.to_str()) else {
                continue;
            };
            let directory = saved_path.parent().unwrap_or(Path::new(""));
            let Some(listing) = listings.get(directory) else {
                continue;
            };
            for path in listing {
                let is_generation = path
                    .file_name()
                    .and_then(|sibling| sibling.to_str()?.strip_prefix(name))
                    .is_some_and(is_rotation_suffix);
                if !is_generation
                    || matched.contains(path)
                    || accounted.contains(path)
                    || discover::is_compressed(path)
                    || !changed_after(path, saved_at)
                    || !seen.insert(path.clone())
                {
                    continue;
                }
                self.read_generation(path, saved_path);
            }
        }
    }

    /// Opens a rotated file from its start, counted under the path it was rotated from, to be
    /// read to its end and closed.
    fn read_generation(&mut self, path: &Path, rotated_from: &Path) {
        let Some(mut file) = self.open(path, Start::Beginning) else {
            return;
        };
        if self.files.iter().any(|known| known.id == file.id) {
            return;
        }
        info!(
            path = %path.display(),
            rotated_from = %rotated_from.display(),
            "Reading a file rotated while logtally was down from its start."
        );
        file.path = rotated_from.to_path_buf();
        file.retired_at = Some(Instant::now());
        self.files.push(file);
    }

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
                        warn!(
                            directory = %directory.display(),
                            %error,
                            "Failed to watch directory; relying on rescans."
                        );
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
        let mut truncated = Vec::new();
        for file in &mut self.files {
            if !std::mem::replace(&mut file.announced, true) {
                sink.opened(&file.path);
            }
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
                    if let Some(before) = outcome.truncated_from {
                        info!(
                            path = %file.path.display(),
                            "File was truncated; reading it from its start."
                        );
                        truncated.push((before, file.id));
                    }
                    more |= outcome.more;
                }
                Err(error) => {
                    let key = (file.path.clone(), Problem::Read);
                    if !std::mem::replace(&mut file.failing, true)
                        && let Some(suppressed) = self.warnings.allow(key, Instant::now())
                    {
                        warn!(
                            path = %file.path.display(),
                            %error,
                            suppressed,
                            "Failed to read log file; will retry."
                        );
                    }
                    file.count_error(&error);
                }
            }
        }
        for (before, id) in truncated {
            more |= self.read_copy_tail(&before, id);
        }
        self.publish();
        more
    }

    /// After copytruncate, lines written between the last read and the copy are only in the
    /// copy. Finds the copy next to the file (same first bytes, at least as long as the old
    /// offset) and follows it from that offset as a retired file, so those lines are read once.
    fn read_copy_tail(&mut self, before: &SavedFile, truncated: FileId) -> bool {
        let directory = before
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let listing = list_files(&directory);
        let is_followed = |path: &PathBuf| {
            std::fs::metadata(path).is_ok_and(|meta| {
                let id = FileId::of(&meta);
                id == truncated || self.files.iter().any(|file| file.id == id)
            })
        };
        let candidates: Vec<PathBuf> = listing
            .into_iter()
            .filter(|path| !is_followed(path))
            .collect();
        let Some((copy, _)) = find_saved(
            before,
            candidates.iter(),
            &HashSet::from([(before.device, before.inode)]),
        ) else {
            return false;
        };
        let Some(mut file) = self.open(&copy, Start::Offset(before.offset)) else {
            return false;
        };
        info!(
            path = %before.path.display(),
            copy = %copy.display(),
            offset = before.offset,
            "Reading the rest of the truncated file from its copy."
        );
        file.path = before.path.clone();
        file.retired_at = Some(Instant::now());
        self.files.push(file);
        true
    }

    /// Moves every open file's new counts into the shared stats, under one lock, then warns
    /// about the files that showed a kind of dropped input for the first time.
    fn publish(&mut self) {
        self.stats.set_open_files(self.files.len() as u64);
        let mut firsts = Vec::new();
        let mut stats = self.stats.lock();
        for file in &mut self.files {
            let first = match stats.get_mut(&file.path) {
                Some(entry) => file.publish(entry),
                None => file.publish(stats.entry(file.path.clone()).or_default()),
            };
            if first != FirstDrops::default() {
                firsts.push((file.path.clone(), first));
            }
        }
        drop(stats);
        for (path, first) in firsts {
            self.warn_first_drops(path, first);
        }
    }

    /// Logs the first cut line and the first NUL run of a file, once each. A path whose files
    /// rotate quickly gets a new file each time, so these are also limited per path.
    fn warn_first_drops(&mut self, path: PathBuf, first: FirstDrops) {
        let now = Instant::now();
        if first.cut_line
            && let Some(suppressed) = self.warnings.allow((path.clone(), Problem::CutLine), now)
        {
            warn!(
                path = %path.display(),
                suppressed,
                "Cut a line longer than --max-line-bytes; later ones are only counted."
            );
        }
        if first.nul_bytes
            && let Some(suppressed) = self.warnings.allow((path.clone(), Problem::NulBytes), now)
        {
            warn!(
                path = %path.display(),
                suppressed,
                "Skipped NUL bytes, as copytruncate leaves; later ones are only counted."
            );
        }
    }

    /// Closes retired handles that are read to their end and will get no more data.
    fn close_drained(&mut self) {
        let now = Instant::now();
        let mut drained: Vec<(Instant, bool, usize)> = Vec::new();
        for (index, file) in self.files.iter().enumerate() {
            let Some(retired_at) = file.retired_at else {
                continue;
            };
            let at_end = file
                .metadata()
                .map_or(true, |metadata| metadata.len() <= file.offset);
            let quiet = now.duration_since(retired_at) >= ROTATE_WAIT
                && now.duration_since(file.last_data_at) >= ROTATE_WAIT;
            if at_end {
                drained.push((retired_at, quiet, index));
            }
        }

        // Quiet handles close; beyond the cap, the longest-retired ones close too.
        let retired = self
            .files
            .iter()
            .filter(|file| file.retired_at.is_some())
            .count();
        let excess = retired.saturating_sub(MAX_RETIRED_HANDLES);
        drained.sort();
        let mut closing: Vec<usize> = drained
            .iter()
            .enumerate()
            .filter(|(rank, (_, quiet, _))| *quiet || *rank < excess)
            .map(|(_, (_, _, index))| *index)
            .collect();
        closing.sort_unstable_by(|a, b| b.cmp(a));
        for index in closing {
            let file = self.files.swap_remove(index);
            info!(
                path = %file.path.display(),
                offset = file.offset,
                "Closed rotated file after reading it to its end."
            );
            self.remember_closed(&file);
            self.forget_stats_if_gone(&file.path);
        }
    }

    /// Drops the counts of a path that no file is followed under any more and that no longer
    /// exists, so date-named logs do not leave series behind forever.
    fn forget_stats_if_gone(&mut self, path: &Path) {
        let followed = self.files.iter().any(|file| file.path == path);
        if !followed && !path.exists() {
            self.stats.lock().remove(path);
            self.take_vacated(path);
        }
    }

    /// Remembers a closed file that still exists under some name, so it is not read again
    /// from its start if a glob matches that name. A deleted file is not remembered: its inode
    /// may be given to the next new file, which must not be taken for it.
    fn remember_closed(&mut self, file: &FollowedFile) {
        if file.metadata().is_ok_and(|metadata| metadata.nlink() == 0) {
            return;
        }
        if self.closed.len() == CLOSED_FILES_REMEMBERED {
            self.closed.pop_front();
        }
        self.closed.push_back(file.saved());
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

/// Removes and returns the remembered file with this identity, if the file at `path` still
/// starts with its fingerprint; a reused inode is not mistaken for it.
fn take_matching(known: &mut VecDeque<SavedFile>, id: FileId, path: &Path) -> Option<SavedFile> {
    let index = known
        .iter()
        .position(|saved| saved.device == id.device && saved.inode == id.inode)?;
    let saved = known.remove(index)?;
    matches_saved(path, &saved)
        .unwrap_or(false)
        .then_some(saved)
}

/// Finds the saved file among `candidates`: first by device and inode, then, when that file
/// was truncated (copytruncate), by a copy that starts with the saved first bytes. Returns the
/// path and whether it is the same inode.
///
/// NOTE: with an empty saved fingerprint (the file was empty at the last save) any file
/// matches, so a copytruncate of such a file while logtally is down is not noticed.
fn find_saved<'a>(
    saved: &SavedFile,
    candidates: impl Iterator<Item = &'a PathBuf> + Clone,
    saved_ids: &HashSet<(u64, u64)>,
) -> Option<(PathBuf, bool)> {
    let matches = |path: &PathBuf| matches_saved(path, saved).unwrap_or(false);
    let id = |path: &PathBuf| {
        std::fs::metadata(path)
            .ok()
            .map(|meta| (meta.dev(), meta.ino()))
    };
    let is_same_inode = |path: &&PathBuf| id(path) == Some((saved.device, saved.inode));
    if let Some(path) = candidates.clone().find(is_same_inode)
        && matches(path)
    {
        return Some((path.clone(), true));
    }
    // A copy made by copytruncate: same first bytes, another inode, and not a file another
    // saved position names.
    candidates
        .filter(|path| !discover::is_compressed(path))
        .filter(|path| id(path).is_some_and(|id| !saved_ids.contains(&id)))
        .find(|path| matches(path))
        .map(|path| (path.clone(), false))
}

/// Returns true for the suffixes rotation adds to a name: a separator, then numbers or a date
/// (`.1`, `-20241204`, `.2024-12-04`). Other names (`.json`, `.bak`) are different files.
fn is_rotation_suffix(suffix: &str) -> bool {
    let Some(rest) = suffix.strip_prefix(['.', '-', '_']) else {
        return false;
    };
    rest.chars().any(|c| c.is_ascii_digit())
        && rest
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
}

/// Returns true when the file at `path` was modified after `time`.
fn changed_after(path: &Path, time: SystemTime) -> bool {
    std::fs::metadata(path)
        .and_then(|metadata| metadata.modified())
        .is_ok_and(|modified| modified > time)
}

/// Regular files directly inside `directory`, sorted.
fn list_files(directory: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_suffixes_recognised() {
        for suffix in [".1", ".10", "-20241204", ".2024-12-04", "_2024_12_04.1"] {
            assert!(is_rotation_suffix(suffix), "{suffix}");
        }
        for suffix in ["", ".", ".json", ".bak", "1", ".1.gz", "-old"] {
            assert!(!is_rotation_suffix(suffix), "{suffix}");
        }
    }
}
