//! The rule file as written: serde structures that mirror the TOML keys one to one.
//!
//! Every value that a later check may reject is wrapped in [`Spanned`], so the error can name
//! its line and column. Unknown keys are rejected by serde itself.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// Label names and their values, as in `const_labels` and `initial`.
pub type LabelValues = std::collections::BTreeMap<String, String>;

/// A whole rule file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFileSpec {
    /// Globs of the log files this rule file applies to in the daemon, each with the labels
    /// its lines get; without them the file applies to every file `--logs` matches.
    pub files: Option<Spanned<Vec<Spanned<FileEntry>>>>,
    /// A regex on a log's path whose named groups become labels of every metric of the file.
    pub path_labels: Option<Spanned<String>>,
    /// The container log format (`cri` or `docker`) to take each line out of before parsing.
    pub wrapper: Option<Spanned<String>>,
    /// Labels with fixed values added to every metric of the file, such as the proxy a log
    /// comes from.
    pub const_labels: Option<Spanned<std::collections::BTreeMap<String, String>>>,
    /// Named sub-patterns for this file's regexes, used as `%{NAME}` or `%{NAME:field}`.
    pub patterns: Option<Spanned<std::collections::BTreeMap<String, Spanned<String>>>>,
    /// The patterns that split each line into fields: one `[parse]` table, or several `[[parse]]`
    /// tables tried in order. A file whose metrics all have their own `regex` needs none.
    pub parse: Option<ParseList>,
    /// Fields computed from other fields, in file order.
    #[serde(default, rename = "derive")]
    pub derives: Vec<Spanned<DeriveSpec>>,
    /// The metrics that matching lines update, in file order.
    #[serde(default, rename = "metric")]
    pub metrics: Vec<Spanned<MetricSpec>>,
    /// Tests of this file's rules, run by `logtally check`.
    #[serde(default, rename = "test")]
    pub tests: Vec<Spanned<TestSpec>>,
}

/// One entry of `files`: a glob, or `{ glob = "...", labels = { ... } }`.
#[derive(Debug)]
pub struct FileEntry {
    pub glob: String,
    pub labels: std::collections::BTreeMap<String, String>,
}

/// The table form of a `files` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTable {
    glob: String,
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
}

impl<'de> Deserialize<'de> for FileEntry {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FileEntryVisitor)
    }
}

struct FileEntryVisitor;

impl<'de> Visitor<'de> for FileEntryVisitor {
    type Value = FileEntry;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a glob or a { glob = \"...\", labels = { ... } } table")
    }

    fn visit_str<E: de::Error>(self, glob: &str) -> Result<FileEntry, E> {
        Ok(FileEntry {
            glob: glob.to_owned(),
            labels: Default::default(),
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FileEntry, A::Error> {
        let table = FileTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(FileEntry {
            glob: table.glob,
            labels: table.labels,
        })
    }
}

/// One `[[test]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    pub name: String,
    /// Log lines: an array of strings, or one string with a line per line.
    pub input: Lines,
    /// Expected exposition samples, `name{labels} value`.
    pub expect: Vec<Spanned<String>>,
    /// When true, every sample of the file's metrics must be listed in `expect`.
    #[serde(default)]
    pub all: bool,
    /// The log path the input is taken to come from, for labels from the log's source.
    pub path: Option<String>,
}

/// Lines given as an array of strings or as one multi-line string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Lines {
    List(Vec<String>),
    Text(String),
}

impl Lines {
    /// The lines, without their terminators.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Lines::List(lines) => lines.clone(),
            Lines::Text(text) => text.lines().map(str::to_owned).collect(),
        }
    }
}

/// The `parse` key: one table or an array of tables.
#[derive(Debug)]
pub struct ParseList(pub Vec<ParseSpec>);

impl<'de> Deserialize<'de> for ParseList {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ParseListVisitor)
    }
}

struct ParseListVisitor;

impl<'de> Visitor<'de> for ParseListVisitor {
    type Value = ParseList;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a [parse] table or [[parse]] tables")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ParseList, A::Error> {
        let spec = ParseSpec::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(ParseList(vec![spec]))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ParseList, A::Error> {
        let mut specs = Vec::new();
        while let Some(spec) = seq.next_element::<ParseSpec>()? {
            specs.push(spec);
        }
        Ok(ParseList(specs))
    }
}

/// One `[parse]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseSpec {
    /// `regex` (the default), `json` or `logfmt`.
    pub format: Option<Spanned<String>>,
    /// A regex whose named groups become fields; required for the `regex` format.
    pub regex: Option<Spanned<String>>,
}

/// One `[[derive]]` table: a field computed from another by the listed steps.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeriveSpec {
    pub name: Spanned<String>,
    pub from: Spanned<String>,
    pub lowercase: Option<Spanned<bool>>,
    pub replace: Option<Spanned<Vec<ReplaceSpec>>>,
    pub status_class: Option<Spanned<bool>>,
    pub map: Option<Spanned<std::collections::BTreeMap<String, String>>>,
    pub default: Option<Spanned<String>>,
    pub allow: Option<Spanned<Vec<String>>>,
    pub other: Option<Spanned<String>>,
}

