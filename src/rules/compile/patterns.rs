//! Named sub-patterns: `%{NAME}` and `%{NAME:field}` inside a rule's regexes.
//!
//! Common pieces of access-log formats (an IP address, a quoted string with escaped quotes,
//! nginx's `$time_local`) are easy to get subtly wrong by hand. A rule writes `%{IP:client}`
//! instead, which becomes `(?P<client>...)` with a tested regex inside. A rule file can add its
//! own sub-patterns in a `[patterns]` table, and these may use other sub-patterns.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use toml::Spanned;

use super::FileContext;

/// The built-in sub-patterns: name, regex and what it matches. Each regex is written without
/// capture groups, so it can be used any number of times in one pattern.
pub const BUILT_IN: [(&str, &str, &str); 14] = [
    (
        "IPV4",
        r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}",
        "an IPv4 address",
    ),
    (
        "IPV6",
        r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}|[0-9A-Fa-f]{0,4})",
        "an IPv6 address, also with an IPv4 tail (`::ffff:10.0.0.1`)",
    ),
    ("IP", "%{IPV4}|%{IPV6}", "an IPv4 or IPv6 address"),
    ("METHOD", "[A-Z]+", "an HTTP method"),
    ("STATUS", r"\d{3}", "a three-digit HTTP status"),
    ("INT", r"\d+", "a whole number"),
    ("NUMBER", r"-?\d+(?:\.\d+)?", "a decimal number"),
    (
        "NUMBER_OR_DASH",
        r"-|\d+(?:\.\d+)?",
        "a decimal number, or `-` for none",
    ),
    (
        "NUMBER_LIST",
        r"(?:-|\d+(?:\.\d+)?)(?:(?:, | : )(?:-|\d+(?:\.\d+)?))*",
        "nginx's upstream lists: numbers or `-`, separated by `, ` or ` : `",
    ),
    (
        "DURATION",
        r"\d+(?:\.\d+)?(?:ns|us|ms|s|m)?",
        "a number with an optional time unit: `12ms`, `1.5s`",
    ),
    (
        "QUOTED",
        r#"(?:[^"\\]|\\.)*"#,
        "the text between double quotes, where `\\\"` is an escaped quote",
    ),
    (
        "NOTSPACE",
        r"\S+",
        "one or more characters other than white space",
    ),
    (
        "TIME_LOCAL",
        r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}",
        "nginx's `$time_local` and Apache's `%t`: `04/Dec/2026:10:00:00 +0000`",
    ),
    (
        "ISO8601",
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?",
        "an ISO 8601 time, as Envoy writes `%START_TIME%`: `2026-12-04T10:00:00.123Z`",
    ),
];

/// The sub-patterns a rule file can use, each fully expanded.
#[derive(Default)]
pub struct Library {
    expanded: HashMap<String, String>,
}

/// One `%{NAME}` or `%{NAME:field}` in a pattern.
struct Reference<'a> {
    /// Byte range of the whole reference in the pattern.
    range: Range<usize>,
    name: &'a str,
    field: Option<&'a str>,
}

/// A pattern with its sub-patterns replaced, and the map back to the text as written.
#[derive(Debug, Clone)]
pub struct Expansion {
    pub text: String,
    /// The pattern as the rule file writes it.
    pub written: String,
    /// Pieces of the expanded text: (start in the expanded text, start in the written text,
    /// true for an expanded reference).
    pieces: Vec<(usize, usize, bool)>,
}

impl Expansion {
    /// Maps an offset in the expanded text to the written pattern. An offset inside an
    /// expanded reference maps to the reference's `%`.
    pub fn written_offset(&self, offset: usize) -> usize {
        let index = self
            .pieces
            .partition_point(|(expanded, _, _)| *expanded <= offset)
            .saturating_sub(1);
        match self.pieces.get(index) {
            Some(&(expanded, written, false)) => written + (offset - expanded),
            Some(&(_, written, true)) => written,
            None => offset,
        }
    }
}

/// Why a pattern could not be expanded: the message and the byte range of the reference.
pub struct ExpandError {
    pub range: Range<usize>,
    pub message: String,
}

impl Library {
    /// Creates a library of the built-in sub-patterns alone.
    pub fn built_in() -> Library {
        let mut library = Library {
            expanded: HashMap::new(),
        };
        for (name, regex, _) in BUILT_IN {
            let expansion = library
                .expand(regex)
                .unwrap_or_else(|_| panic!("built-in sub-pattern {name} refers to a later one"));
            library.expanded.insert(name.to_owned(), expansion.text);
        }
        library
    }

