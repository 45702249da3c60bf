//! Turns parsed rule files into a [`RuleSet`], checking everything that can be checked at load.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use regex::bytes::{Regex, RegexBuilder};
use toml::Spanned;

mod buckets;
mod derive;
pub(super) mod patterns;
mod sources;

use patterns::{Expansion, Library};

use super::names::{check_label_name, check_metric_name};
use super::schema::{LabelsSpec, MetricSpec, ParseSpec, RuleFileSpec, TestSpec};
use super::testing::{self, ExpectedSample, RuleTest};
use super::{
    DEFAULT_MAX_SERIES, FamilyDef, Filter, LineSet, LoadError, MetricKind, MetricRule, OwnPattern,
    Pattern, RuleFile, RuleSet, Wrapper,
};
use crate::decimal::Decimal;
use crate::engine::{ListMode, Splitter};

/// The labels every metric of a file gets after its own: constant labels with their values,
/// and the names of the labels taken from a log's source.
struct FileLabels<'a> {
    constant: &'a [(String, String)],
    source: &'a [String],
}

/// Collects rule files one by one, then checks metric families across all of them.
#[derive(Default)]
pub struct Builder {
    rules: RuleSet,
    /// The place each family was first defined, as `FILE:LINE:COLUMN`, for clash messages.
    family_sites: Vec<String>,
    errors: Vec<LoadError>,
}

/// One file being compiled: its path and source, for error positions.
pub(super) struct FileContext<'a> {
    path: &'a Path,
    source: &'a str,
    errors: Vec<LoadError>,
    /// The sub-patterns the file's regexes may use.
    library: Library,
}

impl FileContext<'_> {
    pub(super) fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.errors
            .push(LoadError::at(self.path, self.source, span, message));
    }

    fn site(&self, span: Range<usize>) -> String {
        let position = super::Position::of_offset(self.source, span.start);
        format!(
            "{}:{}:{}",
            self.path.display(),
            position.line,
            position.column
        )
    }
}

impl Builder {
    /// Parses and checks one rule file; its errors are kept for [`Builder::finish`].
    pub fn add_file(&mut self, path: &Path, source: &str) {
        let mut context = FileContext {
            path,
            source,
            errors: Vec::new(),
            library: Library::default(),
        };
        let spec = match toml::from_str::<RuleFileSpec>(source) {
            Ok(spec) => spec,
            Err(error) => {
                let span = error.span().unwrap_or(0..0);
                let mut message = toml_message(&error);
                if message == "duplicate key" {
                    let key = source.get(span.clone()).unwrap_or("").trim();
                    message = format!("duplicate key `{key}`; each key may appear once per table");
                }
                context.error(span, message);
                self.errors.append(&mut context.errors);
                return;
            }
        };

        if spec.metrics.is_empty() {
            context.error(
                0..0,
                "the file has no [[metric]] tables, so it would count nothing",
            );
        }
        if spec.parse.as_ref().is_some_and(|parse| parse.0.is_empty()) {
            context.error(
                0..0,
                "`parse` is an empty array; give at least one [[parse]] table",
            );
        }
        context.library = load_library(&mut context, spec.patterns.as_ref());
        let const_labels = check_const_labels(&mut context, spec.const_labels.as_ref());
        let wrapper = check_wrapper(&mut context, spec.wrapper.as_ref());
        let (log_globs, source_labels) = sources::compile_sources(
            &mut context,
            spec.files.as_ref(),
            spec.path_labels.as_ref(),
            &const_labels,
        );
        let specs = spec.parse.as_ref().map_or(&[][..], |parse| &parse.0[..]);
        let parsers: Option<Vec<Parser>> = specs
            .iter()
            .map(|parse| compile_parser(&mut context, parse))
            .collect::<Vec<_>>()
            .into_iter()
            .collect();
        if let Some(parsers) = parsers {
            let mut fields = FieldTable::new(&parsers);
            fields.has_parse = spec.parse.is_some();
            let derives = derive::compile_derives(&mut context, &mut fields, &spec.derives);
            let file_labels = FileLabels {
                constant: &const_labels,
                source: &source_labels.names,
            };
            let first_regex = spec
                .metrics
                .iter()
                .find_map(|metric| metric.get_ref().regex.as_ref().map(Spanned::span))
                .unwrap_or(0..0);
            let metrics = self.add_metrics(&mut context, &mut fields, &file_labels, spec.metrics);
            let line_set = line_set(&mut context, &metrics, first_regex);
            let tests = compile_tests(&mut context, spec.tests);
            let patterns = parsers
                .into_iter()
                .map(|parser| parser.pattern(&fields.names))
                .collect();
            if context.errors.is_empty() {
                self.rules.files.push(RuleFile {
                    path: path.to_path_buf(),
                    patterns,
                    fields: fields.names,
                    derives,
                    metrics,
                    line_set,
                    tests,
                    log_globs,
                    source_labels,
                    wrapper,
                });
            }
        }
        context
            .errors
            .sort_by_key(|error| error.position.map(|at| (at.line, at.column)));
        self.errors.append(&mut context.errors);
    }

