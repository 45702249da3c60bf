//! Container log formats: the line a proxy wrote to standard output, taken out of the line a
//! container runtime stored on the node.
//!
//! - `cri` (containerd, CRI-O): `TIME STREAM TAG CONTENT`, where the tag `P` marks a part of a
//!   long line, continued by the next entries up to one tagged `F`.
//! - `docker` (the json-file driver): `{"log":"CONTENT\n","stream":"stdout","time":"..."}`,
//!   where a `log` without its final line feed is a part continued by the next entries.

use serde::Deserialize;

use crate::rules::Wrapper;

/// Maximum bytes of one joined line. Further parts are dropped, as the line splitter cuts
/// long lines.
pub const MAX_JOINED_BYTES: usize = 1024 * 1024;

/// The parts of long lines gathered so far, one buffer per output stream, since a runtime
/// interleaves the entries of standard output and standard error.
#[derive(Debug, Default, Clone)]
pub struct Pending {
    streams: [Vec<u8>; 2],
}

impl Pending {
    /// Returns the buffer of one stream: 0 for standard output, 1 for standard error.
    pub fn stream(&mut self, stream: usize) -> &mut Vec<u8> {
        &mut self.streams[stream]
    }
}

/// The result of unwrapping one stored line.
#[derive(Debug, PartialEq, Eq)]
pub enum Unwrapped<'a> {
    /// A whole line, found in the stored line itself.
    Whole(&'a [u8]),
    /// The last part of a line: the whole line is in the pending buffer of this stream.
    Joined(usize),
    /// A part of a line, kept in the pending buffer until its last part.
    Part,
    /// Not in the wrapper's format.
    Invalid,
}

/// The fields of a json-file entry logtally reads.
#[derive(Deserialize)]
struct DockerEntry<'a> {
    #[serde(borrow)]
    log: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    stream: std::borrow::Cow<'a, str>,
}

/// Returns the index of a stream's pending buffer.
fn stream_index(stream: &[u8]) -> usize {
    usize::from(stream == b"stderr")
}

/// Unwraps one stored line. Parts of a long line gather in `pending`, whose buffer the caller
/// empties after using a [`Unwrapped::Joined`] line.
pub fn unwrap<'a>(wrapper: Wrapper, line: &'a [u8], pending: &mut Pending) -> Unwrapped<'a> {
    match wrapper {
        Wrapper::Cri => unwrap_cri(line, pending),
        Wrapper::Docker => unwrap_docker(line, pending),
    }
}

fn unwrap_cri<'a>(line: &'a [u8], pending: &mut Pending) -> Unwrapped<'a> {
    let mut fields = line.splitn(4, |byte| *byte == b' ');
    let (Some(_time), Some(stream), Some(tag)) = (fields.next(), fields.next(), fields.next())
    else {
        return Unwrapped::Invalid;
    };
    if !matches!(stream, b"stdout" | b"stderr") {
        return Unwrapped::Invalid;
    }
    let content = fields.next().unwrap_or_default();
    let index = stream_index(stream);
    let buffer = pending.stream(index);
    match tag.first() {
        Some(b'F') if buffer.is_empty() => Unwrapped::Whole(content),
        Some(b'F') => {
            append(buffer, content);
            Unwrapped::Joined(index)
        }
        Some(b'P') => {
            append(buffer, content);
            Unwrapped::Part
        }
        _ => Unwrapped::Invalid,
    }
}

fn unwrap_docker<'a>(line: &'a [u8], pending: &mut Pending) -> Unwrapped<'a> {
    let Ok(entry) = serde_json::from_slice::<DockerEntry>(line) else {
        return Unwrapped::Invalid;
    };
    let index = stream_index(entry.stream.as_bytes());
    let buffer = pending.stream(index);
    let log = entry.log.as_bytes();
    match log.strip_suffix(b"\n") {
        Some(content) => {
            append(buffer, content);
            Unwrapped::Joined(index)
        }
        None => {
            append(buffer, log);
            Unwrapped::Part
        }
    }
}

