//! The rule engine: applies a [`RuleSet`] to lines and records the updates in a [`Store`].
//!
//! This is the hot path. Group bounds and the series-key buffer are allocated once per
//! engine and reused, so a line whose series already exist allocates nothing.

mod derive;
mod split;
mod structured;
mod timestamp;
mod value;
mod wrapper;

use std::path::Path;
use std::sync::Arc;

pub use split::{GroupSpans, Splitter};
pub use timestamp::{TimeSpan, format_utc};
pub use value::ListMode;
use value::read_values;

use crate::decimal::Decimal;
use crate::metrics::{KEY_SEPARATOR, Store};
use crate::rules::{MetricKind, MetricRule, Pattern, RuleFile, RuleSet};
use derive::Derived;
use structured::Values;
use wrapper::{Pending, Unwrapped};

/// Maximum length of a label value, in bytes. Longer values are cut, so one huge field cannot
/// make a series key, or the scrape, arbitrarily large.
pub const MAX_LABEL_VALUE_BYTES: usize = 1024;

/// A rule file that applies to a log, with the label values the log gives its metrics.
#[derive(Debug, Clone)]
pub struct SourceRule {
    /// Index of the rule file in the rule set.
    pub file: usize,
    /// The values of the file's source labels, encoded as they end a series key.
    pub key: Box<[u8]>,
    /// The parts of long lines split by a container runtime, until their last parts.
    pending: Pending,
}

impl SourceRule {
    /// Creates the source of the rule file with index `file`, for a log whose source key is
    /// `key`.
    pub fn new(file: usize, key: Box<[u8]>) -> SourceRule {
        SourceRule {
            file,
            key,
            pending: Pending::default(),
        }
    }
}

/// Returns the rule files to apply to the log at `path`, with its label values. The daemon
/// applies a rule file only to the logs its `files` globs match (`respect_globs`), while
/// `once` applies every rule file to every input. Standard input has no path.
pub fn sources_for(rules: &RuleSet, path: Option<&Path>, respect_globs: bool) -> Vec<SourceRule> {
    let absolute = path.and_then(|path| std::path::absolute(path).ok());
    rules
        .files
        .iter()
        .enumerate()
        .filter(|(_, file)| {
            !respect_globs || absolute.as_deref().is_none_or(|path| file.applies_to(path))
        })
        .map(|(index, file)| SourceRule::new(index, source_key(file, absolute.as_deref())))
        .collect()
}

/// Returns the rule files to apply to the log at `path`, as [`sources_for`] does, after adding
/// to `store` the series their metrics start with for that log.
pub fn attach_sources(
    rules: &RuleSet,
    store: &mut Store,
    path: Option<&Path>,
    respect_globs: bool,
) -> Vec<SourceRule> {
    let sources = sources_for(rules, path, respect_globs);
    for source in &sources {
        store.attach(rules, source.file, &source.key);
    }
    sources
}

/// Encodes the source label values a log at `path` gives a rule file: from the first `files`
/// entry whose glob matches, and from `path_labels`. Values a log does not give are empty.
pub fn source_key(file: &RuleFile, path: Option<&Path>) -> Box<[u8]> {
    let labels = &file.source_labels;
    if labels.names.is_empty() {
        return Box::default();
    }
    let entry = path.and_then(|path| labels.globs.iter().find(|(glob, _)| glob.matches(path)));
    let path_text = path.map(|path| path.as_os_str().as_encoded_bytes());
    let captures = labels
        .path
        .as_ref()
        .zip(path_text)
        .and_then(|((regex, _), text)| regex.captures(text));

    let mut key = Vec::new();
    for index in 0..labels.names.len() {
        let from_path = labels
            .path
            .as_ref()
            .and_then(|(_, groups)| groups[index])
            .and_then(|group| captures.as_ref()?.get(group));
        let value = match from_path {
            Some(found) => found.as_bytes(),
            None => entry.map_or(&b""[..], |(_, values)| values[index].as_bytes()),
        };
        push_label_value(&mut key, value);
    }
    key.into_boxed_slice()
}

