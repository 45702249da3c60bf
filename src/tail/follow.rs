//! One followed file: an open handle, the read offset, and the checks that notice truncation.
//!
//! The handle, not the path, is what gets read. After a rename the handle still reads the
//! renamed file, so lines the writer adds before it reopens its log are not lost. The
//! [`super::Tailer`] decides when a handle is retired; this module only reads and checks.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::stats::{FileError, FileStats};
use crate::lines::{Emit, LineSplitter, SplitStats};
use crate::state::{SavedFile, from_hex, to_hex};

/// Bytes at the start of a file compared to notice that it was truncated and rewritten past
/// the old offset between two looks (copytruncate followed by fast writes).
const FINGERPRINT_BYTES: usize = 64;

/// The position at which reading a newly opened file starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Beginning,
    /// At the end, skipping a partial last line.
    End,
    /// At a saved offset (capped at the file's size).
    Offset(u64),
}

/// Device and inode: which file a handle reads, whatever its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    pub device: u64,
    pub inode: u64,
}

impl FileId {
    pub fn of(metadata: &Metadata) -> FileId {
        FileId {
            device: metadata.dev(),
            inode: metadata.ino(),
        }
    }
}

/// Calls its argument once per line of one read.
pub type Feed<'a> = dyn FnMut(&mut Emit) + 'a;

/// Receives the complete lines read from a file.
pub trait LineSink {
    /// Processes the lines of one read from the file found under `path`. `feed` calls its
    /// argument once per line; a sink takes its locks around `feed`, not per line.
    fn lines(&mut self, path: &Path, feed: &mut Feed);

    /// Called once for each file that starts being followed, before its first lines, so the
    /// sink can prepare for its lines (the series a log's metrics start with).
    fn opened(&mut self, _path: &Path) {}

    /// Saves `files` together with the state the lines handed out so far produced. Called
    /// between reads, so the two agree.
    fn checkpoint(&mut self, _files: Vec<SavedFile>) {}
}

/// What one call to [`FollowedFile::read_available`] saw.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReadOutcome {
    pub bytes: u64,
    /// Set when the file was shorter than the offset or its first bytes changed, so it was
    /// truncated: the position it had been read to before, for finding a copy of the old data.
    pub truncated_from: Option<SavedFile>,
    /// The read stopped at its byte budget with more data left.
    pub more: bool,
}

/// The kinds of dropped input that one file showed for the first time, to be logged once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FirstDrops {
    /// A line was cut to the maximum line length.
    pub cut_line: bool,
    /// NUL bytes were dropped before a line.
    pub nul_bytes: bool,
}

/// A file being read.
#[derive(Debug)]
pub struct FollowedFile {
    /// The name the file was found under; metrics and logs use it.
    pub path: PathBuf,
    /// The path with symlinks resolved, which is where file events for it come from.
    pub real_path: PathBuf,
    pub id: FileId,
    file: File,
    /// Bytes read so far. Only moves forward, except back to 0 on truncation.
    pub offset: u64,
    pub splitter: LineSplitter,
    /// The file's first bytes, as last read; empty until the file has data.
    fingerprint: Vec<u8>,
    /// When the path stopped naming this file, if it has; the file is then drained and closed.
    pub retired_at: Option<Instant>,
    /// When data was last read.
    pub last_data_at: Instant,
    /// True after a failed read, until a read succeeds; the failure is logged once.
    pub failing: bool,
    /// True once the sink has been told about the file with [`LineSink::opened`].
    pub announced: bool,
    /// True once a cut line or a NUL run in this file has been reported by [`Self::publish`].
    warned_cut: bool,
    warned_nul: bool,
    /// True after a read, until the counts are published.
    read_since_publish: bool,
    /// The file's size at the last read.
    size: u64,
    /// Counts not yet published, beyond what the splitter counts.
    unpublished: FileStats,
    /// The splitter's counts as of the last publication.
    published_split: SplitStats,
}

impl FollowedFile {
    /// Opens `path`; reading starts at its end when `at_end`, else at its start.
    pub fn open(path: &Path, start: Start, max_line_bytes: usize) -> io::Result<FollowedFile> {
        let file = File::open(path)?;
        let metadata = file.metadata()?;
        let mut followed = FollowedFile {
            path: path.to_path_buf(),
            real_path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            id: FileId::of(&metadata),
            file,
            offset: 0,
            splitter: LineSplitter::new(max_line_bytes),
            fingerprint: Vec::new(),
            retired_at: None,
            last_data_at: Instant::now(),
            failing: false,
            announced: false,
            warned_cut: false,
            warned_nul: false,
            read_since_publish: true,
            size: metadata.len(),
            unpublished: FileStats::default(),
            published_split: SplitStats::default(),
        };
        let offset = match start {
            Start::Beginning => 0,
            Start::End => metadata.len(),
            Start::Offset(offset) => offset.min(metadata.len()),
        };
        if offset > 0 {
            followed.offset = offset;
            followed.refresh_fingerprint()?;
            if !followed.byte_before_offset_is_newline()? {
                followed.splitter.skip_to_next_line();
            }
        }
        Ok(followed)
    }

