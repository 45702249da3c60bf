//! Splits a byte stream into lines, between the reader of a file and the rule engine.
//!
//! Reads arrive in chunks of any size, so a line (or a multi-byte character) may be split
//! between two chunks. [`LineSplitter`] hands out only complete lines and keeps the unfinished
//! tail until its newline arrives. It also applies the line-level cleanup every caller needs:
//! a trailing `\r` is removed (CRLF files), a run of NUL bytes before a line is dropped
//! (copytruncate leaves such runs when the writer did not open its file in append mode), and a
//! line longer than the limit is cut to the limit, so memory stays bounded.

use memchr::memchr;

/// Receives one complete line, without its terminator.
pub type Emit<'a> = dyn FnMut(&[u8]) + 'a;

/// Default cap on the length of one line, in bytes.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1024 * 1024;

/// What the splitter dropped or cut, for self-metrics and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SplitStats {
    /// Complete lines handed out.
    pub lines: u64,
    /// Lines cut to the maximum length.
    pub truncated_lines: u64,
    /// NUL bytes dropped before lines, including lines made only of NUL bytes.
    pub nul_bytes: u64,
}

/// Turns chunks of bytes into complete lines.
#[derive(Debug)]
pub struct LineSplitter {
    /// Start of the current unfinished line, at most `max_line_bytes` long.
    pending: Vec<u8>,
    /// Bytes of the unfinished line seen so far, including any beyond the cap. It is always at
    /// least `pending.len()`; a reader's offset minus this is the end of the last full line.
    partial_bytes: u64,
    /// True when the rest of the current line is to be dropped without being handed out, as
    /// after starting in the middle of a line.
    skip_current: bool,
    /// True once the current line has lost bytes to the cap, so it is counted once.
    cut_current: bool,
    max_line_bytes: usize,
    stats: SplitStats,
}

impl LineSplitter {
    /// Creates a splitter that cuts lines at `max_line_bytes`.
    pub fn new(max_line_bytes: usize) -> LineSplitter {
        LineSplitter {
            pending: Vec::new(),
            partial_bytes: 0,
            skip_current: false,
            cut_current: false,
            max_line_bytes: max_line_bytes.max(1),
            stats: SplitStats::default(),
        }
    }

    /// Drops everything up to and including the next newline, for a reader that starts in the
    /// middle of a line.
    pub fn skip_to_next_line(&mut self) {
        self.skip_current = true;
    }

    /// Counts so far.
    pub fn stats(&self) -> SplitStats {
        self.stats
    }

    /// Bytes of the unfinished line held back so far.
    pub fn partial_bytes(&self) -> u64 {
        self.partial_bytes
    }

    /// Forgets the unfinished line, as when its file was truncated under it.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.partial_bytes = 0;
        self.skip_current = false;
        self.cut_current = false;
    }

    /// Feeds a chunk and calls `emit` once per complete line, without its terminator.
    pub fn push(&mut self, mut chunk: &[u8], emit: &mut Emit) {
        while let Some(newline) = memchr(b'\n', chunk) {
            let (head, rest) = (&chunk[..newline], &chunk[newline + 1..]);
            if self.partial_bytes == 0 && !self.skip_current {
                let line = self.cap(head);
                self.emit_line(line, emit);
            } else {
                self.append_pending(head);
                let line = std::mem::take(&mut self.pending);
                if !std::mem::take(&mut self.skip_current) {
                    self.emit_line(&line, emit);
                }
                self.pending = line;
                self.pending.clear();
                self.partial_bytes = 0;
                self.cut_current = false;
            }
            chunk = rest;
        }
        self.append_pending(chunk);
    }

    /// Hands out the unfinished line as a last line, for a reader that has reached the real
    /// end of its input (a whole file read once, not a file still being written).
    pub fn finish(&mut self, emit: &mut Emit) {
        if self.partial_bytes > 0 && !self.skip_current {
            let line = std::mem::take(&mut self.pending);
            self.emit_line(&line, emit);
        }
        self.reset();
    }

    fn append_pending(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let room = self.max_line_bytes.saturating_sub(self.pending.len());
        let kept = &bytes[..bytes.len().min(room)];
        if !self.skip_current {
            if kept.len() < bytes.len() && !self.cut_current {
                self.cut_current = true;
                self.stats.truncated_lines += 1;
            }
            self.pending.extend_from_slice(kept);
        }
        self.partial_bytes += bytes.len() as u64;
    }

    /// Cuts a complete line that arrived in one piece to the maximum length.
    fn cap<'a>(&mut self, line: &'a [u8]) -> &'a [u8] {
        if line.len() > self.max_line_bytes {
            self.stats.truncated_lines += 1;
            &line[..self.max_line_bytes]
        } else {
            line
        }
    }

    fn emit_line(&mut self, line: &[u8], emit: &mut Emit) {
        let without_nul = trim_leading_nul(line);
        let dropped = line.len() - without_nul.len();
        if dropped > 0 {
            self.stats.nul_bytes += dropped as u64;
            if without_nul.is_empty() {
                return;
            }
        }
        let line = without_nul.strip_suffix(b"\r").unwrap_or(without_nul);
        self.stats.lines += 1;
        emit(line);
    }
}