/// The fields that give the time of a matched line, for [`Engine::track_time`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeFields {
    /// Per rule file, the indices of the fields tried in order: the first that contains a
    /// timestamp gives the line's time.
    pub per_file: Vec<Vec<usize>>,
    /// True when a plain number also counts, as seconds since the epoch. A field that may
    /// hold a duration, as a JSON `time` key sometimes does, must not allow this.
    pub numbers_are_seconds: bool,
}

impl TimeFields {
    /// Reads the time of a matched line of rule file `file` from the first field that has one.
    fn time_of(&self, file: usize, fields: &Fields) -> Option<Decimal> {
        self.per_file.get(file)?.iter().find_map(|&field| {
            let text = fields.get(field);
            timestamp::parse(text).or_else(|| {
                let number = Decimal::parse(text).filter(|_| self.numbers_are_seconds)?;
                (!number.is_negative()).then_some(number)
            })
        })
    }
}

/// Applies rules to lines. One engine serves one thread.
pub struct Engine {
    rules: Arc<RuleSet>,
    /// Reused parsing state, per rule file.
    files: Vec<FileState>,
    /// Reused buffer for the series key of the current update.
    key: Vec<u8>,
    /// The fields whose times [`Engine::time_span`] covers, when set by
    /// [`Engine::track_time`].
    time_fields: Option<TimeFields>,
    /// The earliest and latest time of the matched lines so far.
    time_span: Option<TimeSpan>,
}

/// Reused parsing state of one rule file.
struct FileState {
    /// Group bounds per pattern; `None` for JSON and logfmt patterns.
    spans: Vec<Option<GroupSpans>>,
    /// Field values of the last JSON or logfmt line.
    values: Values,
    /// Values of the `[[derive]]` fields of the last matched line.
    derived: Derived,
    /// Group bounds of each metric's own regex, by index in the file's metrics.
    own_spans: Vec<Option<GroupSpans>>,
    /// The source of a line without a known log, such as a test's input.
    default_source: SourceRule,
}

/// The derived fields of a line no `[[derive]]` table applies to.
static NOT_DERIVED: Derived = Derived::none();

/// The fields of one matched line: as parsed, or as a `[[derive]]` table changed them.
struct Fields<'a> {
    parsed: Parsed<'a>,
    derived: &'a Derived,
}

impl<'a> Fields<'a> {
    /// Returns the bytes of a field, or nothing if the line has no value for it.
    #[inline]
    fn get(&self, field: usize) -> &'a [u8] {
        match self.derived.get(field) {
            Some(value) => value,
            None => self.parsed.get(field),
        }
    }
}

/// The fields of one matched line as the pattern found them.
enum Parsed<'a> {
    /// A regex matched: each field's capture group, by field index.
    Captures {
        line: &'a [u8],
        groups: &'a [Option<usize>],
        spans: &'a GroupSpans,
    },
    /// A JSON or logfmt line was parsed: each field's value span, by field index.
    Structured { line: &'a [u8], values: &'a Values },
    /// A metric's own regex without named groups matched: there are no fields.
    Nothing,
}

impl<'a> Parsed<'a> {
    /// Returns the bytes of a field, or nothing if the line has no value for it.
    #[inline]
    fn get(&self, field: usize) -> &'a [u8] {
        self.value(field).unwrap_or(&[])
    }

    /// Returns the bytes of a field, or `None` if the line has no value for it: the pattern
    /// lacks the field, its group did not take part in the match, or the key is missing.
    #[inline]
    fn value(&self, field: usize) -> Option<&'a [u8]> {
        match self {
            Parsed::Captures {
                line,
                groups,
                spans,
            } => {
                let (start, end) = groups[field].and_then(|group| spans.get(group))?;
                Some(&line[start..end])
            }
            Parsed::Structured { line, values } => Some(values.bytes(line, values.spans[field]?)),
            Parsed::Nothing => None,
        }
    }
}

/// A line one of a rule file's `[parse]` patterns matched, as `logtally explain` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedLine {
    /// The index of the pattern that matched, in the file's order.
    pub pattern: usize,
    /// Every field of the file, in field order.
    pub fields: Vec<LineField>,
}

/// One field of a matched line, as `logtally explain` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineField {
    /// The field's value, or `None` when the line has no value for it: the pattern that
    /// matched lacks the field, its group did not take part, or the JSON or logfmt key is
    /// missing or `null`.
    pub value: Option<Vec<u8>>,
    /// For a value a `[[derive]]` table computed, the index in [`RuleFile::fields`] of the
    /// field the table read.
    pub derived_from: Option<usize>,
}