    /// The offset just past the last complete line handed out; a restart resumes here.
    pub fn committed_offset(&self) -> u64 {
        self.offset - self.splitter.partial_bytes()
    }

    /// Identity, fingerprint and committed offset, for the state file.
    pub fn saved(&self) -> SavedFile {
        SavedFile {
            path: self.path.clone(),
            device: self.id.device,
            inode: self.id.inode,
            fingerprint: to_hex(&self.fingerprint),
            offset: self.committed_offset(),
        }
    }

    /// Metadata of the open handle (not of whatever the path names now).
    pub fn metadata(&self) -> io::Result<Metadata> {
        self.file.metadata()
    }

    /// Reads from the offset to the end of the file, or up to `budget` bytes, handing complete
    /// lines to `sink`. Truncation is detected first and restarts reading at offset 0.
    pub fn read_available(
        &mut self,
        buffer: &mut [u8],
        budget: u64,
        sink: &mut dyn LineSink,
    ) -> io::Result<ReadOutcome> {
        let mut outcome = ReadOutcome {
            truncated_from: self.check_truncation()?,
            ..Default::default()
        };

        while outcome.bytes < budget {
            let read = match self.file.read_at(buffer, self.offset) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            // A file truncated and rewritten during the read gives new bytes at the old offset;
            // they are dropped and the file is read again from its start.
            if !self.fingerprint_matches()? {
                outcome.truncated_from = outcome.truncated_from.or_else(|| Some(self.saved()));
                self.rewind();
                continue;
            }
            let chunk = &buffer[..read];
            self.extend_fingerprint(chunk);
            let splitter = &mut self.splitter;
            sink.lines(&self.path, &mut |emit| splitter.push(chunk, emit));
            self.offset += read as u64;
            outcome.bytes += read as u64;
        }

        self.unpublished.bytes += outcome.bytes;
        self.unpublished.truncations += u64::from(outcome.truncated_from.is_some());
        if outcome.bytes > 0 {
            self.last_data_at = Instant::now();
        }
        outcome.more = outcome.bytes >= budget;
        Ok(outcome)
    }

    /// Counts a failed read and keeps its error, to be published with the other counts.
    pub fn count_error(&mut self, error: &io::Error) {
        self.unpublished.errors += 1;
        self.unpublished.last_error = Some(FileError::now(format!("failed to read: {error}")));
        self.read_since_publish = true;
    }

    /// Adds the counts since the last call to `stats`, and sets its offset and size. Returns
    /// the kinds of dropped input this file showed for the first time.
    pub fn publish(&mut self, stats: &mut FileStats) -> FirstDrops {
        if !std::mem::take(&mut self.read_since_publish) {
            return FirstDrops::default();
        }
        let split = self.splitter.stats();
        let first = FirstDrops {
            cut_line: split.truncated_lines > 0 && !std::mem::replace(&mut self.warned_cut, true),
            nul_bytes: split.nul_bytes > 0 && !std::mem::replace(&mut self.warned_nul, true),
        };
        stats.lines += split.lines - self.published_split.lines;
        stats.truncated_lines += split.truncated_lines - self.published_split.truncated_lines;
        stats.nul_bytes += split.nul_bytes - self.published_split.nul_bytes;
        self.published_split = split;

        let unpublished = std::mem::take(&mut self.unpublished);
        stats.bytes += unpublished.bytes;
        stats.truncations += unpublished.truncations;
        stats.errors += unpublished.errors;
        if unpublished.last_error.is_some() {
            stats.last_error = unpublished.last_error;
        }
        if self.retired_at.is_none() {
            stats.offset = self.offset;
            stats.size = self.size.max(self.offset);
        }
        first
    }

    /// Rewinds to offset 0 when the file is shorter than the offset or no longer starts with
    /// the bytes it started with, and returns the position it had before.
    fn check_truncation(&mut self) -> io::Result<Option<SavedFile>> {
        let size = self.file.metadata()?.len();
        self.size = size;
        self.read_since_publish = true;
        let shrunk = size < self.offset;
        // A file rewritten to exactly its old size is caught by its first bytes too, so the
        // check runs on every look at a file with data, not only when it grew.
        let rewritten = !shrunk && size > 0 && !self.fingerprint_matches()?;
        if !shrunk && !rewritten {
            return Ok(None);
        }
        let before = self.saved();
        self.rewind();
        Ok(Some(before))
    }

    /// Starts reading again from offset 0, forgetting the unfinished line and first bytes.
    fn rewind(&mut self) {
        self.offset = 0;
        self.splitter.reset();
        self.fingerprint.clear();
    }

    fn fingerprint_matches(&self) -> io::Result<bool> {
        if self.fingerprint.is_empty() {
            return Ok(true);
        }
        let mut current = [0u8; FINGERPRINT_BYTES];
        let read = read_fully_at(&self.file, &mut current[..self.fingerprint.len()], 0)?;
        Ok(current[..read] == self.fingerprint[..read])
    }