    /// Returns the rule set and every error found in any file.
    pub fn finish(self) -> (RuleSet, Vec<LoadError>) {
        (self.rules, self.errors)
    }

    fn add_metrics(
        &mut self,
        context: &mut FileContext,
        fields: &mut FieldTable,
        file_labels: &FileLabels,
        specs: Vec<Spanned<MetricSpec>>,
    ) -> Vec<MetricRule> {
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut metrics = Vec::new();

        for spec in specs {
            let span = spec.span();
            let spec = spec.into_inner();
            let name = spec.name.get_ref().clone();
            if let Some(first) = seen.get(&name) {
                let message = format!("metric {name:?} is already defined in this file at {first}");
                context.error(spec.name.span(), message);
                continue;
            }
            seen.insert(name, context.site(spec.name.span()));

            if let Some(metric) = self.add_metric(context, fields, file_labels, span, spec) {
                metrics.push(metric);
            }
        }
        metrics
    }

    fn add_metric(
        &mut self,
        context: &mut FileContext,
        fields: &mut FieldTable,
        file_labels: &FileLabels,
        span: Range<usize>,
        spec: MetricSpec,
    ) -> Option<MetricRule> {
        let errors_before = context.errors.len();
        let kind = parse_kind(context, &spec.kind);
        if spec.help.get_ref().trim().is_empty() {
            let message =
                "`help` is empty; describe what the metric counts, as Prometheus shows it";
            context.error(spec.help.span(), message);
        }
        let name = spec.name.get_ref();
        if let Some(kind) = kind
            && let Err(message) = check_metric_name(name, kind)
        {
            context.error(spec.name.span(), message);
        }

        let mut own = spec.regex.as_ref().map(|regex| own_fields(context, regex));
        if spec.regex.is_none() && !fields.has_parse {
            let message = format!(
                "metric {name:?} has no `regex` and the file has no [parse] table, so it has no \
                 fields; add one of them"
            );
            context.error(spec.name.span(), message);
        }
        let fields = match own.as_mut() {
            Some(Some((_, table))) => table,
            _ => fields,
        };
        let (label_names, label_fields) = resolve_labels(context, fields, spec.labels.as_ref());
        let initial = initial_keys(context, &spec, &label_names);
        let mut label_names = label_names;
        let own_count = label_names.len();
        let mut const_key = Vec::new();
        for (name, value) in file_labels.constant {
            if label_names.contains(name) {
                let message = format!(
                    "label {name:?} is also a constant label of this file; rename one of them"
                );
                context.error(spec.name.span(), message);
            }
            label_names.push(name.clone());
            const_key.extend_from_slice(value.as_bytes());
            const_key.push(crate::metrics::KEY_SEPARATOR);
        }
        for name in file_labels.source {
            // A clash with a constant label is reported once for the file, not per metric.
            if label_names[..own_count].contains(name) {
                let message = format!(
                    "label {name:?} is also a label this file takes from its logs (`files` or \
                     path_labels); rename one of them"
                );
                context.error(spec.name.span(), message);
            }
            label_names.push(name.clone());
        }
        let value_field = spec
            .value
            .as_ref()
            .and_then(|value| resolve_field(context, fields, value));
        let scale = spec
            .scale
            .as_ref()
            .and_then(|scale| check_scale(context, scale, kind));
        let list = check_list(context, &spec);
        let max_series = check_max_series(context, &spec);
        if let Some(listed) = spec.initial.as_ref().filter(|_| initial.len() > max_series) {
            let message = format!(
                "`initial` lists {} label sets, more than max_series ({max_series})",
                initial.len()
            );
            context.error(listed.span(), message);
        }
        let mut filters = compile_filters(context, fields, spec.match_fields.as_ref(), true);
        filters.extend(compile_filters(
            context,
            fields,
            spec.unless.as_ref(),
            false,
        ));
        let expire = spec.expire.as_ref().and_then(|expire| {
            crate::duration::parse_duration(expire.get_ref())
                .map_err(|message| context.error(expire.span(), message))
                .ok()
        });
        let buckets = kind.and_then(|kind| buckets::check_buckets(context, &spec, kind));
        if let Some(kind) = kind {
            check_value_present(context, &spec, kind, span);
        }

        if context.errors.len() > errors_before {
            return None;
        }
        let family = FamilyDef {
            name: name.clone(),
            help: spec.help.get_ref().clone(),
            kind: kind?,
            label_names,
            buckets: buckets.unwrap_or_default(),
            max_series,
            expire,
            native: check_native(context, &spec, kind),
        };
        let family = self.add_family(context, family, spec.name.span())?;
        let id = self.rules.metrics.len();
        self.rules.metrics.push(name.clone());
        Some(MetricRule {
            family,
            id,
            label_fields,
            value_field,
            const_key,
            filters,
            scale,
            list,
            own_pattern: own.flatten().map(|(regex, table)| OwnPattern {
                groups: regex_groups(&regex, &table.names),
                splitter: Splitter::new(&regex),
                regex,
                fields: table.names,
            }),
            initial,
        })
    }

