//! The progress line `logtally once` draws on standard error while it reads, when standard
//! error is a terminal. It shows the bytes read, the total when every input's size is known,
//! and lines per second. It is redrawn in place with `\r` four times a second and cleared
//! before anything else is printed.

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Time before the first draw, so a run that ends sooner draws nothing.
const FIRST_DRAW_AFTER: Duration = Duration::from_secs(1);

/// Time between two draws.
const REDRAW_INTERVAL: Duration = Duration::from_millis(250);

/// Bytes and lines read so far, added to by every reader thread.
#[derive(Debug, Default)]
pub struct Counters {
    /// Bytes read from the inputs; for a `.gz` file, its compressed bytes.
    pub bytes: AtomicU64,
    /// Complete lines handed to the rules.
    pub lines: AtomicU64,
}

/// A progress line being drawn by a thread of its own.
pub struct ProgressLine {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl ProgressLine {
    /// Starts drawing the progress of `counters` on standard error, or returns `None` when
    /// standard error is not a terminal. `total_bytes` is the size of all inputs, if known.
    pub fn start(counters: Arc<Counters>, total_bytes: Option<u64>) -> Option<ProgressLine> {
        if !io::stderr().is_terminal() {
            return None;
        }
        let (stop, stopped) = mpsc::channel();
        let started = Instant::now();
        let thread = thread::spawn(move || {
            draw_until_stopped(&stopped, &counters, total_bytes, started);
        });
        Some(ProgressLine { stop, thread })
    }

    /// Stops drawing and clears the line.
    pub fn finish(self) {
        // The thread also stops when the channel closes, so a failed send changes nothing.
        let _ = self.stop.send(());
        // A panic while drawing leaves at worst a stale line, which is no reason to fail.
        let _ = self.thread.join();
    }
}

/// Redraws the line every [`REDRAW_INTERVAL`] after the first [`FIRST_DRAW_AFTER`], until
/// `stopped` receives a message or closes, then clears what it drew.
fn draw_until_stopped(
    stopped: &mpsc::Receiver<()>,
    counters: &Counters,
    total_bytes: Option<u64>,
    started: Instant,
) {
    let mut drawn_width = 0;
    let mut wait = FIRST_DRAW_AFTER;
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
        let text = format_progress(
            counters.bytes.load(Ordering::Relaxed),
            total_bytes,
            counters.lines.load(Ordering::Relaxed),
            started.elapsed(),
        );
        // Standard error failing is no reason to stop reading: the line is only a courtesy.
        let _ = io::stderr().write_all(redraw(&text, drawn_width).as_bytes());
        drawn_width = text.chars().count();
        wait = REDRAW_INTERVAL;
    }
    if drawn_width > 0 {
        let _ = io::stderr().write_all(clear(drawn_width).as_bytes());
    }
}

/// Formats the progress text: `logtally: read 12.0 MiB of 48.0 MiB (25%), 1043201 lines/s`,
/// without the `of` part when the total is not known.
pub fn format_progress(
    bytes: u64,
    total_bytes: Option<u64>,
    lines: u64,
    elapsed: Duration,
) -> String {
    let mut text = format!("logtally: read {}", format_bytes(bytes));
    if let Some(total) = total_bytes {
        let percent = match total {
            0 => 100,
            _ => (u128::from(bytes) * 100 / u128::from(total)).min(100),
        };
        text.push_str(&format!(" of {} ({percent}%)", format_bytes(total)));
    }
    let seconds = elapsed.as_secs_f64();
    let per_second = if seconds > 0.0 {
        (lines as f64 / seconds).round() as u64
    } else {
        0
    };
    text.push_str(&format!(", {per_second} lines/s"));
    text
}

/// Formats a byte count in binary units with one decimal: `512 B`, `1.5 KiB`, `12.0 MiB`.
fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    // 1023.95 and more would print as 1024.0, so they move to the next unit.
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Returns the text that replaces a line of `drawn_width` columns with `text`: back to the
/// start of the line, the text, and spaces over what is left of the longer old line.
/// NOTE: on a terminal narrower than the line (at most about 70 columns), the part that
/// wrapped to the next row stays behind at each redraw.
fn redraw(text: &str, drawn_width: usize) -> String {
    let padding = drawn_width.saturating_sub(text.chars().count());
    format!("\r{text}{}", " ".repeat(padding))
}

/// Returns the text that blanks a line of `drawn_width` columns and leaves the cursor at
/// its start, where the next output begins.
fn clear(drawn_width: usize) -> String {
    format!("\r{}\r", " ".repeat(drawn_width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_with_total() {
        assert_eq!(
            format_progress(
                12 * 1024 * 1024,
                Some(48 * 1024 * 1024),
                2_086_402,
                Duration::from_secs(2)
            ),
            "logtally: read 12.0 MiB of 48.0 MiB (25%), 1043201 lines/s"
        );
    }

    #[test]
    fn progress_without_total() {
        assert_eq!(
            format_progress(1536, None, 10, Duration::from_millis(4000)),
            "logtally: read 1.5 KiB, 3 lines/s"
        );
    }

    #[test]
    fn progress_edge_cases() {
        assert_eq!(
            format_progress(0, Some(0), 0, Duration::ZERO),
            "logtally: read 0 B of 0 B (100%), 0 lines/s"
        );
        // A file that grew while being read has more bytes read than its size at the start.
        assert_eq!(
            format_progress(2048, Some(1024), 1, Duration::from_secs(1)),
            "logtally: read 2.0 KiB of 1.0 KiB (100%), 1 lines/s"
        );
        assert_eq!(
            format_progress(3 << 40, Some(6 << 40), 0, Duration::from_secs(1)),
            "logtally: read 3.0 TiB of 6.0 TiB (50%), 0 lines/s"
        );
    }

    #[test]
    fn byte_units() {
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1024), "1.0 KiB");
        assert_eq!(format_bytes(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(format_bytes(1024 * 1024 - 52), "1023.9 KiB");
        assert_eq!(format_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(format_bytes(4096 << 40), "4096.0 TiB");
    }

    #[test]
    fn redraw_covers_longer_line() {
        assert_eq!(redraw("abc", 0), "\rabc");
        assert_eq!(redraw("abc", 5), "\rabc  ");
        assert_eq!(redraw("abcdef", 5), "\rabcdef");
        assert_eq!(clear(4), "\r    \r");
    }
}
