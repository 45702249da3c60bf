//! Tests written inside rule files (`[[test]]`): log lines in, expected samples out.
//!
//! `logtally check` runs them. Each test applies its rule file alone to its input lines on a
//! fresh store and compares the samples of that file's metrics with the expected ones. Only
//! the listed samples are compared unless the test sets `all = true`, and values compare as
//! numbers, so `1` matches `1.0`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use super::{Position, RuleSet};
use crate::engine::{Engine, SourceRule, source_key};
use crate::exposition;
use crate::metrics::Store;

/// One `[[test]]` table, checked at load.
#[derive(Debug, Clone)]
pub struct RuleTest {
    pub name: String,
    /// The test's position in its file, for failure messages.
    pub position: Position,
    pub input: Vec<Vec<u8>>,
    pub expect: Vec<ExpectedSample>,
    /// Every sample of the file's metrics must be listed.
    pub all: bool,
    /// The log path the input is taken to come from, for the labels `files` entries and
    /// `path_labels` give; `None` gives those labels empty values.
    pub path: Option<std::path::PathBuf>,
}

/// One expected exposition line, `name{label="value",...} number`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedSample {
    pub series: SeriesId,
    pub value: f64,
    /// The line as written, for messages.
    pub text: String,
}

/// A sample name with its labels, sorted by label name so label order does not matter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeriesId {
    pub name: String,
    pub labels: Vec<(String, String)>,
}

impl SeriesId {
    fn show(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(name, value)| format!("{name}={value:?}"))
            .collect();
        if labels.is_empty() {
            self.name.clone()
        } else {
            format!("{}{{{}}}", self.name, labels.join(","))
        }
    }
}

/// Parses one exposition sample line. Returns what is wrong when it is not one.
pub fn parse_sample(line: &str) -> Result<(SeriesId, f64), String> {
    let line = line.trim();
    let name_end = line
        .find(['{', ' '])
        .ok_or("expected `name{labels} value` or `name value`")?;
    let name = &line[..name_end];
    if name.is_empty() {
        return Err("the sample has no metric name".to_owned());
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(inner)?;
        labels = parsed;
        rest = after;
    }
    let value_text = rest.trim();
    let value = parse_value(value_text)
        .ok_or_else(|| format!("the value {value_text:?} is not a number"))?;
    labels.sort();
    Ok((
        SeriesId {
            name: name.to_owned(),
            labels,
        },
        value,
    ))
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

/// Label names and values, in the order written.
type Labels = Vec<(String, String)>;

/// Parses `a="x",b="y"}` and returns the labels and the text after the closing brace.
fn parse_labels(mut text: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        text = text.trim_start();
        if let Some(after) = text.strip_prefix('}') {
            return Ok((labels, after));
        }
        let equals = text.find('=').ok_or("a label has no `=`")?;
        let name = text[..equals].trim().to_owned();
        let quoted = text[equals + 1..].trim_start();
        let body = quoted
            .strip_prefix('"')
            .ok_or("a label value must be in double quotes")?;
        let (value, after) = unescape_until_quote(body)?;
        labels.push((name, value));
        text = after.trim_start();
        text = text.strip_prefix(',').unwrap_or(text);
    }
}

/// Reads an escaped label value up to its closing quote.
fn unescape_until_quote(text: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &text[index + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, escaped)) => value.push(escaped),
                None => break,
            },
            other => value.push(other),
        }
    }
    Err("a label value has no closing quote".to_owned())
}

/// A test that did not pass, with a readable report.
#[derive(Debug, Clone, PartialEq)]
pub struct TestFailure {
    pub file: std::path::PathBuf,
    pub test: String,
    pub position: Position,
    pub report: String,
}

impl std::fmt::Display for TestFailure {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Position { line, column } = self.position;
        write!(
            formatter,
            "{}:{line}:{column}: test {:?} failed:\n{}",
            self.file.display(),
            self.test,
            self.report
        )
    }
}

