//! The status pages: what a person checks first when metrics look wrong. `/status` is HTML
//! and `/status.json` is the same [`Status`] as JSON.
//!
//! A status is taken from the live rules and store, the tailer's per-path counts and the
//! ring of recent warnings and errors, each under its own lock, one after another, so taking
//! one never holds two locks at once.
//!
//! The JSON shape is stable: fields may be added, but none is renamed, removed or changes
//! type. Times are UTC in RFC 3339 with milliseconds; counts are integers.

pub mod html;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::live::Live;
use crate::logging::format_time_ms;
use crate::logging::recent::{RecentEvent, RecentEvents};
use crate::metrics::{SkipReason, now_ms};
use crate::rules::LoadError;
use crate::tail::{FileStats, TailStats};

/// Everything the status pages show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// logtally's version.
    pub version: String,
    /// When this status was taken.
    pub time: String,
    /// True once every file found at start has been read to its end, as `/ready` reports.
    pub ready: bool,
    pub reload: ReloadStatus,
    /// The rule files in force, in load order.
    pub rule_files: Vec<RuleFileStatus>,
    /// Every path followed or tried, sorted by path.
    pub followed_files: Vec<FollowedFileStatus>,
    /// The last warnings and errors logged, newest first.
    pub recent_events: Vec<EventStatus>,
    /// Warnings and errors logged since the start, counting those no longer in
    /// `recent_events`.
    pub recent_events_total: u64,
}

/// The outcome of the last rule reload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReloadStatus {
    /// False when the last reload failed and the rules loaded before stay in force.
    pub successful: bool,
    /// When the rules in force were loaded.
    pub last_success_time: String,
    /// When the rules were last reloaded, successfully or not; `null` before the first reload.
    pub last_reload_time: Option<String>,
    /// The errors of the last reload, in file order; empty when it succeeded. They may name
    /// rule files that are not in force, such as a new file in a rule directory.
    pub errors: Vec<ReloadError>,
}

/// One error of a failed reload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReloadError {
    pub path: String,
    /// 1-based line; `null` when the file as a whole failed, as when it cannot be read.
    pub line: Option<usize>,
    /// 1-based column, in characters; `null` with `line`.
    pub column: Option<usize>,
    pub message: String,
    /// The whole error as `FILE:LINE:COLUMN: message`, as `logtally check` prints it.
    pub text: String,
}

/// One rule file in force and the counts of the lines it was applied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleFileStatus {
    pub path: String,
    /// `[[metric]]` tables in the file.
    pub metrics: usize,
    /// As `logtally_lines_matched_total{rules}`.
    pub lines_matched: u64,
    /// As `logtally_lines_unmatched_total{rules}`.
    pub lines_unmatched: u64,
    /// Updates of the file's metrics skipped, by reason (`dash`, `empty`, `invalid`,
    /// `negative`), summed over the metrics of `logtally_values_skipped_total`.
    pub values_skipped: BTreeMap<&'static str, u64>,
    /// False when the last reload found an error in this file.
    pub last_reload_successful: bool,
    /// This file's errors from the last reload, one `FILE:LINE:COLUMN: message` per line;
    /// `null` when it had none.
    pub last_reload_error: Option<String>,
}

/// One followed path, with counts that continue across rotations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FollowedFileStatus {
    pub path: String,
    /// True while the file the path names is open.
    pub followed: bool,
    /// Bytes read from the file the path names now.
    pub offset: u64,
    /// That file's size when last read.
    pub size: u64,
    pub lines_read: u64,
    pub bytes_read: u64,
    /// Times the path started naming another file.
    pub rotations: u64,
    /// Times the file got shorter or was rewritten from its start.
    pub truncations: u64,
    /// Failed opens and reads, as `logtally_file_errors_total{path}`.
    pub errors: u64,
    /// The last failed open or read, kept after reading works again; `null` if none.
    pub last_error: Option<FileErrorStatus>,
}

/// A failed open or read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileErrorStatus {
    pub time: String,
    pub message: String,
}

/// One logged warning or error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventStatus {
    pub time: String,
    /// `warn` or `error`.
    pub level: &'static str,
    pub message: String,
    /// The event's other fields, such as `path` and `error`, as an object of strings in the
    /// order they were logged.
    #[serde(serialize_with = "ordered_map")]
    pub fields: Vec<(String, String)>,
}

/// The live state, tail stats and recent events that a status is taken from.
#[derive(Clone)]
pub struct StatusSources {
    pub live: Arc<Live>,
    pub tail: TailStats,
    pub recent: RecentEvents,
}

impl StatusSources {
    /// Takes the status now.
    pub fn status(&self) -> Status {
        let rule_files = self.rule_files();
        let reload = self.reload();
        let files = self.tail.lock().clone();
        let (events, recent_events_total) = self.recent.snapshot();
        Status {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            time: format_time_ms(now_ms()),
            ready: self.tail.caught_up(),
            rule_files: with_reload_errors(rule_files, &reload.errors),
            reload,
            followed_files: files.iter().map(followed_file).collect(),
            recent_events: events.into_iter().map(event).collect(),
            recent_events_total,
        }
    }