    /// Returns the index of the family, adding it if new. Two rules may define one family only
    /// with the same type, help, label names and buckets.
    fn add_family(
        &mut self,
        context: &mut FileContext,
        family: FamilyDef,
        span: Range<usize>,
    ) -> Option<usize> {
        let existing = self
            .rules
            .families
            .iter()
            .position(|known| known.name == family.name);
        let Some(index) = existing else {
            self.rules.families.push(family);
            self.family_sites.push(context.site(span));
            return Some(self.rules.families.len() - 1);
        };

        let known = &self.rules.families[index];
        if *known == family {
            return Some(index);
        }
        let difference = family_difference(known, &family);
        let message = format!(
            "metric {:?} is also defined at {} with a different {difference}; one metric \
             name needs one definition",
            family.name, self.family_sites[index]
        );
        context.error(span, message);
        None
    }
}

fn family_difference(known: &FamilyDef, new: &FamilyDef) -> &'static str {
    if known.kind != new.kind {
        "type"
    } else if known.label_names != new.label_names {
        "label list"
    } else if known.buckets != new.buckets {
        "bucket list"
    } else if known.max_series != new.max_series {
        "max_series"
    } else if known.expire != new.expire {
        "expire"
    } else if known.native != new.native {
        "native setting"
    } else {
        "help text"
    }
}

/// Checks the `[[test]]` tables and parses their expected samples.
fn compile_tests(context: &mut FileContext, specs: Vec<Spanned<TestSpec>>) -> Vec<RuleTest> {
    let mut tests = Vec::new();
    for spec in specs {
        let position = super::Position::of_offset(context.source, spec.span().start);
        let spec = spec.into_inner();
        let mut expect = Vec::new();
        for line in &spec.expect {
            match testing::parse_sample(line.get_ref()) {
                Ok((series, value)) => expect.push(ExpectedSample {
                    series,
                    value,
                    text: line.get_ref().clone(),
                }),
                Err(message) => {
                    context.error(line.span(), format!("invalid expected sample: {message}"))
                }
            }
        }
        let input = spec
            .input
            .lines()
            .into_iter()
            .map(String::into_bytes)
            .collect();
        tests.push(RuleTest {
            name: spec.name,
            position,
            input,
            expect,
            all: spec.all,
            path: spec.path.map(|path| {
                std::path::absolute(&path).unwrap_or_else(|_| std::path::PathBuf::from(path))
            }),
        });
    }
    tests
}