impl Engine {
    /// Creates an engine for `rules`.
    pub fn new(rules: Arc<RuleSet>) -> Engine {
        let files = rules
            .files
            .iter()
            .enumerate()
            .map(|(index, file)| FileState {
                spans: file
                    .patterns
                    .iter()
                    .map(|pattern| match pattern {
                        Pattern::Regex { regex, .. } => Some(GroupSpans::new(regex)),
                        Pattern::Json | Pattern::Logfmt => None,
                    })
                    .collect(),
                values: Values::default(),
                derived: Derived::new(file),
                own_spans: file
                    .metrics
                    .iter()
                    .map(|metric| {
                        let own = metric.own_pattern.as_ref()?;
                        (own.regex.captures_len() > 1).then(|| GroupSpans::new(&own.regex))
                    })
                    .collect(),
                default_source: SourceRule::new(index, source_key(file, None)),
            })
            .collect();
        Engine {
            rules,
            files,
            key: Vec::with_capacity(256),
            time_fields: None,
            time_span: None,
        }
    }

    /// The rules this engine applies.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Starts following the time of each line a `[parse]` pattern matches, read from
    /// `fields`. Lines without a time in those fields do not change the span.
    pub fn track_time(&mut self, fields: TimeFields) {
        self.time_fields = Some(fields);
    }

    /// Returns the earliest and latest time of the lines applied since [`Engine::track_time`],
    /// or `None` if no line had a time.
    pub fn time_span(&self) -> Option<TimeSpan> {
        self.time_span
    }

    /// Applies every rule file to one line, which must not include its line terminator.
    pub fn apply(&mut self, line: &[u8], store: &mut Store) {
        for index in 0..self.rules.files.len() {
            self.apply_file(index, line, store);
        }
    }

    /// Applies the rule files of a log, with the log's label values, to one line.
    pub fn apply_sources(&mut self, sources: &mut [SourceRule], line: &[u8], store: &mut Store) {
        for source in sources {
            self.apply_source(source, line, store);
        }
    }

    /// Applies one rule file of a log to one line, first taking the line out of its container
    /// log format when the rule file names one.
    fn apply_source(&mut self, source: &mut SourceRule, line: &[u8], store: &mut Store) {
        let Some(wrapper) = self.rules.files[source.file].wrapper else {
            self.apply_file_from(source.file, &source.key, line, store);
            return;
        };
        match wrapper::unwrap(wrapper, line, &mut source.pending) {
            Unwrapped::Whole(inner) => self.apply_file_from(source.file, &source.key, inner, store),
            Unwrapped::Joined(stream) => {
                let mut joined = std::mem::take(source.pending.stream(stream));
                self.apply_file_from(source.file, &source.key, &joined, store);
                joined.clear();
                *source.pending.stream(stream) = joined;
            }
            Unwrapped::Part => {}
            Unwrapped::Invalid => store.unmatched[source.file] += 1,
        }
    }

    /// Splits a line into the fields of one rule file, by its index in the rule set, and runs
    /// the file's `[[derive]]` tables. Returns the pattern that matched and every field in
    /// field order, or `None` when no `[parse]` pattern matches. Records nothing.
    pub fn line_fields(&mut self, index: usize, line: &[u8]) -> Option<MatchedLine> {
        let file = &self.rules.files[index];
        let state = &mut self.files[index];
        let (pattern, parsed) = first_match(file, &mut state.spans, &mut state.values, line)?;
        if !file.derives.is_empty() {
            state
                .derived
                .compute(&file.derives, |field| parsed.get(field));
        }
        let derived = &state.derived;
        let fields = (0..file.fields.len())
            .map(|field| match derived.table_of(field) {
                Some(table) => LineField {
                    value: derived.get(field).map(<[u8]>::to_vec),
                    derived_from: Some(file.derives[table].from),
                },
                None => LineField {
                    value: parsed.value(field).map(<[u8]>::to_vec),
                    derived_from: None,
                },
            })
            .collect();
        Some(MatchedLine { pattern, fields })
    }

