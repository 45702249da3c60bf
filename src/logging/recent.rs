//! The last warnings and errors logged, kept in a bounded ring for the status page, so that
//! a problem shows without access to the process's standard error.
//!
//! A [`RecordRecent`] layer copies each warning and error into a [`RecentEvents`] ring.
//! Warnings that a flood could repeat are rate-limited where they are logged, so the ring
//! does not fill with copies of one message.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::metrics::now_ms;

/// Warnings and errors kept; older ones are dropped.
pub const RECENT_EVENTS: usize = 20;

/// Maximum length of a field value kept, in bytes. Longer values are cut at a character
/// boundary.
const MAX_VALUE_BYTES: usize = 4096;

/// One logged warning or error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentEvent {
    /// When it was logged, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// `warn` or `error`.
    pub level: &'static str,
    pub message: String,
    /// The other fields as name and value, in the order they were logged.
    pub fields: Vec<(String, String)>,
}

/// The last [`RECENT_EVENTS`] warnings and errors, shared by the layer that records them and
/// the status page that shows them.
#[derive(Debug, Clone, Default)]
pub struct RecentEvents {
    ring: Arc<Mutex<Ring>>,
}

#[derive(Debug, Default)]
struct Ring {
    /// Oldest first.
    events: VecDeque<RecentEvent>,
    /// Warnings and errors recorded since the start, counting those dropped from the ring.
    total: u64,
}

impl RecentEvents {
    /// Adds an event, dropping the oldest when the ring is full.
    pub fn push(&self, event: RecentEvent) {
        let mut ring = self.lock();
        if ring.events.len() == RECENT_EVENTS {
            ring.events.pop_front();
        }
        ring.events.push_back(event);
        ring.total += 1;
    }

    /// Returns the events in the ring, newest first, and the number recorded since the start.
    pub fn snapshot(&self) -> (Vec<RecentEvent>, u64) {
        let ring = self.lock();
        (ring.events.iter().rev().cloned().collect(), ring.total)
    }

    /// Locks the ring. A panic while the lock was held leaves whole events behind, so a
    /// poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, Ring> {
        self.ring
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A `tracing` layer that records warnings and errors in a [`RecentEvents`], whatever level
/// the log output is filtered to.
pub struct RecordRecent(pub RecentEvents);

impl<S: Subscriber> Layer<S> for RecordRecent {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warn",
            _ => return,
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.0.push(RecentEvent {
            time_ms: now_ms(),
            level,
            message: fields.message,
            fields: fields.others,
        });
    }
}

/// Collects an event's message and other fields as text.
#[derive(Default)]
struct Fields {
    message: String,
    others: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.add(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.add(field, format!("{value:?}"));
    }
}

impl Fields {
    fn add(&mut self, field: &Field, mut value: String) {
        cut_to_limit(&mut value);
        if field.name() == "message" {
            self.message = value;
        } else {
            self.others.push((field.name().to_owned(), value));
        }
    }
}

/// Cuts a value to [`MAX_VALUE_BYTES`] at a character boundary, marking the cut with `…`.
fn cut_to_limit(value: &mut String) {
    if value.len() <= MAX_VALUE_BYTES {
        return;
    }
    let mut end = MAX_VALUE_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value.truncate(end);
    value.push('…');
}

#[cfg(test)]
mod tests {
    use tracing::{error, info, warn};
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    fn record(log: impl FnOnce()) -> (Vec<RecentEvent>, u64) {
        let recent = RecentEvents::default();
        let subscriber = tracing_subscriber::registry().with(RecordRecent(recent.clone()));
        tracing::subscriber::with_default(subscriber, log);
        recent.snapshot()
    }

    #[test]
    fn warnings_and_errors_recorded() {
        let (events, total) = record(|| {
            info!("Started.");
            warn!(path = "/var/log/a <b>.log", count = 3, "Cut a line.");
            let error = std::io::Error::other("disk & full");
            error!(%error, "Failed to save.");
        });
        assert_eq!(total, 2);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].level, "error");
        assert_eq!(events[0].message, "Failed to save.");
        assert_eq!(events[0].fields, [("error".into(), "disk & full".into())]);
        assert_eq!(events[1].level, "warn");
        assert_eq!(events[1].message, "Cut a line.");
        assert_eq!(
            events[1].fields,
            [
                ("path".into(), "/var/log/a <b>.log".into()),
                ("count".into(), "3".into())
            ]
        );
    }

    #[test]
    fn ring_keeps_newest() {
        let (events, total) = record(|| {
            for index in 0..RECENT_EVENTS + 5 {
                warn!(index, "Numbered.");
            }
        });
        assert_eq!(total, RECENT_EVENTS as u64 + 5);
        assert_eq!(events.len(), RECENT_EVENTS);
        let newest = (RECENT_EVENTS + 4).to_string();
        assert_eq!(events[0].fields, [("index".into(), newest)]);
        assert_eq!(
            events[RECENT_EVENTS - 1].fields,
            [("index".into(), "5".into())]
        );
    }

    #[test]
    fn long_values_cut() {
        let long = "é".repeat(MAX_VALUE_BYTES);
        let (events, _) = record(|| warn!(value = long.as_str(), "Long."));
        let (_, value) = &events[0].fields[0];
        assert_eq!(value.len(), MAX_VALUE_BYTES + '…'.len_utf8());
        assert!(value.ends_with("é…"), "{value}");
    }
}