/// A compiled `[parse]` table, before the field table is complete.
enum Parser {
    /// A regex, and its expansion for mapping it back to the text as written.
    Regex(Regex, Expansion),
    Json,
    Logfmt,
}

impl Parser {
    /// The pattern for the final field table.
    fn pattern(self, fields: &[String]) -> Pattern {
        let groups = self.groups(fields);
        match self {
            Parser::Regex(regex, source) => Pattern::Regex {
                splitter: Splitter::new(&regex),
                regex,
                groups,
                source,
            },
            Parser::Json => Pattern::Json,
            Parser::Logfmt => Pattern::Logfmt,
        }
    }

    /// Returns the capture-group index of each field for a regex, and nothing for other
    /// parsers.
    fn groups(&self, fields: &[String]) -> Vec<Option<usize>> {
        match self {
            Parser::Regex(regex, _) => regex_groups(regex, fields),
            Parser::Json | Parser::Logfmt => Vec::new(),
        }
    }
}

/// Returns the capture-group index of each field in `regex`.
fn regex_groups(regex: &Regex, fields: &[String]) -> Vec<Option<usize>> {
    fields
        .iter()
        .map(|field| {
            regex
                .capture_names()
                .position(|name| name == Some(field.as_str()))
        })
        .collect()
}

/// Compiles a metric's own regex and the field table of its named groups.
fn own_fields(context: &mut FileContext, regex: &Spanned<String>) -> Option<(Regex, FieldTable)> {
    let regex = compile_regex(context, regex)?;
    let mut table = FieldTable::from_regexes([&regex]);
    table.source = "this metric's regex";
    Some((regex, table))
}

/// Most memory the compiled set of a file's metric regexes may take. Each regex alone is held
/// to the regex crate's default limit; the set gets room for several of them.
const LINE_SET_SIZE_LIMIT: usize = 64 * 1024 * 1024;

/// Groups the own regexes of a file's metrics into one set, reporting at `span` (the first
/// metric regex) a set too large to compile.
fn line_set(
    context: &mut FileContext,
    metrics: &[MetricRule],
    span: Range<usize>,
) -> Option<LineSet> {
    let (indices, patterns): (Vec<usize>, Vec<&str>) = metrics
        .iter()
        .enumerate()
        .filter_map(|(index, metric)| Some((index, metric.own_pattern.as_ref()?.regex.as_str())))
        .unzip();
    if indices.is_empty() {
        return None;
    }
    let built = regex::bytes::RegexSetBuilder::new(patterns)
        .unicode(false)
        .size_limit(LINE_SET_SIZE_LIMIT)
        .build();
    match built {
        Ok(set) => Some(LineSet {
            set,
            metrics: indices,
        }),
        Err(error) => {
            let message = format!(
                "the metric regexes of this file are too large to run together ({error}); \
                 simplify them, for example without (?u:...) classes, or split them across \
                 rule files"
            );
            context.error(span, message);
            None
        }
    }
}

/// The fields of a rule file: every named group of its regexes, plus, when a pattern is JSON
/// or logfmt (whose keys are only known per line), every name a metric uses.
struct FieldTable {
    names: Vec<String>,
    open: bool,
    /// False when the file has no `parse` key at all.
    has_parse: bool,
    /// The source of the fields, named in messages about an unknown field.
    source: &'static str,
}

impl FieldTable {
    fn new(parsers: &[Parser]) -> FieldTable {
        let regexes = parsers.iter().filter_map(|parser| match parser {
            Parser::Regex(regex, _) => Some(regex),
            Parser::Json | Parser::Logfmt => None,
        });
        let mut table = FieldTable::from_regexes(regexes);
        table.open = parsers
            .iter()
            .any(|parser| !matches!(parser, Parser::Regex(..)));
        table
    }