/// Runs every test of every rule file. Returns the number of tests run and the failures.
pub fn run_all(rules: &Arc<RuleSet>) -> (usize, Vec<TestFailure>) {
    let mut count = 0;
    let mut failures = Vec::new();
    for (index, file) in rules.files.iter().enumerate() {
        for test in &file.tests {
            count += 1;
            if let Some(report) = run_one(rules, index, test) {
                failures.push(TestFailure {
                    file: file.path.clone(),
                    test: test.name.clone(),
                    position: test.position,
                    report,
                });
            }
        }
    }
    (count, failures)
}

/// Runs one test; returns the report of its differences, or `None` when it passes.
fn run_one(rules: &Arc<RuleSet>, file: usize, test: &RuleTest) -> Option<String> {
    let mut store = Store::new(rules);
    let mut source = SourceRule::new(file, source_key(&rules.files[file], test.path.as_deref()));
    store.attach(rules, file, &source.key);
    let mut engine = Engine::new(rules.clone());
    for line in &test.input {
        engine.apply_sources(std::slice::from_mut(&mut source), line, &mut store);
    }
    let actual = samples_of_file(rules, file, &store);

    let mut report = String::new();
    for expected in &test.expect {
        match actual.get(&expected.series) {
            Some(value) if same_number(*value, expected.value) => {}
            Some(value) => {
                let series = expected.series.show();
                writeln!(
                    report,
                    "  {series}: expected {}, got {}",
                    expected.value, value
                )
                .ok();
            }
            None => {
                writeln!(
                    report,
                    "  {}: expected {}, but there is no such sample",
                    expected.series.show(),
                    expected.value
                )
                .ok();
            }
        }
    }
    if test.all {
        for (series, value) in &actual {
            if !test
                .expect
                .iter()
                .any(|expected| &expected.series == series)
            {
                writeln!(report, "  {}: not expected, got {value}", series.show()).ok();
            }
        }
    }
    let source_labels = &rules.files[file].source_labels.names;
    if !report.is_empty() && test.path.is_none() && !source_labels.is_empty() {
        writeln!(
            report,
            "  note: this file's metrics also carry labels that a log's `files` entry or path \
             gives ({}), empty here; give the test a `path` to set them",
            source_labels.join(", ")
        )
        .ok();
    }
    (!report.is_empty()).then_some(report)
}

fn same_number(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// The samples of the metrics one rule file defines, by series.
fn samples_of_file(rules: &RuleSet, file: usize, store: &Store) -> BTreeMap<SeriesId, f64> {
    let mut families: Vec<_> = rules.files[file]
        .metrics
        .iter()
        .map(|metric| metric.family)
        .collect();
    families.sort_unstable();
    families.dedup();
    let mut pairs: Vec<_> = families
        .iter()
        .map(|index| (&rules.families[*index], &store.families[*index]))
        .collect();
    let mut text = String::new();
    exposition::encode(&mut text, &mut pairs);
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| parse_sample(line).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_parse() {
        let (series, value) =
            parse_sample(r#"http_requests_total{method="GET",code="200"} 3"#).unwrap();
        assert_eq!(series.name, "http_requests_total");
        assert_eq!(
            series.labels,
            [
                ("code".into(), "200".into()),
                ("method".into(), "GET".into())
            ]
        );
        assert_eq!(value, 3.0);

        let (series, value) = parse_sample(r#"x{a="q\"uo\\te\n"} +Inf"#).unwrap();
        assert_eq!(series.labels, [("a".into(), "q\"uo\\te\n".into())]);
        assert_eq!(value, f64::INFINITY);

        let (series, value) = parse_sample("plain 0.7").unwrap();
        assert!(series.labels.is_empty());
        assert_eq!(value, 0.7);
    }

    #[test]
    fn bad_samples_rejected() {
        assert_eq!(
            parse_sample("x{a=\"1\"} many").unwrap_err(),
            "the value \"many\" is not a number"
        );
        assert_eq!(
            parse_sample("x{a=1} 2").unwrap_err(),
            "a label value must be in double quotes"
        );
        assert_eq!(
            parse_sample("x{a=\"1} 2").unwrap_err(),
            "a label value has no closing quote"
        );
        assert_eq!(
            parse_sample("lonely").unwrap_err(),
            "expected `name{labels} value` or `name value`"
        );
    }
}
