//! Container log formats: the line a proxy wrote to standard output, taken out of the line a
//! container runtime stored on the node.
//!
//! - `cri` (containerd, CRI-O): `TIME STREAM TAG CONTENT`, where the tag `P` marks a part of a
//!   long line, continued by the next entries up to one tagged `F`.
//! - `docker` (the json-file driver): `{"log":"CONTENT\n","stream":"stdout","time":"..."}`,
//!   where a `log` without its final line feed is a part continued by the next entries.

use serde::Deserialize;

use crate::rules::Wrapper;

/// Most bytes of one joined line; further parts are dropped, as the line splitter cuts long
/// lines.
pub const MAX_JOINED_BYTES: usize = 1024 * 1024;

/// What one stored line gives.
#[derive(Debug, PartialEq, Eq)]
pub enum Unwrapped<'a> {
    /// A whole line, found in the stored line itself.
    Whole(&'a [u8]),
    /// The last part of a line: the whole line is in the pending buffer.
    Joined,
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
}

/// Unwraps one stored line. Parts of a long line gather in `pending`, which the caller
/// empties after using a [`Unwrapped::Joined`] line.
pub fn unwrap<'a>(wrapper: Wrapper, line: &'a [u8], pending: &mut Vec<u8>) -> Unwrapped<'a> {
    match wrapper {
        Wrapper::Cri => unwrap_cri(line, pending),
        Wrapper::Docker => unwrap_docker(line, pending),
    }
}

fn unwrap_cri<'a>(line: &'a [u8], pending: &mut Vec<u8>) -> Unwrapped<'a> {
    let mut fields = line.splitn(4, |byte| *byte == b' ');
    let (Some(_time), Some(stream), Some(tag)) = (fields.next(), fields.next(), fields.next())
    else {
        return Unwrapped::Invalid;
    };
    if !matches!(stream, b"stdout" | b"stderr") {
        return Unwrapped::Invalid;
    }
    let content = fields.next().unwrap_or_default();
    match tag.first() {
        Some(b'F') if pending.is_empty() => Unwrapped::Whole(content),
        Some(b'F') => {
            append(pending, content);
            Unwrapped::Joined
        }
        Some(b'P') => {
            append(pending, content);
            Unwrapped::Part
        }
        _ => Unwrapped::Invalid,
    }
}

fn unwrap_docker<'a>(line: &'a [u8], pending: &mut Vec<u8>) -> Unwrapped<'a> {
    let Ok(entry) = serde_json::from_slice::<DockerEntry>(line) else {
        return Unwrapped::Invalid;
    };
    let log = entry.log.as_bytes();
    match log.strip_suffix(b"\n") {
        Some(content) => {
            append(pending, content);
            Unwrapped::Joined
        }
        None => {
            append(pending, log);
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

    #[test]
    fn cri_whole_and_partial_lines() {
        let mut pending = Vec::new();
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
            Unwrapped::Joined
        );
        assert_eq!(pending, b"GET /long 200");
        assert_eq!(
            unwrap(
                Wrapper::Cri,
                b"2026-12-04T10:00:00.4Z stdout F",
                &mut Vec::new()
            ),
            Unwrapped::Whole(b"")
        );
        for invalid in [&b"GET / 200"[..], b"t stdin F x", b"t stdout X x", b""] {
            assert_eq!(
                unwrap(Wrapper::Cri, invalid, &mut Vec::new()),
                Unwrapped::Invalid
            );
        }
    }

    #[test]
    fn docker_entries_unescaped_and_joined() {
        let mut pending = Vec::new();
        let entry =
            br#"{"log":"GET /\"q\" 200\n","stream":"stdout","time":"2026-12-04T10:00:00Z"}"#;
        assert_eq!(
            unwrap(Wrapper::Docker, entry, &mut pending),
            Unwrapped::Joined
        );
        assert_eq!(pending, br#"GET /"q" 200"#);
        pending.clear();
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
            Unwrapped::Joined
        );
        assert_eq!(pending, b"GET /long 200");
        assert_eq!(
            unwrap(Wrapper::Docker, b"GET / 200", &mut Vec::new()),
            Unwrapped::Invalid
        );
    }

    #[test]
    fn joined_lines_are_capped() {
        let mut pending = Vec::new();
        let part = format!("t stdout P {}", "x".repeat(MAX_JOINED_BYTES - 10));
        unwrap(Wrapper::Cri, part.as_bytes(), &mut pending);
        unwrap(Wrapper::Cri, part.as_bytes(), &mut pending);
        assert_eq!(
            unwrap(Wrapper::Cri, b"t stdout F end", &mut pending),
            Unwrapped::Joined
        );
        assert_eq!(pending.len(), MAX_JOINED_BYTES);
    }
}