    /// Builds a closed table of the named groups of `regexes`, in order of first appearance.
    fn from_regexes<'a>(regexes: impl IntoIterator<Item = &'a Regex>) -> FieldTable {
        let mut names: Vec<String> = Vec::new();
        for regex in regexes {
            for name in regex.capture_names().flatten() {
                if !names.iter().any(|known| known == name) {
                    names.push(name.to_owned());
                }
            }
        }
        FieldTable {
            names,
            open: false,
            has_parse: true,
            source: "the [parse] regex",
        }
    }

    /// Returns the index of a field a `[[derive]]` table writes, adding the name when it is
    /// new.
    fn define(&mut self, name: &str) -> usize {
        if let Some(index) = self.names.iter().position(|known| known == name) {
            return index;
        }
        self.names.push(name.to_owned());
        self.names.len() - 1
    }

    /// The index of a field, adding it when the table is open to any name.
    fn resolve(&mut self, name: &str) -> Option<usize> {
        if let Some(index) = self.names.iter().position(|known| known == name) {
            return Some(index);
        }
        self.open.then(|| {
            self.names.push(name.to_owned());
            self.names.len() - 1
        })
    }
}

fn compile_parser(context: &mut FileContext, spec: &ParseSpec) -> Option<Parser> {
    let format = spec
        .format
        .as_ref()
        .map_or("regex", |format| format.get_ref().as_str());
    match (format, &spec.regex) {
        ("regex", Some(regex)) => {
            compile_with_source(context, regex).map(|(regex, source)| Parser::Regex(regex, source))
        }
        ("regex", None) => {
            let span = spec.format.as_ref().map_or(0..0, Spanned::span);
            context.error(
                span,
                "this [parse] table needs `regex`, or `format = \"json\"` or \"logfmt\"",
            );
            None
        }
        ("json" | "logfmt", Some(regex)) => {
            let message = format!(
                "`regex` does not apply to format {format:?}; remove it or use format \"regex\""
            );
            context.error(regex.span(), message);
            None
        }
        ("json", None) => Some(Parser::Json),
        ("logfmt", None) => Some(Parser::Logfmt),
        (other, _) => {
            let span = spec.format.as_ref().map_or(0..0, Spanned::span);
            context.error(
                span,
                format!("unknown format {other:?}; expected \"regex\", \"json\" or \"logfmt\""),
            );
            None
        }
    }
}

/// Serde's type names, and the TOML terms a rule author uses for them.
const TYPE_WORDS: [(&str, &str); 7] = [
    ("expected f64", "expected a number"),
    ("expected i64", "expected a whole number"),
    ("expected u64", "expected a whole number"),
    ("expected a sequence", "expected an array"),
    ("expected a map", "expected a table"),
    ("invalid type: map", "invalid type: table"),
    ("invalid type: sequence", "invalid type: array"),
];

/// Rewrites a `toml` error message in a rule author's terms. The position and source excerpt
/// that `toml` appends are left out, since the error names them.
fn toml_message(error: &toml::de::Error) -> String {
    let message = error.message().trim();
    let message = message.strip_suffix('.').unwrap_or(message);
    if let Some(integer) = too_large_integer(message) {
        return format!(
            "integer {integer} is too large; the largest is {}",
            i64::MAX
        );
    }
    let mut text = match message {
        "" => "invalid TOML".to_owned(),
        text if text.contains("missing field") => format!("{text} in this table"),
        text => text.to_owned(),
    };
    for (serde_word, toml_word) in TYPE_WORDS {
        text = text.replace(serde_word, toml_word);
    }
    text
}

/// Returns the integer of a message for one that does not fit in 64 bits, which serde reports
/// as an `i128` of the wrong type.
fn too_large_integer(message: &str) -> Option<&str> {
    message
        .strip_prefix("invalid type: integer `")?
        .split_once("` as i128")
        .map(|(integer, _)| integer)
}

fn parse_kind(context: &mut FileContext, kind: &Spanned<String>) -> Option<MetricKind> {
    match kind.get_ref().as_str() {
        "counter" => Some(MetricKind::Counter),
        "gauge" => Some(MetricKind::Gauge),
        "histogram" => Some(MetricKind::Histogram),
        other => {
            let message = format!(
                "unknown metric type {other:?}; expected \"counter\", \"gauge\" or \"histogram\""
            );
            context.error(kind.span(), message);
            None
        }
    }
}