    /// Adds a rule file's `[patterns]` table, reporting names that clash with built-ins,
    /// unknown references and cycles. Each sub-pattern's regex is checked by `check`, which
    /// gets the sub-pattern as written and its expansion.
    pub fn add_file_patterns(
        &mut self,
        context: &mut FileContext,
        table: &BTreeMap<String, Spanned<String>>,
        check: &mut dyn FnMut(&mut FileContext, &Spanned<String>, &Expansion) -> bool,
    ) {
        let mut pending: Vec<(&String, &Spanned<String>)> = Vec::new();
        for (name, pattern) in table {
            if let Some(message) = name_problem(name) {
                context.error(pattern.span(), message);
            } else {
                pending.push((name, pattern));
            }
        }

        // Expand in rounds: each round adds the sub-patterns whose references are all known.
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(|(name, pattern)| {
                let ready = references(pattern.get_ref())
                    .all(|reference| self.expanded.contains_key(reference.name));
                if ready {
                    self.add_one(context, name, pattern, check);
                }
                !ready
            });
            if pending.len() == before {
                break;
            }
        }
        for (name, pattern) in &pending {
            self.report_unresolved(context, name, pattern, table);
        }
        // Known from here on, so the patterns that use them report no second error.
        for (name, _) in pending {
            self.expanded.insert(name.clone(), String::new());
        }
    }

    fn add_one(
        &mut self,
        context: &mut FileContext,
        name: &str,
        pattern: &Spanned<String>,
        check: &mut dyn FnMut(&mut FileContext, &Spanned<String>, &Expansion) -> bool,
    ) {
        let Ok(expansion) = self.expand(pattern.get_ref()) else {
            return;
        };
        if check(context, pattern, &expansion) {
            self.expanded.insert(name.to_owned(), expansion.text);
        } else {
            // Keep the name known, so uses of it report no second, misleading error.
            self.expanded.insert(name.to_owned(), String::new());
        }
    }

    /// Reports why a sub-pattern could not be expanded: it uses an unknown name, it contains
    /// itself, or it uses one of its file's sub-patterns that has one of these errors.
    fn report_unresolved(
        &self,
        context: &mut FileContext,
        name: &str,
        pattern: &Spanned<String>,
        table: &BTreeMap<String, Spanned<String>>,
    ) {
        let Some(reference) = references(pattern.get_ref())
            .find(|reference| !self.expanded.contains_key(reference.name))
        else {
            return;
        };
        let used = reference.name;
        let message = if !table.contains_key(used) {
            self.unknown_message(used)
        } else if leads_to(used, name, table) {
            format!(
                "sub-pattern {name} contains itself: it uses %{{{used}}}, which leads back to {name}"
            )
        } else {
            format!("sub-pattern {name} uses %{{{used}}}, which has an error of its own")
        };
        context.error(pattern.span(), message);
    }

    /// Replaces every reference in `pattern` with its expansion.
    pub fn expand(&self, pattern: &str) -> Result<Expansion, ExpandError> {
        let mut text = String::with_capacity(pattern.len());
        let mut pieces = Vec::new();
        let mut written = 0;
        for reference in references(pattern) {
            pieces.push((text.len(), written, false));
            text.push_str(&pattern[written..reference.range.start]);

            let Some(body) = self.expanded.get(reference.name) else {
                return Err(ExpandError {
                    range: reference.range,
                    message: self.unknown_message(reference.name),
                });
            };
            pieces.push((text.len(), reference.range.start, true));
            match reference.field {
                Some(field) => text.push_str(&format!("(?P<{field}>{body})")),
                None => text.push_str(&format!("(?:{body})")),
            }
            written = reference.range.end;
        }
        pieces.push((text.len(), written, false));
        text.push_str(&pattern[written..]);
        Ok(Expansion {
            text,
            written: pattern.to_owned(),
            pieces,
        })
    }

    fn unknown_message(&self, name: &str) -> String {
        let mut names: Vec<&str> = self.expanded.keys().map(String::as_str).collect();
        names.sort_unstable();
        let mut message = format!("unknown sub-pattern %{{{name}}}");
        match super::closest_name(name, names.iter().copied()) {
            Some(closest) => message.push_str(&format!("; did you mean %{{{closest}}}?")),
            None => message.push_str(&format!("; the sub-patterns are {}", names.join(", "))),
        }
        message
    }
}

/// Returns true when the sub-pattern `from` uses `target`, directly or through others of the
/// file's sub-patterns.
fn leads_to(from: &str, target: &str, table: &BTreeMap<String, Spanned<String>>) -> bool {
    let mut stack = vec![from];
    let mut visited = std::collections::HashSet::new();
    while let Some(name) = stack.pop() {
        if name == target {
            return true;
        }
        if !visited.insert(name) {
            continue;
        }
        if let Some(pattern) = table.get(name) {
            stack.extend(references(pattern.get_ref()).map(|reference| reference.name));
        }
    }
    false
}

