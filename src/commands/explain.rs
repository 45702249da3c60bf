//! `logtally explain`: shows, line by line, what the rules do with a log line. For a line that
//! matches, it lists the line's fields, then the updates the line makes and the ones it skips
//! with the reason. For a line that matches no pattern, it reports how far each regex got
//! before it failed.

use std::io::{self, BufRead};
use std::process::ExitCode;
use std::sync::Arc;

use regex::bytes::RegexBuilder;
use regex_syntax::ast::{Ast, parse::Parser};

use crate::cli::ExplainArgs;
use crate::engine::{Engine, LineField, source_key};
use crate::exposition;
use crate::metrics::{SkipReason, Store};
use crate::rules::{Expansion, Pattern, RuleSet};

/// Runs the command over the given line, or over standard input's lines.
pub fn run(args: &ExplainArgs) -> ExitCode {
    let Some(rules) = super::load_rules(&args.rules) else {
        return ExitCode::FAILURE;
    };
    let mut report = String::new();
    match &args.line {
        Some(line) => explain_line(&rules, 1, line.as_bytes(), &mut report),
        None => {
            for (index, line) in io::stdin().lock().split(b'\n').enumerate() {
                let Ok(mut line) = line else { break };
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                explain_line(&rules, index + 1, &line, &mut report);
            }
        }
    }
    print!("{report}");
    ExitCode::SUCCESS
}

/// Appends the explanation of one line to `out`.
pub fn explain_line(rules: &Arc<RuleSet>, number: usize, line: &[u8], out: &mut String) {
    out.push_str(&format!(
        "line {number}: {}\n",
        String::from_utf8_lossy(line)
    ));
    for (index, file) in rules.files.iter().enumerate() {
        out.push_str(&format!("  {}:\n", file.path.display()));
        let mut store = Store::new(rules);
        store.attach(rules, index, &source_key(file, None));
        let mut engine = Engine::new(rules.clone());
        engine.apply_file(index, line, &mut store);
        if store.unmatched[index] > 0 {
            explain_mismatch(file, line, out);
            continue;
        }
        let matched = engine.line_fields(index, line);
        let (pattern, fields) = match &matched {
            Some(matched) => (Some(matched.pattern), &matched.fields[..]),
            None => (None, &[][..]),
        };
        explain_fields(file, pattern, fields, out);
        explain_updates(rules, index, &store, out);
        explain_filtered(rules, index, fields, out);
    }
}

/// Lists the fields of a matched line in field order, each derived one with the field it
/// was computed from, and opens the list of updates. Names the `[parse]` pattern that
/// matched, if one did, and how it was matched.
fn explain_fields(
    file: &crate::rules::RuleFile,
    pattern: Option<usize>,
    fields: &[LineField],
    out: &mut String,
) {
    let matched_by = pattern.map_or(String::new(), |index| {
        let method = match &file.patterns[index] {
            Pattern::Regex {
                splitter: Some(_), ..
            } => "walked",
            Pattern::Regex { splitter: None, .. } => "regex engine",
            Pattern::Json => "JSON",
            Pattern::Logfmt => "logfmt",
        };
        format!(" by pattern {} ({method})", index + 1)
    });
    if fields.is_empty() {
        // Only metrics with their own regex matched, or the pattern defines no fields.
        out.push_str(&format!("    matched{matched_by}; updates:\n"));
        return;
    }
    out.push_str(&format!("    matched{matched_by}; fields:\n"));
    for (name, field) in file.fields.iter().zip(fields) {
        let value = match &field.value {
            Some(value) => format!("{:?}", String::from_utf8_lossy(value)),
            None => "(no value)".to_owned(),
        };
        out.push_str(&format!("      {name} = {value}"));
        if let Some(from) = field.derived_from {
            out.push_str(&format!(" (derived from {})", file.fields[from]));
        }
        out.push('\n');
    }
    out.push_str("    updates:\n");
}

/// Says how far each regex pattern got on a line none of the patterns matched.
fn explain_mismatch(file: &crate::rules::RuleFile, line: &[u8], out: &mut String) {
    out.push_str("    no pattern matched\n");
    for (number, pattern) in file.patterns.iter().enumerate() {
        let description = match pattern {
            Pattern::Regex { regex, source, .. } => closest_progress(regex.as_str(), source, line),
            Pattern::Json => "the line is not a JSON object".to_owned(),
            Pattern::Logfmt => "the line has no key=value pair".to_owned(),
        };
        out.push_str(&format!("    pattern {}: {description}\n", number + 1));
    }
}

