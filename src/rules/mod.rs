//! Rules: the step between lines and metric updates.
//!
//! A rule file names a regex whose named groups become fields, and metrics that each matching
//! line updates. Loading turns the TOML into a [`RuleSet`]: regexes compiled, label and value
//! fields resolved to capture-group indices, and every metric name assigned to a family shared
//! across files. A `RuleSet` is immutable, so readers can share it without locks. The per-line
//! work happens in [`crate::engine`].

mod compile;
mod error;
pub mod names;
mod schema;
pub mod testing;

use std::fmt;
use std::path::{Path, PathBuf};

use regex::bytes::Regex;

use crate::decimal::Decimal;
use crate::engine::{ListMode, Splitter};

pub use compile::patterns::Expansion;
pub use error::{LoadError, LoadErrors, Position};
pub use names::SELF_PREFIX;
pub use testing::RuleTest;

/// Label sets a metric keeps unless its rule sets `max_series`. Label values come from log
/// lines, so a label fed by a URL or a client address could otherwise grow without bound.
pub const DEFAULT_MAX_SERIES: usize = 10_000;

/// The Prometheus client libraries' default histogram buckets, in seconds.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The kind of a metric, as in `type = "counter"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

impl MetricKind {
    /// The name used in rule files and in `# TYPE` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A metric family as exported: one name, help text, type and label names, shared by every
/// rule that defines the same metric.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyDef {
    pub name: String,
    pub help: String,
    pub kind: MetricKind,
    pub label_names: Vec<String>,
    /// Upper bounds of the histogram buckets, strictly increasing, without `+Inf`.
    pub buckets: Vec<f64>,
    /// Most label sets kept; updates that would create more go to one overflow series.
    pub max_series: usize,
    /// A labelled series not updated for this long is removed; `None` keeps series.
    pub expire: Option<std::time::Duration>,
    /// A histogram that also keeps native buckets, served in the protobuf format.
    pub native: bool,
}

/// One `[[metric]]` of a rule file, resolved against its regex.
#[derive(Debug, Clone)]
pub struct MetricRule {
    /// Index into [`RuleSet::families`].
    pub family: usize,
    /// Index into [`RuleSet::metrics`], used to count skipped values.
    pub id: usize,
    /// Field index ([`RuleFile::fields`]) for each label, in label order.
    pub label_fields: Vec<usize>,
    /// Field index of the value, if the metric has one.
    pub value_field: Option<usize>,
    /// The values of the file's constant labels, encoded as they end a series key.
    pub const_key: Vec<u8>,
    /// Conditions on fields; the metric is updated only when all hold.
    pub filters: Vec<Filter>,
    /// Factor applied to each value before it is recorded.
    pub scale: Option<Decimal>,
    /// The reading of a field that holds several numbers.
    pub list: ListMode,
    /// The metric's own regex on the raw line; its field indices then refer to this
    /// pattern's fields instead of the file's.
    pub own_pattern: Option<OwnPattern>,
    /// Label sets exported as zero from the start, each as the values of the field labels
    /// encoded as they begin a series key.
    pub initial: Vec<Box<[u8]>>,
}

impl MetricRule {
    /// Returns the name of the field the metric reads its value from, if any.
    pub fn value_field_name<'a>(&'a self, file: &'a RuleFile) -> Option<&'a str> {
        let fields = self
            .own_pattern
            .as_ref()
            .map_or(&file.fields, |own| &own.fields);
        self.value_field.map(|index| fields[index].as_str())
    }
}

/// A metric's own `regex`, matched against the whole line.
#[derive(Debug, Clone)]
pub struct OwnPattern {
    pub regex: Regex,
    /// Finds the groups faster than the regex engine, for regexes of the right shape.
    pub splitter: Option<Splitter>,
    /// The regex's named groups, which the metric's labels, value and filters use.
    pub fields: Vec<String>,
    /// The capture-group index of each field.
    pub groups: Vec<Option<usize>>,
}

/// The own regexes of a file's metrics, run together as one set, so that many of them cost
/// about one pass over a line instead of one pass each.
#[derive(Debug, Clone)]
pub struct LineSet {
    pub set: regex::bytes::RegexSet,
    /// The index in [`RuleFile::metrics`] of the metric of each regex of the set.
    pub metrics: Vec<usize>,
}

/// A condition from `match` (the field must match the regex) or `unless` (it must not).
#[derive(Debug, Clone)]
pub struct Filter {
    pub field: usize,
    pub regex: Regex,
    /// True for `match`, false for `unless`.
    pub must_match: bool,
}

/// Byte strings looked up exactly, as a `[[derive]]` table's `map`.
pub type ValueMap = std::collections::HashMap<Box<[u8]>, Box<[u8]>>;