    /// Lists the rule files in force with their counts, before reload errors are added.
    fn rule_files(&self) -> Vec<RuleFileStatus> {
        let current = self.live.lock();
        let (rules, store) = (&current.rules, &current.store);
        rules
            .files
            .iter()
            .enumerate()
            .map(|(index, file)| {
                let mut values_skipped: BTreeMap<&'static str, u64> = SkipReason::ALL
                    .iter()
                    .map(|reason| (reason.as_str(), 0))
                    .collect();
                for metric in &file.metrics {
                    for (reason, count) in SkipReason::ALL.iter().zip(&store.skipped[metric.id]) {
                        *values_skipped.entry(reason.as_str()).or_default() += count;
                    }
                }
                RuleFileStatus {
                    path: path_text(&file.path),
                    metrics: file.metrics.len(),
                    lines_matched: store.matched[index],
                    lines_unmatched: store.unmatched[index],
                    values_skipped,
                    last_reload_successful: true,
                    last_reload_error: None,
                }
            })
            .collect()
    }

    fn reload(&self) -> ReloadStatus {
        ReloadStatus {
            successful: self.live.last_reload_ok(),
            last_success_time: format_time_ms(self.live.last_success_ms()),
            last_reload_time: self.live.last_reload_ms().map(format_time_ms),
            errors: self
                .live
                .last_reload_errors()
                .iter()
                .map(reload_error)
                .collect(),
        }
    }
}

/// Marks each rule file that the last reload found errors in, with those errors.
fn with_reload_errors(
    mut files: Vec<RuleFileStatus>,
    errors: &[ReloadError],
) -> Vec<RuleFileStatus> {
    for file in &mut files {
        let texts: Vec<&str> = errors
            .iter()
            .filter(|error| error.path == file.path)
            .map(|error| error.text.as_str())
            .collect();
        if !texts.is_empty() {
            file.last_reload_successful = false;
            file.last_reload_error = Some(texts.join("\n"));
        }
    }
    files
}

fn reload_error(error: &LoadError) -> ReloadError {
    ReloadError {
        path: path_text(&error.path),
        line: error.position.map(|position| position.line),
        column: error.position.map(|position| position.column),
        message: error.message.clone(),
        text: error.to_string(),
    }
}

fn followed_file((path, stats): (&std::path::PathBuf, &FileStats)) -> FollowedFileStatus {
    FollowedFileStatus {
        path: path_text(path),
        followed: stats.followed,
        offset: stats.offset,
        size: stats.size,
        lines_read: stats.lines,
        bytes_read: stats.bytes,
        rotations: stats.rotations,
        truncations: stats.truncations,
        errors: stats.errors,
        last_error: stats.last_error.as_ref().map(|error| FileErrorStatus {
            time: format_time_ms(error.time_ms),
            message: error.message.clone(),
        }),
    }
}

fn event(event: RecentEvent) -> EventStatus {
    EventStatus {
        time: format_time_ms(event.time_ms),
        level: event.level,
        message: event.message,
        fields: event.fields,
    }
}

/// Converts a path to text as the `path` and `rules` labels of the self-metrics show it.
fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Serializes name and value pairs as a JSON object, keeping their order.
fn ordered_map<S: Serializer>(
    pairs: &[(String, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(pairs.iter().map(|(name, value)| (name, value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(path: &str, text: &str) -> ReloadError {
        ReloadError {
            path: path.into(),
            line: Some(1),
            column: Some(2),
            message: "bad".into(),
            text: text.into(),
        }
    }

    fn rule_file(path: &str) -> RuleFileStatus {
        RuleFileStatus {
            path: path.into(),
            metrics: 1,
            lines_matched: 0,
            lines_unmatched: 0,
            values_skipped: BTreeMap::new(),
            last_reload_successful: true,
            last_reload_error: None,
        }
    }

    #[test]
    fn reload_errors_go_to_their_files() {
        let files = vec![rule_file("a.toml"), rule_file("b.toml")];
        let errors = [
            error("b.toml", "b.toml:1:2: bad"),
            error("c.toml", "c.toml:1:2: bad"),
            error("b.toml", "b.toml:3:4: worse"),
        ];
        let files = with_reload_errors(files, &errors);
        assert!(files[0].last_reload_successful);
        assert_eq!(files[0].last_reload_error, None);
        assert!(!files[1].last_reload_successful);
        assert_eq!(
            files[1].last_reload_error.as_deref(),
            Some("b.toml:1:2: bad\nb.toml:3:4: worse")
        );
    }

    #[test]
    fn event_fields_keep_their_order() {
        let event = EventStatus {
            time: "2026-12-04T00:00:00.000Z".into(),
            level: "warn",
            message: "Cut.".into(),
            fields: vec![("path".into(), "/b".into()), ("error".into(), "x".into())],
        };
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            concat!(
                r#"{"time":"2026-12-04T00:00:00.000Z","level":"warn","message":"Cut.","#,
                r#""fields":{"path":"/b","error":"x"}}"#
            )
        );
    }
}