/// Compiles the `[parse]` regex, reporting a syntax error at its place inside the pattern
/// where the pattern is written as a literal string.
///
/// Log lines are bytes and need not be valid UTF-8, so Unicode mode is off by default: `.`,
/// `\S` and `[^"]` match single bytes, and `\d`, `\w`, `\s` are ASCII classes. With Unicode
/// mode on, one invalid byte in a user agent would make the whole line fail to match. A
/// pattern can turn it on for a part with `(?u:...)`.
fn compile_regex(context: &mut FileContext, pattern: &Spanned<String>) -> Option<Regex> {
    compile_with_source(context, pattern).map(|(regex, _)| regex)
}

/// Compiles a pattern as [`compile_regex`] does, also returning its expansion, which maps
/// the compiled pattern back to the text as written.
fn compile_with_source(
    context: &mut FileContext,
    pattern: &Spanned<String>,
) -> Option<(Regex, Expansion)> {
    match context.library.expand(pattern.get_ref()) {
        Ok(expansion) => build_regex(context, pattern, &expansion).map(|regex| (regex, expansion)),
        Err(error) => {
            let span = pattern_offset(context.source, pattern, error.range.start);
            context.error(span, error.message);
            None
        }
    }
}

/// Compiles a pattern whose sub-patterns are expanded, reporting errors at the place in the
/// pattern as written.
fn build_regex(
    context: &mut FileContext,
    pattern: &Spanned<String>,
    expansion: &Expansion,
) -> Option<Regex> {
    let mut checker = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build();
    if let Err(error) = checker.parse(&expansion.text) {
        let (offset, kind) = match &error {
            regex_syntax::Error::Parse(error) => {
                (error.span().start.offset, error.kind().to_string())
            }
            regex_syntax::Error::Translate(error) => {
                (error.span().start.offset, error.kind().to_string())
            }
            other => (0, other.to_string()),
        };
        let offset = expansion.written_offset(offset);
        let span = pattern_offset(context.source, pattern, offset);
        context.error(span, format!("invalid regex: {kind}"));
        return None;
    }

    match RegexBuilder::new(&expansion.text).unicode(false).build() {
        Ok(regex) => Some(regex),
        Err(error) => {
            context.error(pattern.span(), format!("invalid regex: {error}"));
            None
        }
    }
}

/// Builds the library of sub-patterns: the built-in ones plus the file's `[patterns]` table.
fn load_library(
    context: &mut FileContext,
    table: Option<&Spanned<std::collections::BTreeMap<String, Spanned<String>>>>,
) -> Library {
    let mut library = Library::built_in();
    if let Some(table) = table {
        library.add_file_patterns(
            context,
            table.get_ref(),
            &mut |context, pattern, expansion| {
                let Some(regex) = build_regex(context, pattern, expansion) else {
                    return false;
                };
                if let Some(group) = regex.capture_names().flatten().next() {
                    let message = format!(
                        "a sub-pattern cannot define the field {group:?}; name fields where the \
                     sub-pattern is used: %{{NAME:{group}}}"
                    );
                    context.error(pattern.span(), message);
                    return false;
                }
                true
            },
        );
    }
    library
}

/// Maps an offset inside a pattern to the file. Literal strings ('...' and '''...''') hold the
/// pattern verbatim; for other strings, whose escapes shift offsets, the string's start is used.
fn pattern_offset(source: &str, pattern: &Spanned<String>, offset: usize) -> Range<usize> {
    let span = pattern.span();
    let token = &source[span.clone()];
    let opening = if token.starts_with("'''\r\n") {
        5
    } else if token.starts_with("'''\n") {
        4
    } else if token.starts_with("'''") {
        3
    } else if token.starts_with('\'') {
        1
    } else {
        return span;
    };

    let content = &token[opening..];
    if content.starts_with(pattern.get_ref().as_str()) {
        let start = span.start + opening + offset;
        start..start + 1
    } else {
        span
    }
}

fn resolve_labels(
    context: &mut FileContext,
    fields: &mut FieldTable,
    labels: Option<&Spanned<LabelsSpec>>,
) -> (Vec<String>, Vec<usize>) {
    let mut names = Vec::new();
    let mut indices = Vec::new();
    let Some(labels) = labels else {
        return (names, indices);
    };

    for label in &labels.get_ref().0 {
        let name = label.label.get_ref();
        if let Err(message) = check_label_name(name) {
            context.error(label.label.span(), message);
            continue;
        }
        if names.contains(name) {
            context.error(
                label.label.span(),
                format!("label {name:?} is listed twice"),
            );
            continue;
        }
        if let Some(index) = resolve_field(context, fields, &label.field) {
            names.push(name.clone());
            indices.push(index);
        }
    }
    (names, indices)
}