    /// Applies one rule file, by its index in the rule set, to one line of no known log.
    pub fn apply_file(&mut self, index: usize, line: &[u8], store: &mut Store) {
        let placeholder = SourceRule::new(index, Box::default());
        let mut source = std::mem::replace(&mut self.files[index].default_source, placeholder);
        self.apply_source(&mut source, line, store);
        self.files[index].default_source = source;
    }

    /// Applies one rule file to one line of the log whose source key is `source`. A line that
    /// the file's patterns or a metric's own regex match is counted as matched, any other as
    /// unmatched: one increment per line and rule file.
    fn apply_file_from(&mut self, index: usize, source: &[u8], line: &[u8], store: &mut Store) {
        let file = &self.rules.files[index];
        let state = &mut self.files[index];
        let mut matched = false;

        if let Some((_, parsed)) = first_match(file, &mut state.spans, &mut state.values, line) {
            matched = true;
            if !file.derives.is_empty() {
                state
                    .derived
                    .compute(&file.derives, |field| parsed.get(field));
            }
            let fields = Fields {
                parsed,
                derived: &state.derived,
            };
            let time = self
                .time_fields
                .as_ref()
                .and_then(|tracked| tracked.time_of(index, &fields));
            if let Some(time) = time {
                match &mut self.time_span {
                    Some(span) => span.include(time),
                    None => self.time_span = Some(TimeSpan::at(time)),
                }
            }
            for metric in file
                .metrics
                .iter()
                .filter(|metric| metric.own_pattern.is_none())
            {
                update_metric(&self.rules, metric, &fields, source, &mut self.key, store);
            }
        }

        if let Some(line_set) = &file.line_set
            && line_set.set.is_match(line)
        {
            matched = true;
            for member in line_set.set.matches(line).iter() {
                let position = line_set.metrics[member];
                let metric = &file.metrics[position];
                let spans = state.own_spans[position].as_mut();
                if let Some(fields) = own_fields(metric, spans, line) {
                    update_metric(&self.rules, metric, &fields, source, &mut self.key, store);
                }
            }
        }

        if matched {
            store.matched[index] += 1;
        } else {
            store.unmatched[index] += 1;
        }
    }
}

/// Returns the fields of a metric's own regex on a line the regex set reports it matches.
fn own_fields<'a>(
    metric: &'a MetricRule,
    spans: Option<&'a mut GroupSpans>,
    line: &'a [u8],
) -> Option<Fields<'a>> {
    let own = metric.own_pattern.as_ref()?;
    let parsed = match spans {
        Some(spans) => {
            if !spans.read(&own.regex, own.splitter.as_ref(), line) {
                return None;
            }
            Parsed::Captures {
                line,
                groups: &own.groups,
                spans,
            }
        }
        None => Parsed::Nothing,
    };
    Some(Fields {
        parsed,
        derived: &NOT_DERIVED,
    })
}

/// Tries the patterns in order and returns the index and fields of the first that matches.
fn first_match<'a>(
    file: &'a RuleFile,
    spans: &'a mut [Option<GroupSpans>],
    values: &'a mut Values,
    line: &'a [u8],
) -> Option<(usize, Parsed<'a>)> {
    let patterns = file.patterns.iter().zip(spans.iter_mut());
    for (index, (pattern, slot)) in patterns.enumerate() {
        match pattern {
            Pattern::Regex {
                regex,
                splitter,
                groups,
                ..
            } => {
                let Some(spans) = slot.as_mut() else {
                    continue;
                };
                if spans.read(regex, splitter.as_ref(), line) {
                    return Some((
                        index,
                        Parsed::Captures {
                            line,
                            groups,
                            spans,
                        },
                    ));
                }
            }
            Pattern::Json => {
                if structured::parse_json(line, &file.fields, values) {
                    return Some((index, Parsed::Structured { line, values }));
                }
            }
            Pattern::Logfmt => {
                if structured::parse_logfmt(line, &file.fields, values) {
                    return Some((index, Parsed::Structured { line, values }));
                }
            }
        }
    }
    None
}