/// A `[[derive]]` table: a field computed from another field of the same line. The steps run
/// in the order of the fields below.
#[derive(Debug, Clone)]
pub struct Derive {
    /// Field index the result is stored in; it may be the field read from.
    pub field: usize,
    /// Field index the input is read from.
    pub from: usize,
    /// ASCII letters to lower case.
    pub lowercase: bool,
    /// Regex replacements, each applied to every match, in order.
    pub replace: Vec<(Regex, Vec<u8>)>,
    /// A three-digit status becomes its class: `404` gives `4xx`.
    pub status_class: bool,
    /// Values looked up exactly; others become `map_default`, or stay when it is `None`.
    pub map: Option<ValueMap>,
    pub map_default: Option<Box<[u8]>>,
    /// Values kept as they are; any other becomes `other`.
    pub allow: Option<std::collections::HashSet<Box<[u8]>>>,
    pub other: Box<[u8]>,
}

/// A loaded rule file.
#[derive(Debug, Clone)]
pub struct RuleFile {
    pub path: PathBuf,
    /// The `[parse]` patterns, tried in order; the first that matches gives the fields.
    pub patterns: Vec<Pattern>,
    /// Every field any pattern or `[[derive]]` defines; metrics refer to fields by index into
    /// this list.
    pub fields: Vec<String>,
    /// The `[[derive]]` tables, run in order on each matched line.
    pub derives: Vec<Derive>,
    pub metrics: Vec<MetricRule>,
    /// The metrics with their own regex, if any.
    pub line_set: Option<LineSet>,
    /// The file's `[[test]]` tables.
    pub tests: Vec<RuleTest>,
    /// Globs of the log files the file applies to; empty for every followed file.
    pub log_globs: Vec<String>,
    /// Labels the file's metrics take from the log a line comes from.
    pub source_labels: SourceLabels,
    /// The container log format lines are taken out of before parsing, if any.
    pub wrapper: Option<Wrapper>,
}

/// A container runtime's log format, as in `wrapper = "cri"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrapper {
    /// containerd and CRI-O: `TIME STREAM TAG CONTENT`.
    Cri,
    /// Docker's json-file driver: one JSON object per line, the line in `log`.
    Docker,
}

/// Labels a rule file's metrics take from the log a line comes from: those its `files`
/// entries give, and the named groups of its `path_labels` regex. They follow the metric's
/// own labels and the file's constant labels.
#[derive(Debug, Clone, Default)]
pub struct SourceLabels {
    /// Label names in output order: the `files` entries' labels by name, then the groups of
    /// `path_labels` in pattern order.
    pub names: Vec<String>,
    /// Each `files` entry's glob and its value for each name; empty where it gives none.
    pub globs: Vec<(crate::tail::Glob, Vec<String>)>,
    /// The `path_labels` regex and, for each name, the group it takes the value from.
    pub path: Option<(Regex, Vec<Option<usize>>)>,
}

impl RuleFile {
    /// Returns the index of the field `name`, adding the field when a JSON or logfmt pattern
    /// could give it, since their keys are known only per line. Returns `None` when no
    /// pattern of the file gives the field. Engines must be created after fields are added.
    pub fn find_or_add_field(&mut self, name: &str) -> Option<usize> {
        if let Some(index) = self.fields.iter().position(|field| field == name) {
            return Some(index);
        }
        let open = self
            .patterns
            .iter()
            .any(|pattern| matches!(pattern, Pattern::Json | Pattern::Logfmt));
        if !open {
            return None;
        }
        self.fields.push(name.to_owned());
        // Every named group of a regex is a field already, so no regex has this one.
        for pattern in &mut self.patterns {
            if let Pattern::Regex { groups, .. } = pattern {
                groups.push(None);
            }
        }
        Some(self.fields.len() - 1)
    }

    /// Returns true when the file applies to lines of the log at `path`.
    pub fn applies_to(&self, path: &Path) -> bool {
        self.log_globs.is_empty()
            || self
                .log_globs
                .iter()
                .any(|glob| crate::tail::Glob::new(glob).is_ok_and(|glob| glob.matches(path)))
    }
}

/// One `[parse]` table: how a line is split into the rule file's fields.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// A regex, and the capture-group index of each field, or `None` where this regex does
    /// not define the field.
    Regex {
        regex: Regex,
        /// Finds the groups faster than the regex engine, for regexes of the right shape.
        splitter: Option<Splitter>,
        groups: Vec<Option<usize>>,
        /// The regex as written, with the map from the compiled text back to it.
        source: Expansion,
    },
    /// A JSON object per line; nested keys are joined with dots.
    Json,
    /// `key=value` pairs per line.
    Logfmt,
}

/// All loaded rule files, ready to apply to lines.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub files: Vec<RuleFile>,
    pub families: Vec<FamilyDef>,
    /// The metric name of each [`MetricRule::id`].
    pub metrics: Vec<String>,
}