/// Finds the longest leading run of the pattern's top-level parts that matches the start of
/// the line, and reports where the line stopped matching and which part came next, as the
/// rule file writes it (`%{IP:client}`, not its expansion).
fn closest_progress(pattern: &str, source: &Expansion, line: &[u8]) -> String {
    let Ok(ast) = Parser::new().parse(pattern) else {
        return "the regex did not match".to_owned();
    };
    let parts: Vec<&Ast> = match &ast {
        Ast::Concat(concat) => concat.asts.iter().collect(),
        other => vec![other],
    };
    let part_text = |part: &Ast| {
        let start = source.written_offset(part.span().start.offset);
        let end = source.written_offset(part.span().end.offset);
        source.written.get(start..end).unwrap_or("")
    };

    for count in (1..parts.len()).rev() {
        let end = parts[count - 1].span().end.offset;
        let prefix = format!("^(?:{})", &pattern[parts[0].span().start.offset..end]);
        let Ok(regex) = RegexBuilder::new(&prefix).unicode(false).build() else {
            continue;
        };
        // A run of anchors matches none of the line, which is no more informative than a
        // failure.
        if let Some(found) = regex.find(line).filter(|found| found.end() > 0) {
            let matched = String::from_utf8_lossy(&line[..found.end()]);
            return format!(
                "matched {} bytes ({matched:?}), then expected `{}`",
                found.end(),
                part_text(parts[count])
            );
        }
    }
    let first = parts
        .iter()
        .find(|part| !matches!(part, Ast::Assertion(_) | Ast::Flags(_)))
        .map_or(source.written.as_str(), |part| part_text(part));
    format!("failed at the start of the line, where it expected `{first}`")
}

/// Lists the updates a matched line made, and the updates it skipped and why.
fn explain_updates(rules: &RuleSet, index: usize, store: &Store, out: &mut String) {
    let file = &rules.files[index];
    // Samples that differ from a store that saw no line are the line's updates.
    let mut untouched = Store::new(rules);
    untouched.attach(rules, index, &source_key(file, None));
    let mut families: Vec<usize> = file.metrics.iter().map(|metric| metric.family).collect();
    families.dedup();
    for family in families {
        let definition = &rules.families[family];
        let mut before = String::new();
        exposition::encode(
            &mut before,
            &mut [(definition, &untouched.families[family])],
        );
        let mut after = String::new();
        exposition::encode(&mut after, &mut [(definition, &store.families[family])]);
        let unchanged: Vec<&str> = before.lines().collect();
        let updates = after
            .lines()
            .filter(|line| !line.starts_with('#') && !unchanged.contains(line));
        for sample in updates.filter(|line| !(line.contains("_bucket{") && line.ends_with(" 0"))) {
            out.push_str(&format!("      {sample}\n"));
        }
    }
    for metric in &file.metrics {
        for (reason, count) in SkipReason::ALL.iter().zip(&store.skipped[metric.id]) {
            if *count > 0 {
                let name = &rules.metrics[metric.id];
                out.push_str(&format!(
                    "      {name}: no update, value {}\n",
                    reason.as_str()
                ));
            }
        }
    }
}

/// Lists the metrics a `match` or `unless` filter kept from updating, with the filter that
/// did. Metrics with their own regex are left out: their fields are not the file's.
fn explain_filtered(rules: &RuleSet, index: usize, fields: &[LineField], out: &mut String) {
    let file = &rules.files[index];
    for metric in file
        .metrics
        .iter()
        .filter(|metric| metric.own_pattern.is_none())
    {
        let failed = metric.filters.iter().find(|filter| {
            let value = fields
                .get(filter.field)
                .and_then(|field| field.value.as_deref())
                .unwrap_or_default();
            filter.regex.is_match(value) != filter.must_match
        });
        if let Some(filter) = failed {
            let (key, outcome) = if filter.must_match {
                ("match", "does not match")
            } else {
                ("unless", "matches")
            };
            out.push_str(&format!(
                "      {}: no update, field {} {outcome} `{key}` '{}'\n",
                rules.metrics[metric.id],
                file.fields[filter.field],
                filter.regex.as_str()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `pattern` as a rule file's `[parse]` regex and reports the progress on `line`.
    fn progress(pattern: &str, line: &[u8]) -> String {
        let text = format!(
            "[parse]\nregex = '{pattern}'\n[[metric]]\nname = \"a_total\"\ntype = \"counter\"\n\
             help = \"h\"\n"
        );
        let rules = RuleSet::from_source(std::path::Path::new("t.toml"), &text).unwrap();
        let Pattern::Regex { regex, source, .. } = &rules.files[0].patterns[0] else {
            panic!("a regex pattern");
        };
        closest_progress(regex.as_str(), source, line)
    }

    #[test]
    fn progress_names_the_failing_part() {
        let pattern = r"^(?P<method>\S+) (?P<code>\d{3}) (?P<ms>\d+)$";
        assert_eq!(
            progress(pattern, b"GET 200 fast"),
            "matched 8 bytes (\"GET 200 \"), then expected `(?P<ms>\\d+)`"
        );
        assert_eq!(
            progress(pattern, b"GET abc 1"),
            "matched 4 bytes (\"GET \"), then expected `(?P<code>\\d{3})`"
        );
    }

    #[test]
    fn progress_names_sub_patterns_as_written() {
        let pattern = "^%{IP:client} %{STATUS:status} x$";
        assert_eq!(
            progress(pattern, b"10.0.0.1 abc x"),
            "matched 9 bytes (\"10.0.0.1 \"), then expected `%{STATUS:status}`"
        );
        assert_eq!(
            progress(pattern, b"host 200 x"),
            "failed at the start of the line, where it expected `%{IP:client}`"
        );
    }

    #[test]
    fn progress_skips_leading_flags() {
        assert_eq!(
            progress(r"(?-u)^\[(?P<time>[^\]]*)\]$", b"-"),
            "failed at the start of the line, where it expected `\\[`"
        );
    }
}