/// Appends a part, up to [`MAX_JOINED_BYTES`] in all.
fn append(pending: &mut Vec<u8>, part: &[u8]) {
    let room = MAX_JOINED_BYTES.saturating_sub(pending.len());
    pending.extend_from_slice(&part[..part.len().min(room)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(pending: &mut Pending, stream: usize) -> Vec<u8> {
        std::mem::take(pending.stream(stream))
    }

    #[test]
    fn cri_whole_and_partial_lines() {
        let mut pending = Pending::default();
        assert_eq!(
            unwrap(
                Wrapper::Cri,
                b"2026-12-04T10:00:00.1Z stdout F GET / 200",
                &mut pending
            ),
            Unwrapped::Whole(b"GET / 200")
        );
        assert_eq!(
            unwrap(
                Wrapper::Cri,
                b"2026-12-04T10:00:00.2Z stdout P GET /lo",
                &mut pending
            ),
            Unwrapped::Part
        );
        assert_eq!(
            unwrap(
                Wrapper::Cri,
                b"2026-12-04T10:00:00.3Z stdout F ng 200",
                &mut pending
            ),
            Unwrapped::Joined(0)
        );
        assert_eq!(joined(&mut pending, 0), b"GET /long 200");
        assert_eq!(
            unwrap(
                Wrapper::Cri,
                b"2026-12-04T10:00:00.4Z stdout F",
                &mut pending
            ),
            Unwrapped::Whole(b"")
        );
        for invalid in [&b"GET / 200"[..], b"t stdin F x", b"t stdout X x", b""] {
            assert_eq!(
                unwrap(Wrapper::Cri, invalid, &mut pending),
                Unwrapped::Invalid
            );
        }
    }

    #[test]
    fn streams_joined_apart() {
        let mut pending = Pending::default();
        unwrap(Wrapper::Cri, b"t stdout P GET /very/long/pa", &mut pending);
        assert_eq!(
            unwrap(Wrapper::Cri, b"t stderr F warning", &mut pending),
            Unwrapped::Whole(b"warning")
        );
        assert_eq!(
            unwrap(Wrapper::Cri, b"t stdout F th 200", &mut pending),
            Unwrapped::Joined(0)
        );
        assert_eq!(joined(&mut pending, 0), b"GET /very/long/path 200");

        unwrap(
            Wrapper::Docker,
            br#"{"log":"GET /a","stream":"stdout"}"#,
            &mut pending,
        );
        assert_eq!(
            unwrap(
                Wrapper::Docker,
                br#"{"log":"oops\n","stream":"stderr"}"#,
                &mut pending
            ),
            Unwrapped::Joined(1)
        );
        assert_eq!(joined(&mut pending, 1), b"oops");
        assert_eq!(
            unwrap(
                Wrapper::Docker,
                br#"{"log":"b 200\n","stream":"stdout"}"#,
                &mut pending
            ),
            Unwrapped::Joined(0)
        );
        assert_eq!(joined(&mut pending, 0), b"GET /ab 200");
    }

    #[test]
    fn docker_entries_unescaped_and_joined() {
        let mut pending = Pending::default();
        let entry =
            br#"{"log":"GET /\"q\" 200\n","stream":"stdout","time":"2026-12-04T10:00:00Z"}"#;
        assert_eq!(
            unwrap(Wrapper::Docker, entry, &mut pending),
            Unwrapped::Joined(0)
        );
        assert_eq!(joined(&mut pending, 0), br#"GET /"q" 200"#);
        assert_eq!(
            unwrap(
                Wrapper::Docker,
                br#"{"log":"GET /lo","stream":"stdout"}"#,
                &mut pending
            ),
            Unwrapped::Part
        );
        assert_eq!(
            unwrap(
                Wrapper::Docker,
                br#"{"log":"ng 200\n","stream":"stdout"}"#,
                &mut pending
            ),
            Unwrapped::Joined(0)
        );
        assert_eq!(joined(&mut pending, 0), b"GET /long 200");
        assert_eq!(
            unwrap(Wrapper::Docker, b"GET / 200", &mut pending),
            Unwrapped::Invalid
        );
    }

    #[test]
    fn joined_lines_are_capped() {
        let mut pending = Pending::default();
        let part = format!("t stdout P {}", "x".repeat(MAX_JOINED_BYTES - 10));
        unwrap(Wrapper::Cri, part.as_bytes(), &mut pending);
        unwrap(Wrapper::Cri, part.as_bytes(), &mut pending);
        assert_eq!(
            unwrap(Wrapper::Cri, b"t stdout F end", &mut pending),
            Unwrapped::Joined(0)
        );
        assert_eq!(joined(&mut pending, 0).len(), MAX_JOINED_BYTES);
    }
}