fn update_metric(
    rules: &RuleSet,
    metric: &MetricRule,
    fields: &Fields,
    source: &[u8],
    key: &mut Vec<u8>,
    store: &mut Store,
) {
    let passes = metric
        .filters
        .iter()
        .all(|filter| filter.regex.is_match(fields.get(filter.field)) == filter.must_match);
    if !passes {
        return;
    }
    key.clear();
    for &field in &metric.label_fields {
        push_label_value(key, fields.get(field));
    }
    key.extend_from_slice(&metric.const_key);
    key.extend_from_slice(source);

    let Some(field) = metric.value_field else {
        store.record(rules, metric.family, key, None);
        return;
    };
    let text = fields.get(field);
    let allow_negative = rules.families[metric.family].kind != MetricKind::Counter;
    let mut record = |value| store.record(rules, metric.family, key, Some(value));
    if let Err(reason) = read_values(text, metric.list, metric.scale, allow_negative, &mut record) {
        store.skip(metric.id, reason);
    }
}

/// Appends a label value to a series key, replacing invalid UTF-8 with U+FFFD so every key,
/// and so every exported label value, is valid UTF-8.
pub fn push_label_value(key: &mut Vec<u8>, value: &[u8]) {
    // Almost every value is ASCII, which is valid UTF-8 and may be cut at any byte. The check
    // costs far less than the lossy conversion.
    if value.is_ascii() {
        key.extend_from_slice(&value[..value.len().min(MAX_LABEL_VALUE_BYTES)]);
    } else {
        key.extend_from_slice(cut_to_limit(&String::from_utf8_lossy(value)).as_bytes());
    }
    key.push(KEY_SEPARATOR);
}

/// Cuts a label value to [`MAX_LABEL_VALUE_BYTES`] at a character boundary.
fn cut_to_limit(value: &str) -> &str {
    if value.len() <= MAX_LABEL_VALUE_BYTES {
        return value;
    }
    let mut end = MAX_LABEL_VALUE_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::decimal::Sum;
    use crate::metrics::{Series, label_values};

    const RULES: &str = r#"
[parse]
regex = '^(?P<method>\S+) (?P<code>\d{3}) (?P<bytes>\S*) (?P<ms>\S+)$'

[[metric]]
name = "requests_total"
type = "counter"
help = "Requests."
labels = ["method", { status = "code" }]

[[metric]]
name = "response_bytes_total"
type = "counter"
help = "Bytes."
value = "bytes"

[[metric]]
name = "duration_seconds"
type = "histogram"
help = "Duration."
value = "ms"
scale = 0.001
buckets = [0.5, 0.7]
"#;

    fn run(lines: &[&[u8]]) -> (Arc<RuleSet>, Store) {
        let rules = Arc::new(RuleSet::from_source(Path::new("test.toml"), RULES).unwrap());
        let mut store = Store::new(&rules);
        let mut engine = Engine::new(rules.clone());
        for line in lines {
            engine.apply(line, &mut store);
        }
        (rules, store)
    }

    fn series_of(store: &Store, family: usize) -> Vec<(Vec<String>, Series)> {
        let mut all: Vec<_> = store.families[family]
            .iter()
            .map(|(key, value, _created)| {
                (
                    label_values(key).map(str::to_owned).collect::<Vec<_>>(),
                    value.clone(),
                )
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    #[test]
    fn counts_by_labels() {
        let (_, store) = run(&[b"GET 200 10 700", b"GET 200 5 1", b"POST 500 - 2", b"junk"]);
        let requests = series_of(&store, 0);
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].0, ["GET", "200"]);
        assert_eq!(
            requests[0].1,
            Series::Counter(crate::decimal::Sum::Exact {
                mantissa: 2,
                exponent: 0
            })
        );
        assert_eq!(requests[1].0, ["POST", "500"]);
        assert_eq!(store.matched, [3]);
        assert_eq!(store.unmatched, [1]);
    }

    #[test]
    fn dash_and_empty_values_skip() {
        let (rules, store) = run(&[
            b"GET 200 10 1",
            b"GET 200 - 1",
            b"GET 200  1",
            b"GET 200 x 1",
        ]);
        let bytes = series_of(&store, 1);
        assert_eq!(
            bytes[0].1,
            Series::Counter(crate::decimal::Sum::Exact {
                mantissa: 10,
                exponent: 0
            })
        );
        assert_eq!(rules.metrics[1], "response_bytes_total");
        assert_eq!(store.skipped[1], [1, 1, 1, 0]);
    }

    #[test]
    fn scaled_value_lands_on_bound() {
        let (_, store) = run(&[b"GET 200 1 700", b"GET 200 1 500", b"GET 200 1 701"]);
        let Series::Histogram(histogram) = &series_of(&store, 2)[0].1 else {
            panic!()
        };
        assert_eq!(&*histogram.counts, &[1, 1, 1]);
        assert_eq!(histogram.sum.to_string(), "1.901");
    }

    #[test]
    fn similar_label_values_stay_apart() {
        let (_, store) = run(&[b"ab 200 1 1", b"a 200 1 1"]);
        assert_eq!(series_of(&store, 0).len(), 2);
    }

    #[test]
    fn invalid_utf8_label_is_replaced() {
        let (_, store) = run(&[b"G\xFFT 200 1 1", b"G\xFET 200 1 1"]);
        let requests = series_of(&store, 0);
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].0, ["G\u{FFFD}T", "200"]);
        assert_eq!(
            requests[0].1,
            Series::Counter(crate::decimal::Sum::Exact {
                mantissa: 2,
                exponent: 0
            })
        );
    }

    const TWO_PATTERNS: &str = r#"