/// Finds the index of a field, or reports the closest existing name.
fn resolve_field(
    context: &mut FileContext,
    fields: &mut FieldTable,
    field: &Spanned<String>,
) -> Option<usize> {
    let name = field.get_ref().as_str();
    if let Some(index) = fields.resolve(name) {
        return Some(index);
    }

    let known = fields.names.iter().map(String::as_str);
    let mut message = format!("field {name:?} is not a named group of {}", fields.source);
    match closest_name(name, known.clone()) {
        Some(closest) => message.push_str(&format!("; did you mean {closest:?}?")),
        None if fields.names.is_empty() => {
            message.push_str("; the regex defines no fields, so add (?P<name>...) groups")
        }
        None => {
            let mut known: Vec<&str> = known.collect();
            known.sort_unstable();
            message.push_str(&format!("; the fields are {}", known.join(", ")));
        }
    }
    context.error(field.span(), message);
    None
}

/// Returns the candidate within a small edit distance of `name`, if there is one.
fn closest_name<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

fn check_scale(
    context: &mut FileContext,
    scale: &Spanned<f64>,
    kind: Option<MetricKind>,
) -> Option<Decimal> {
    let value = *scale.get_ref();
    let Some(decimal) = Decimal::from_f64(value).filter(|_| value != 0.0) else {
        context.error(
            scale.span(),
            format!(
                "invalid scale {}: use a finite, non-zero number",
                show(value)
            ),
        );
        return None;
    };
    if kind == Some(MetricKind::Counter) && value < 0.0 {
        let message = format!(
            "invalid scale {}: a counter only goes up, so use a positive scale",
            show(value)
        );
        context.error(scale.span(), message);
        return None;
    }
    Some(decimal)
}

/// Formats a number from a rule file for a message: short, with an exponent when large.
pub(super) fn show(value: f64) -> String {
    let mut text = String::new();
    crate::decimal::write_float(&mut text, value).expect("writing to a String");
    text
}

fn check_wrapper(context: &mut FileContext, wrapper: Option<&Spanned<String>>) -> Option<Wrapper> {
    let wrapper = wrapper?;
    match wrapper.get_ref().as_str() {
        "cri" => Some(Wrapper::Cri),
        "docker" => Some(Wrapper::Docker),
        other => {
            let message = format!("unknown wrapper {other:?}; expected \"cri\" or \"docker\"");
            context.error(wrapper.span(), message);
            None
        }
    }
}

fn check_const_labels(
    context: &mut FileContext,
    labels: Option<&Spanned<std::collections::BTreeMap<String, String>>>,
) -> Vec<(String, String)> {
    let Some(labels) = labels else {
        return Vec::new();
    };
    let mut checked = Vec::new();
    for (name, value) in labels.get_ref() {
        match check_label_name(name) {
            Ok(()) => checked.push((name.clone(), value.clone())),
            Err(message) => context.error(labels.span(), message),
        }
    }
    checked
}

/// Compiles a `match` or `unless` table into filters on field indices.
fn compile_filters(
    context: &mut FileContext,
    fields: &mut FieldTable,
    table: Option<&Spanned<std::collections::BTreeMap<String, Spanned<String>>>>,
    must_match: bool,
) -> Vec<Filter> {
    let Some(table) = table else {
        return Vec::new();
    };
    let mut filters = Vec::new();
    for (name, pattern) in table.get_ref() {
        let field = Spanned::new(table.span(), name.clone());
        let index = resolve_field(context, fields, &field);
        let regex = compile_regex(context, pattern);
        if let (Some(field), Some(regex)) = (index, regex) {
            filters.push(Filter {
                field,
                regex,
                must_match,
            });
        }
    }
    filters
}