/// One `{ regex = '...', with = '...' }` entry of a `replace` list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceSpec {
    pub regex: Spanned<String>,
    pub with: String,
}

/// One `[[metric]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub help: Spanned<String>,
    #[serde(default)]
    pub labels: Option<Spanned<LabelsSpec>>,
    pub value: Option<Spanned<String>>,
    pub scale: Option<Spanned<f64>>,
    pub list: Option<Spanned<String>>,
    pub buckets: Option<Spanned<BucketsSpec>>,
    pub max_series: Option<Spanned<i64>>,
    pub expire: Option<Spanned<String>>,
    /// Regexes fields must match for the metric to be updated.
    #[serde(rename = "match")]
    pub match_fields: Option<Spanned<std::collections::BTreeMap<String, Spanned<String>>>>,
    /// Regexes fields must not match for the metric to be updated.
    pub unless: Option<Spanned<std::collections::BTreeMap<String, Spanned<String>>>>,
    /// A regex on the raw line, for metrics that count lines the `[parse]` patterns do not
    /// describe; its named groups are the metric's fields.
    pub regex: Option<Spanned<String>>,
    /// For a histogram: also keep native buckets, which Prometheus scrapes in protobuf.
    pub native: Option<Spanned<bool>>,
    /// Label sets exported with a zero value before any line updates them.
    pub initial: Option<Spanned<Vec<Spanned<LabelValues>>>>,
}

/// The `labels` key: a list whose entries are field names or `{ label = "field" }` tables, or
/// one table of `label = "field"` pairs. Order is kept, because it is the order of the output.
#[derive(Debug, Default)]
pub struct LabelsSpec(pub Vec<LabelSpec>);

/// One label and the field its value comes from.
#[derive(Debug)]
pub struct LabelSpec {
    pub label: Spanned<String>,
    pub field: Spanned<String>,
}

impl<'de> Deserialize<'de> for LabelsSpec {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LabelsVisitor)
    }
}

struct LabelsVisitor;

impl<'de> Visitor<'de> for LabelsVisitor {
    type Value = LabelsSpec;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a list of field names or { label = \"field\" } tables")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LabelsSpec, A::Error> {
        let mut labels = Vec::new();
        while let Some(entry) = seq.next_element::<Spanned<LabelEntry>>()? {
            labels.extend(LabelEntry::into_labels(entry));
        }
        Ok(LabelsSpec(labels))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LabelsSpec, A::Error> {
        Ok(LabelsSpec(read_renames(map)?))
    }
}

/// One entry of a `labels` list: a field name, or a table renaming one or more fields.
enum LabelEntry {
    Field(String),
    Renames(Vec<LabelSpec>),
}

impl LabelEntry {
    /// Resolves the entry into labels; a bare field name takes the span of the whole entry.
    fn into_labels(entry: Spanned<LabelEntry>) -> Vec<LabelSpec> {
        let span = entry.span();
        match entry.into_inner() {
            LabelEntry::Field(name) => vec![LabelSpec {
                label: Spanned::new(span.clone(), name.clone()),
                field: Spanned::new(span, name),
            }],
            LabelEntry::Renames(labels) => labels,
        }
    }
}

impl<'de> Deserialize<'de> for LabelEntry {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LabelEntryVisitor)
    }
}

struct LabelEntryVisitor;

impl<'de> Visitor<'de> for LabelEntryVisitor {
    type Value = LabelEntry;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a field name or a { label = \"field\" } table")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<LabelEntry, E> {
        Ok(LabelEntry::Field(value.to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LabelEntry, A::Error> {
        Ok(LabelEntry::Renames(read_renames(map)?))
    }
}

fn read_renames<'de, A: MapAccess<'de>>(mut map: A) -> Result<Vec<LabelSpec>, A::Error> {
    let mut labels = Vec::new();
    while let Some(label) = map.next_key::<Spanned<String>>()? {
        let field = map.next_value::<Spanned<String>>()?;
        labels.push(LabelSpec { label, field });
    }
    Ok(labels)
}

/// The `buckets` key: a list of upper bounds, or a table that generates them.
#[derive(Debug)]
pub enum BucketsSpec {
    List(Vec<Spanned<f64>>),
    Generated(GeneratedBuckets),
}

/// `buckets = { start = ..., width = ..., count = ... }` for evenly spaced bounds, or with
/// `factor` instead of `width` for bounds that grow by a constant ratio.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratedBuckets {
    pub start: Spanned<f64>,
    pub width: Option<Spanned<f64>>,
    pub factor: Option<Spanned<f64>>,
    pub count: Spanned<i64>,
}

impl<'de> Deserialize<'de> for BucketsSpec {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BucketsVisitor)
    }
}

struct BucketsVisitor;

impl<'de> Visitor<'de> for BucketsVisitor {
    type Value = BucketsSpec;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a list of upper bounds or a { start, width or factor, count } table")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BucketsSpec, A::Error> {
        let mut bounds = Vec::new();
        while let Some(bound) = seq.next_element::<Spanned<f64>>()? {
            bounds.push(bound);
        }
        Ok(BucketsSpec::List(bounds))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<BucketsSpec, A::Error> {
        let generated = GeneratedBuckets::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(BucketsSpec::Generated(generated))
    }
}