[[parse]]
regex = '^(?P<method>[A-Z]+) (?P<code>\d{3}) (?P<bytes>\d+)$'

[[parse]]
regex = '^status=(?P<code>\d{3})$'

[[metric]]
name = "requests_total"
type = "counter"
help = "Requests."
labels = ["method", "code"]

[[metric]]
name = "bytes_total"
type = "counter"
help = "Bytes."
value = "bytes"
"#;

    #[test]
    fn patterns_tried_in_order() {
        let rules = Arc::new(RuleSet::from_source(Path::new("two.toml"), TWO_PATTERNS).unwrap());
        assert_eq!(rules.files[0].fields, ["method", "code", "bytes"]);
        let mut store = Store::new(&rules);
        let mut engine = Engine::new(rules.clone());
        for line in [&b"GET 200 10"[..], b"status=503", b"status=503", b"nothing"] {
            engine.apply(line, &mut store);
        }

        let requests = series_of(&store, 0);
        assert_eq!(requests.len(), 2);
        // The second pattern has no method field, so its lines get an empty method label.
        assert_eq!(requests[0].0, ["", "503"]);
        assert_eq!(
            requests[0].1,
            Series::Counter(Sum::Exact {
                mantissa: 2,
                exponent: 0
            })
        );
        assert_eq!(requests[1].0, ["GET", "200"]);
        assert_eq!(store.matched, [3]);
        assert_eq!(store.unmatched, [1]);
        // Lines from the second pattern have no bytes field: their updates skip as empty.
        assert_eq!(store.skipped[1], [0, 2, 0, 0]);
    }

    #[test]
    fn series_beyond_limit_overflow() {
        let source = RULES.replacen(
            "labels = [\"method\", { status = \"code\" }]",
            "labels = [\"method\", { status = \"code\" }]\nmax_series = 2",
            1,
        );
        let rules = Arc::new(RuleSet::from_source(Path::new("limit.toml"), &source).unwrap());
        let mut store = Store::new(&rules);
        let mut engine = Engine::new(rules.clone());
        for method in ["A", "B", "C", "D", "A", "E"] {
            engine.apply(format!("{method} 200 1 1").as_bytes(), &mut store);
        }

        let requests = series_of(&store, 0);
        let labels: Vec<&Vec<String>> = requests.iter().map(|(labels, _)| labels).collect();
        assert_eq!(
            labels,
            [
                &vec!["A", "200"],
                &vec!["B", "200"],
                &vec!["__overflow__", "__overflow__"]
            ]
        );
        assert_eq!(
            requests[0].1,
            Series::Counter(Sum::Exact {
                mantissa: 2,
                exponent: 0
            })
        );
        assert_eq!(
            requests[2].1,
            Series::Counter(Sum::Exact {
                mantissa: 3,
                exponent: 0
            })
        );
        assert_eq!(store.overflowed[0], 3);
    }

    #[test]
    fn long_label_values_cut() {
        let long = format!("{}é", "x".repeat(MAX_LABEL_VALUE_BYTES - 1));
        assert_eq!(cut_to_limit(&long).len(), MAX_LABEL_VALUE_BYTES - 1);
        assert_eq!(cut_to_limit("short"), "short");
    }

    #[test]
    fn logfmt_lines_counted() {
        let source = "[parse]\nformat = \"logfmt\"\n\n[[metric]]\nname = \"requests_total\"\ntype = \"counter\"\nhelp = \"Requests.\"\nlabels = [\"status\"]\n\n[[metric]]\nname = \"response_bytes_total\"\ntype = \"counter\"\nhelp = \"Bytes.\"\nvalue = \"bytes\"\n";
        let rules = Arc::new(RuleSet::from_source(Path::new("logfmt.toml"), source).unwrap());
        assert_eq!(rules.files[0].fields, ["status", "bytes"]);
        let mut store = Store::new(&rules);
        let mut engine = Engine::new(rules.clone());
        for line in [
            &b"status=200 bytes=10 path=/a"[..],
            b"bytes=5 status=200",
            b"status=\"404\"",
            b"no pairs",
        ] {
            engine.apply(line, &mut store);
        }

        let requests = series_of(&store, 0);
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].0, ["200"]);
        assert_eq!(
            requests[0].1,
            Series::Counter(Sum::Exact {
                mantissa: 2,
                exponent: 0
            })
        );
        assert_eq!(requests[1].0, ["404"]);
        assert_eq!(
            series_of(&store, 1)[0].1,
            Series::Counter(Sum::Exact {
                mantissa: 15,
                exponent: 0
            })
        );
        assert_eq!(store.unmatched, [1]);
        assert_eq!(store.skipped[1], [0, 1, 0, 0]);
    }

    const OWN_REGEX: &str = r#"