/// Encodes the metric's `initial` label sets, each of which must give every one of the
/// metric's own labels.
fn initial_keys(context: &mut FileContext, spec: &MetricSpec, labels: &[String]) -> Vec<Box<[u8]>> {
    let Some(initial) = &spec.initial else {
        return Vec::new();
    };
    if labels.is_empty() {
        let message = "`initial` lists label sets, but this metric has no labels of its own; a \
                       metric without labels starts at zero anyway";
        context.error(initial.span(), message);
        return Vec::new();
    }
    let mut keys = Vec::new();
    for set in initial.get_ref() {
        let values = set.get_ref();
        if let Some(unknown) = values.keys().find(|name| !labels.contains(name)) {
            let message = format!(
                "{unknown:?} is not a label of this metric; its labels are {}",
                labels.join(", ")
            );
            context.error(set.span(), message);
            continue;
        }
        if let Some(missing) = labels.iter().find(|name| !values.contains_key(*name)) {
            let message = format!(
                "this label set lacks {missing:?}; give a value for each of {}",
                labels.join(", ")
            );
            context.error(set.span(), message);
            continue;
        }
        let mut key = Vec::new();
        for name in labels {
            crate::engine::push_label_value(&mut key, values[name].as_bytes());
        }
        keys.push(key.into_boxed_slice());
    }
    keys
}

fn check_native(context: &mut FileContext, spec: &MetricSpec, kind: Option<MetricKind>) -> bool {
    let Some(native) = &spec.native else {
        return false;
    };
    if kind.is_some_and(|kind| kind != MetricKind::Histogram) {
        let message = "`native` applies only to histograms";
        context.error(native.span(), message);
        return false;
    }
    *native.get_ref()
}

fn check_max_series(context: &mut FileContext, spec: &MetricSpec) -> usize {
    let Some(limit) = &spec.max_series else {
        return DEFAULT_MAX_SERIES;
    };
    match usize::try_from(*limit.get_ref()) {
        Ok(limit) if limit > 0 => limit,
        _ => {
            let message = format!(
                "invalid max_series {}: use a whole number of at least 1",
                limit.get_ref()
            );
            context.error(limit.span(), message);
            DEFAULT_MAX_SERIES
        }
    }
}

fn check_list(context: &mut FileContext, spec: &MetricSpec) -> ListMode {
    let Some(list) = &spec.list else {
        return ListMode::default();
    };
    if spec.value.is_none() {
        context.error(
            list.span(),
            "`list` needs `value`: there is no value to read a list from",
        );
        return ListMode::default();
    }
    ListMode::parse(list.get_ref()).unwrap_or_else(|| {
        let message = format!(
            "unknown list mode {:?}; expected \"sum\", \"each\", \"first\" or \"last\"",
            list.get_ref()
        );
        context.error(list.span(), message);
        ListMode::default()
    })
}

fn check_value_present(
    context: &mut FileContext,
    spec: &MetricSpec,
    kind: MetricKind,
    span: Range<usize>,
) {
    if spec.value.is_some() || kind == MetricKind::Counter {
        if spec.value.is_none()
            && let Some(scale) = &spec.scale
        {
            context.error(
                scale.span(),
                "`scale` needs `value`: there is no value to scale",
            );
        }
        return;
    }
    let message = format!("a {kind} needs `value`, the field whose number it records");
    context.error(span.start..span.start, message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_name_suggests_near_misses() {
        let names = ["method", "code", "bytes", "duration_ms"];
        assert_eq!(closest_name("metod", names.into_iter()), Some("method"));
        assert_eq!(closest_name("duration", names.into_iter()), None);
        assert_eq!(
            closest_name("duration_s", names.into_iter()),
            Some("duration_ms")
        );
        assert_eq!(closest_name("status", names.into_iter()), None);
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn pattern_offset_points_into_literal_strings() {
        let source = "regex = '''\n^(a|b\n'''";
        let pattern = Spanned::new(8..source.len(), "^(a|b\n".to_owned());
        assert_eq!(pattern_offset(source, &pattern, 1), 13..14);

        let source = "regex = \"^\\\\d(\"";
        let pattern = Spanned::new(8..source.len(), "^\\d(".to_owned());
        assert_eq!(pattern_offset(source, &pattern, 3), 8..source.len());
    }
}