    /// Takes the file's first bytes from a chunk just read at the current offset, so the
    /// fingerprint always describes the bytes the lines came from, even when the file is
    /// rewritten right after the read.
    fn extend_fingerprint(&mut self, chunk: &[u8]) {
        let have = self.fingerprint.len();
        if have >= FINGERPRINT_BYTES || self.offset != have as u64 {
            return;
        }
        let wanted = (FINGERPRINT_BYTES - have).min(chunk.len());
        self.fingerprint.extend_from_slice(&chunk[..wanted]);
    }

    fn refresh_fingerprint(&mut self) -> io::Result<()> {
        let mut first = [0u8; FINGERPRINT_BYTES];
        let wanted = (self.offset as usize).min(FINGERPRINT_BYTES);
        let read = read_fully_at(&self.file, &mut first[..wanted], 0)?;
        self.fingerprint.clear();
        self.fingerprint.extend_from_slice(&first[..read]);
        Ok(())
    }

    fn byte_before_offset_is_newline(&self) -> io::Result<bool> {
        let mut last = [0u8; 1];
        let read = read_fully_at(&self.file, &mut last, self.offset - 1)?;
        Ok(read == 1 && last[0] == b'\n')
    }
}

/// Returns true when the file at `path` starts with the saved fingerprint and is at least
/// `offset` bytes long: it is the saved file, and the saved offset still falls inside it.
pub fn matches_saved(path: &Path, saved: &SavedFile) -> io::Result<bool> {
    let Some(fingerprint) = from_hex(&saved.fingerprint) else {
        return Ok(false);
    };
    let file = File::open(path)?;
    if file.metadata()?.len() < saved.offset {
        return Ok(false);
    }
    let mut first = vec![0u8; fingerprint.len()];
    let read = read_fully_at(&file, &mut first, 0)?;
    Ok(read == fingerprint.len() && first == fingerprint)
}

fn read_fully_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read_at(&mut buffer[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[derive(Default)]
    struct Collect(Vec<String>);

    impl LineSink for Collect {
        fn lines(&mut self, _path: &Path, feed: &mut Feed) {
            feed(&mut |line| self.0.push(String::from_utf8_lossy(line).into_owned()));
        }
    }

    fn append(path: &Path, text: &str) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    fn read(followed: &mut FollowedFile, sink: &mut Collect) -> ReadOutcome {
        let mut buffer = vec![0u8; 8];
        followed
            .read_available(&mut buffer, u64::MAX, sink)
            .unwrap()
    }

    #[test]
    fn starts_at_end_after_partial_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        append(&path, "old 1\nold par");
        let mut followed = FollowedFile::open(&path, Start::End, 1024).unwrap();
        let mut sink = Collect::default();
        append(&path, "tial\nnew 1\n");
        read(&mut followed, &mut sink);
        assert_eq!(sink.0, ["new 1"]);
    }

    #[test]
    fn shrink_restarts_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        append(&path, "line 1\nline 2\nline 3\n");
        let mut followed = FollowedFile::open(&path, Start::Beginning, 1024).unwrap();
        let mut sink = Collect::default();
        read(&mut followed, &mut sink);
        std::fs::write(&path, "line 4\n").unwrap();
        let outcome = read(&mut followed, &mut sink);
        assert!(outcome.truncated_from.is_some());
        assert_eq!(sink.0, ["line 1", "line 2", "line 3", "line 4"]);
    }

    #[test]
    fn rewrite_past_offset_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        append(&path, "line 1\nline 2\n");
        let mut followed = FollowedFile::open(&path, Start::Beginning, 1024).unwrap();
        let mut sink = Collect::default();
        read(&mut followed, &mut sink);
        std::fs::write(&path, "line 3\nline 4\nline 5\n").unwrap();
        let outcome = read(&mut followed, &mut sink);
        assert!(outcome.truncated_from.is_some());
        assert_eq!(sink.0, ["line 1", "line 2", "line 3", "line 4", "line 5"]);
    }

    /// Rewrites its file with new content the first time it is handed lines.
    struct RewriteOnce {
        path: PathBuf,
        done: bool,
        lines: Vec<String>,
    }

    impl LineSink for RewriteOnce {
        fn lines(&mut self, _path: &Path, feed: &mut Feed) {
            feed(&mut |line| self.lines.push(String::from_utf8_lossy(line).into_owned()));
            if !std::mem::replace(&mut self.done, true) {
                std::fs::write(&self.path, "fresh 1\nfresh 2\nfresh 3\n").unwrap();
            }
        }
    }

    #[test]
    fn rewrite_during_read_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        append(&path, "line 1\nline 2\nline 3\n");
        let mut followed = FollowedFile::open(&path, Start::Beginning, 1024).unwrap();
        let mut sink = RewriteOnce {
            path: path.clone(),
            done: false,
            lines: Vec::new(),
        };
        let mut buffer = vec![0u8; 8];

        let outcome = followed
            .read_available(&mut buffer, u64::MAX, &mut sink)
            .unwrap();

        assert!(outcome.truncated_from.is_some());
        assert_eq!(sink.lines, ["line 1", "fresh 1", "fresh 2", "fresh 3"]);
    }
}