fn trim_leading_nul(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(line.len());
    &line[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], max: usize, finish: bool) -> (Vec<Vec<u8>>, LineSplitter) {
        let mut splitter = LineSplitter::new(max);
        let mut lines = Vec::new();
        for chunk in chunks {
            splitter.push(chunk, &mut |line| lines.push(line.to_vec()));
        }
        if finish {
            splitter.finish(&mut |line| lines.push(line.to_vec()));
        }
        (lines, splitter)
    }

    #[test]
    fn lines_split_across_chunks() {
        let (lines, splitter) = split(&[b"one\ntw", b"o\nthr", b"ee", b"\n"], 100, false);
        assert_eq!(lines, [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
        assert_eq!(splitter.stats().lines, 3);
        assert_eq!(splitter.partial_bytes(), 0);
    }

    #[test]
    fn partial_line_waits_for_newline() {
        let (lines, splitter) = split(&[b"done\npart"], 100, false);
        assert_eq!(lines, [b"done".to_vec()]);
        assert_eq!(splitter.partial_bytes(), 4);
    }

    #[test]
    fn finish_emits_last_line() {
        let (lines, _) = split(&[b"a\nlast"], 100, true);
        assert_eq!(lines, [b"a".to_vec(), b"last".to_vec()]);
    }

    #[test]
    fn multibyte_character_split_by_chunk() {
        let text = "путь\n".as_bytes();
        let (lines, _) = split(&[&text[..3], &text[3..]], 100, false);
        assert_eq!(lines, ["путь".as_bytes().to_vec()]);
    }

    #[test]
    fn crlf_is_stripped() {
        let (lines, _) = split(&[b"a\r\nb\r\n\r\n"], 100, false);
        assert_eq!(lines, [b"a".to_vec(), b"b".to_vec(), b"".to_vec()]);
    }

    #[test]
    fn nul_runs_are_dropped() {
        let (lines, splitter) = split(&[b"\0\0\0\0line\n\0\0\n", b"next\n"], 100, false);
        assert_eq!(lines, [b"line".to_vec(), b"next".to_vec()]);
        assert_eq!(splitter.stats().nul_bytes, 6);
        assert_eq!(splitter.stats().lines, 2);
    }

    #[test]
    fn long_line_in_one_chunk_is_cut() {
        let (lines, splitter) = split(&[b"abcdefgh\nok\n"], 4, false);
        assert_eq!(lines, [b"abcd".to_vec(), b"ok".to_vec()]);
        assert_eq!(splitter.stats().truncated_lines, 1);
    }

    #[test]
    fn long_line_across_chunks_is_cut_once() {
        let (lines, splitter) = split(&[b"abcd", b"efgh", b"ijk", b"\nok\n"], 4, false);
        assert_eq!(lines, [b"abcd".to_vec(), b"ok".to_vec()]);
        assert_eq!(splitter.stats().truncated_lines, 1);
        assert_eq!(splitter.partial_bytes(), 0);
    }

    #[test]
    fn partial_bytes_count_dropped_tail() {
        let (_, splitter) = split(&[b"abcdefgh"], 4, false);
        assert_eq!(splitter.partial_bytes(), 8);
        assert_eq!(splitter.pending.len(), 4);
    }

    #[test]
    fn skip_to_next_line_drops_fragment() {
        let mut splitter = LineSplitter::new(100);
        splitter.skip_to_next_line();
        let mut lines = Vec::new();
        splitter.push(b"tail of old\nnew\n", &mut |line| lines.push(line.to_vec()));
        assert_eq!(lines, [b"new".to_vec()]);
    }
}