impl RuleSet {
    /// Describes everything that decides a family's values: its name, type, labels and
    /// buckets, and the value field, scale and list mode of each rule that updates it. Saved
    /// values are restored only into a family with the same description, so a change to any
    /// of these starts the family afresh, while a change of help text keeps its values.
    pub fn family_state_key(&self, family: usize) -> String {
        let definition = &self.families[family];
        let mut key = format!(
            "{} {} labels=[{}] buckets=[{}]{}",
            definition.kind,
            definition.name,
            definition.label_names.join(","),
            definition
                .buckets
                .iter()
                .map(f64::to_string)
                .collect::<Vec<_>>()
                .join(","),
            if definition.native { " native" } else { "" },
        );
        let mut updates: Vec<String> = self
            .files
            .iter()
            .flat_map(|file| file.metrics.iter().map(move |metric| (file, metric)))
            .filter(|(_, metric)| metric.family == family)
            .map(|(file, metric)| {
                let scale = metric
                    .scale
                    .map_or_else(|| "1".to_owned(), |scale| scale.to_string());
                let field = metric.value_field_name(file).unwrap_or("");
                format!(" value={field} scale={scale} list={:?}", metric.list)
            })
            .collect();
        updates.sort();
        updates.dedup();
        key.extend(updates);
        key
    }
}

impl RuleSet {
    /// Loads rule files. Each path is a rule file or a directory whose `*.toml` files are
    /// loaded in name order. Every problem found in any file is returned, not only the first.
    pub fn load(paths: &[PathBuf]) -> Result<RuleSet, LoadErrors> {
        let mut files = Vec::new();
        let mut errors = Vec::new();
        for path in paths {
            match rule_files_in(path) {
                Ok(found) => files.extend(found),
                Err(error) => errors.push(error),
            }
        }

        let files = drop_repeated_files(files, &mut errors);
        let mut builder = compile::Builder::default();
        for file in &files {
            match read_rule_file(file) {
                Ok(source) => builder.add_file(file, &source),
                Err(error) => errors.push(error),
            }
        }

        let (rules, compile_errors) = builder.finish();
        errors.extend(compile_errors);
        if errors.is_empty() {
            Ok(rules)
        } else {
            Err(LoadErrors(errors))
        }
    }

    /// Loads rules from TOML text, as if read from `path`. Used by tests and tools that hold
    /// the text already.
    pub fn from_source(path: &Path, source: &str) -> Result<RuleSet, LoadErrors> {
        let mut builder = compile::Builder::default();
        builder.add_file(path, source);
        let (rules, errors) = builder.finish();
        if errors.is_empty() {
            Ok(rules)
        } else {
            Err(LoadErrors(errors))
        }
    }
}

/// Keeps the first of several paths to one rule file, reporting the others: a rule file
/// loaded twice would count every line twice.
fn drop_repeated_files(files: Vec<PathBuf>, errors: &mut Vec<LoadError>) -> Vec<PathBuf> {
    let mut seen: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut kept = Vec::new();
    for file in files {
        let real = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
        match seen.iter().find(|(known, _)| *known == real) {
            Some((_, first)) => errors.push(LoadError::whole_file(
                &file,
                format!(
                    "the same rule file as {}, so every line would count twice; give it once",
                    first.display()
                ),
            )),
            None => {
                seen.push((real, file.clone()));
                kept.push(file);
            }
        }
    }
    kept
}

/// Largest rule file read, in bytes; rule files are hand-written and far smaller.
const MAX_RULE_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads a rule file as UTF-8 text, naming the position of the first invalid byte.
fn read_rule_file(path: &Path) -> Result<String, LoadError> {
    use std::io::Read;

    let failed =
        |error: std::io::Error| LoadError::whole_file(path, format!("failed to read: {error}"));
    let file = std::fs::File::open(path).map_err(failed)?;
    let mut bytes = Vec::new();
    file.take(MAX_RULE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    if bytes.len() as u64 > MAX_RULE_FILE_BYTES {
        return Err(LoadError::whole_file(
            path,
            "larger than 16 MiB; is this a rule file?",
        ));
    }
    String::from_utf8(bytes).map_err(|error| {
        let valid = error.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&error.as_bytes()[..valid]).into_owned();
        LoadError::at(
            path,
            &text,
            valid..valid,
            "invalid UTF-8; rule files must be UTF-8 text",
        )
    })
}

/// Expands a `--rules` path into rule files: the file itself, or a directory's `*.toml` files.
fn rule_files_in(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let metadata = std::fs::metadata(path)
        .map_err(|error| LoadError::whole_file(path, format!("failed to read: {error}")))?;
    if metadata.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !metadata.is_dir() {
        return Err(LoadError::whole_file(
            path,
            "not a regular file or a directory",
        ));
    }

    let entries = std::fs::read_dir(path)
        .map_err(|error| LoadError::whole_file(path, format!("failed to list: {error}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|file| {
            file.extension()
                .is_some_and(|extension| extension == "toml")
        })
        .filter(|file| file.is_file())
        .collect();
    files.sort();

    if files.is_empty() {
        return Err(LoadError::whole_file(
            path,
            "no *.toml rule files in this directory",
        ));
    }
    Ok(files)
}