[parse]
regex = '^(?P<method>\S+) (?P<code>\d{3})$'

[[metric]]
name = "requests_total"
type = "counter"
help = "Requests."
labels = ["method"]

[[metric]]
name = "server_errors_total"
type = "counter"
help = "Lines ending in a 5xx status."
regex = '5\d\d$'
"#;

    #[test]
    fn own_regex_lines_counted_matched() {
        let rules = Arc::new(RuleSet::from_source(Path::new("own.toml"), OWN_REGEX).unwrap());
        let mut store = Store::new(&rules);
        let mut engine = Engine::new(rules.clone());
        // [parse] only, both [parse] and the own regex, the own regex only, neither.
        for line in [&b"GET 200"[..], b"GET 500", b"code=503", b"noise"] {
            engine.apply(line, &mut store);
        }

        assert_eq!(store.matched, [3]);
        assert_eq!(store.unmatched, [1]);
        assert_eq!(
            series_of(&store, 1)[0].1,
            Series::Counter(Sum::Exact {
                mantissa: 2,
                exponent: 0
            })
        );
    }

    #[test]
    fn filters_select_lines() {
        let source = RULES.replacen(
            "labels = [\"method\", { status = \"code\" }]",
            "labels = [\"method\", { status = \"code\" }]\nmatch = { code = '^5' }\nunless = { method = '^HEAD$' }",
            1,
        );
        let rules = Arc::new(RuleSet::from_source(Path::new("filters.toml"), &source).unwrap());
        let mut store = Store::new(&rules);
        let mut engine = Engine::new(rules.clone());
        for line in [
            &b"GET 500 1 1"[..],
            b"GET 200 1 1",
            b"HEAD 503 1 1",
            b"POST 502 1 1",
        ] {
            engine.apply(line, &mut store);
        }

        let requests = series_of(&store, 0);
        let labels: Vec<&Vec<String>> = requests.iter().map(|(labels, _)| labels).collect();
        assert_eq!(labels, [&vec!["GET", "500"], &vec!["POST", "502"]]);
        // Other metrics of the file are not filtered.
        assert_eq!(
            series_of(&store, 1)[0].1,
            Series::Counter(Sum::Exact {
                mantissa: 4,
                exponent: 0
            })
        );
    }

    #[test]
    fn time_span_from_fields() {
        let source = "[parse]\nregex = '^(?P<time>.+) (?P<code>\\d{3})$'\n\n[[metric]]\n\
                      name = \"requests_total\"\ntype = \"counter\"\nhelp = \"Requests.\"\n";
        let rules = Arc::new(RuleSet::from_source(Path::new("time.toml"), source).unwrap());
        let lines: [&[u8]; 5] = [
            b"2026-12-04T10:00:05Z 200",
            b"04/Dec/2026:11:00:01 +0100 200",
            b"- 200",
            b"1796378400 200",
            b"2026-12-04T10:00:09Z junk",
        ];
        let span_with = |numbers_are_seconds| {
            let mut store = Store::new(&rules);
            let mut engine = Engine::new(rules.clone());
            engine.track_time(TimeFields {
                per_file: vec![vec![0]],
                numbers_are_seconds,
            });
            for line in lines {
                engine.apply(line, &mut store);
            }
            engine
                .time_span()
                .map(|span| (span.earliest.to_string(), span.latest.to_string()))
        };

        // 1796378400 is 2026-12-04T10:00:00Z. The unmatched last line does not count.
        assert_eq!(
            span_with(false),
            Some(("1796378401".to_owned(), "1796378405".to_owned()))
        );
        assert_eq!(
            span_with(true),
            Some(("1796378400".to_owned(), "1796378405".to_owned()))
        );
    }

    #[test]
    fn time_field_added_to_json() {
        let source = "[parse]\nformat = \"json\"\n\n[[metric]]\nname = \"requests_total\"\n\
                      type = \"counter\"\nhelp = \"Requests.\"\nlabels = [\"status\"]\n";
        let mut rules = RuleSet::from_source(Path::new("json.toml"), source).unwrap();
        assert_eq!(rules.files[0].find_or_add_field("status"), Some(0));
        assert_eq!(rules.files[0].find_or_add_field("time"), Some(1));
        assert_eq!(rules.files[0].fields, ["status", "time"]);
        let rules = Arc::new(rules);
        let mut store = Store::new(&rules);
        let mut engine = Engine::new(rules.clone());
        engine.track_time(TimeFields {
            per_file: vec![vec![1]],
            numbers_are_seconds: false,
        });
        for line in [
            &br#"{"time":"2026-12-04T10:00:02Z","status":200}"#[..],
            br#"{"status":200,"time":"2026-12-04T10:00:00.5Z"}"#,
        ] {
            engine.apply(line, &mut store);
        }

        let span = engine.time_span().unwrap();
        assert_eq!(span.earliest.to_string(), "1796378400.5");
        assert_eq!(span.latest.to_string(), "1796378402");
        assert_eq!(span.seconds().unwrap().to_string(), "1.5");
        assert_eq!(series_of(&store, 0)[0].0, ["200"]);
    }

    #[test]
    fn time_field_added_beside_regex() {
        let source = "[[parse]]\nregex = '^(?P<status>\\d{3})$'\n\n\
                      [[parse]]\nformat = \"logfmt\"\n\n\
                      [[metric]]\nname = \"requests_total\"\ntype = \"counter\"\n\
                      help = \"Requests.\"\nlabels = [\"status\"]\n";
        let mut rules = RuleSet::from_source(Path::new("mixed.toml"), source).unwrap();
        assert_eq!(rules.files[0].find_or_add_field("time"), Some(1));
        let rules = Arc::new(rules);
        let mut store = Store::new(&rules);
        let mut engine = Engine::new(rules.clone());
        engine.track_time(TimeFields {
            per_file: vec![vec![1]],
            numbers_are_seconds: false,
        });
        // The regex defines no time, so its line counts without a time.
        for line in [&b"200"[..], b"status=200 time=2026-12-04T10:00:00Z"] {
            engine.apply(line, &mut store);
        }

        let span = engine.time_span().unwrap();
        assert_eq!(span.earliest.to_string(), "1796378400");
        assert_eq!(span.latest.to_string(), "1796378400");
        let requests = series_of(&store, 0);
        assert_eq!(requests[0].0, ["200"]);
        assert_eq!(
            requests[0].1,
            Series::Counter(Sum::Exact {
                mantissa: 2,
                exponent: 0
            })
        );
    }

    #[test]
    fn regex_file_adds_no_field() {
        let mut rules = RuleSet::from_source(Path::new("test.toml"), RULES).unwrap();
        assert_eq!(rules.files[0].find_or_add_field("time"), None);
        assert_eq!(rules.files[0].find_or_add_field("code"), Some(1));
    }
}