/// Returns why a `[patterns]` key cannot name a sub-pattern, if it cannot.
fn name_problem(name: &str) -> Option<String> {
    if BUILT_IN.iter().any(|(built_in, _, _)| *built_in == name) {
        return Some(format!(
            "sub-pattern {name} is built in; choose another name for this one"
        ));
    }
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    (!valid).then(|| {
        format!(
            "invalid sub-pattern name {name:?}: use letters, digits and underscores, starting \
             with a letter"
        )
    })
}

/// Finds the references in a pattern. `%{` that does not start a well-formed reference is
/// left as literal text.
fn references(pattern: &str) -> impl Iterator<Item = Reference<'_>> {
    pattern
        .match_indices("%{")
        .filter(|(start, _)| !is_escaped(pattern, *start))
        .filter_map(|(start, _)| reference_at(pattern, start))
}

/// Returns true when the character at `index` follows an odd number of backslashes, as in
/// `\%{INT}`: an escaped `%` starts no reference.
fn is_escaped(pattern: &str, index: usize) -> bool {
    let backslashes = pattern[..index]
        .bytes()
        .rev()
        .take_while(|byte| *byte == b'\\')
        .count();
    backslashes % 2 == 1
}

fn reference_at(pattern: &str, start: usize) -> Option<Reference<'_>> {
    let rest = &pattern[start + 2..];
    let close = rest.find('}')?;
    let inner = &rest[..close];
    let (name, field) = match inner.split_once(':') {
        Some((name, field)) => (name, Some(field)),
        None => (inner, None),
    };
    let is_word = |text: &str| {
        text.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !is_word(name) || field.is_some_and(|field| !is_word(field)) {
        return None;
    }
    Some(Reference {
        range: start..start + 2 + close + 1,
        name,
        field,
    })
}

#[cfg(test)]
mod tests {
    use regex::bytes::RegexBuilder;

    use super::*;

    fn matcher(pattern: &str) -> regex::bytes::Regex {
        let text = Library::built_in().expand(pattern).ok().unwrap().text;
        RegexBuilder::new(&format!("^(?:{text})$"))
            .unicode(false)
            .build()
            .unwrap()
    }

    #[test]
    fn addresses_match_whole() {
        let ip = matcher("%{IP}");
        for address in [
            "10.0.0.1",
            "255.255.255.255",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:192.0.2.128",
            "fe80::1",
        ] {
            assert!(ip.is_match(address.as_bytes()), "{address}");
        }
        for text in ["256.1.1.1", "1.2.3", "example.com", "-", "1.2.3.4.5"] {
            assert!(!ip.is_match(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn quoted_text_allows_escaped_quotes() {
        let regex = matcher(r#""%{QUOTED:agent}""#);
        assert!(regex.is_match(br#""Mozilla \"x\" 5.0""#));
        assert!(regex.is_match(br#""""#));
        assert!(!regex.is_match(br#""a"b""#));
    }

    #[test]
    fn times_and_numbers() {
        assert!(matcher("%{TIME_LOCAL}").is_match(b"04/Dec/2026:10:00:00 +0100"));
        assert!(matcher("%{ISO8601}").is_match(b"2026-12-04T10:00:00.123Z"));
        assert!(matcher("%{ISO8601}").is_match(b"2026-12-04T10:00:00+01:00"));
        let list = matcher("%{NUMBER_LIST}");
        for text in [
            "0.010",
            "-",
            "-, 0.010",
            "0.010 : 0.020",
            "0.1, -, 0.3 : 0.4",
        ] {
            assert!(list.is_match(text.as_bytes()), "{text}");
        }
        assert!(!list.is_match(b"0.1,0.2"));
    }

    #[test]
    fn field_references_become_named_groups() {
        let expansion = Library::built_in()
            .expand("^%{INT:bytes} x%{STATUS}")
            .ok()
            .unwrap();
        assert_eq!(expansion.text, r"^(?P<bytes>\d+) x(?:\d{3})");
        // An offset inside the second expansion maps to its `%`. One after it maps back.
        assert_eq!(expansion.written_offset(20), 15);
        assert_eq!(expansion.written_offset(16), 14);
        assert_eq!(expansion.written_offset(expansion.text.len()), 24);
    }

    #[test]
    fn malformed_references_stay_literal() {
        let library = Library::built_in();
        for pattern in ["100%{", "%{1x}", "%{IP:}", "%{ IP }"] {
            assert_eq!(library.expand(pattern).ok().unwrap().text, pattern);
        }
    }

    #[test]
    fn unknown_names_suggest_the_closest() {
        let error = Library::built_in().expand("a %{IPV5:x}").err().unwrap();
        assert_eq!(error.range, 2..11);
        assert_eq!(
            error.message,
            "unknown sub-pattern %{IPV5}; did you mean %{IPV4}?"
        );
    }
}
