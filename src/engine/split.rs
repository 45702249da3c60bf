//! Matches a regex by walking the line along the regex's fixed text, without the regex engine.
//!
//! An access-log regex is usually a chain of fields between fixed separators, such as
//! `^(?P<a>[^ ]+) (?P<b>[0-9]+|-) "(?P<c>[^"]*)"$`. When no field can contain the first byte of
//! the fixed text after it, each field of any match ends at the first such byte, so the place of
//! every group is forced. A walk along the line then finds the match and its groups in one pass.
//! A field made of one byte class is scanned while its bytes are in the class. A field with
//! alternatives tries each in turn until one stops just before the field's end byte. The regex
//! crate's capture search follows every group byte by byte and costs about three times as much
//! per Envoy line. Regexes of any other shape keep that search, so the walk never changes what a
//! regex matches.

use regex::bytes::{CaptureLocations, Regex};
use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// A regex in the shape the walk handles, taken apart into its steps.
#[derive(Debug, Clone)]
pub struct Splitter {
    steps: Vec<Step>,
    /// Whether the regex ends with `$`, so the match must reach the end of the line.
    to_line_end: bool,
}

/// One step of the walk along a line.
#[derive(Debug, Clone)]
struct Step {
    part: Part,
    /// The capture group the step's text is, if any.
    group: Option<usize>,
}

/// The text one step matches.
#[derive(Debug, Clone)]
enum Part {
    /// One piece.
    Piece(Piece),
    /// One of several chains of pieces, followed by the byte `end`, or by the end of the line
    /// when that is `None`. No chain can contain that byte.
    Choice {
        alternatives: Vec<Vec<Piece>>,
        end: Option<u8>,
    },
    /// The start of a group, which spans the steps up to its [`Part::Close`].
    Open(usize),
    /// The end of a group.
    Close(usize),
}

/// The smallest part of a regex the walk matches.
#[derive(Debug, Clone)]
enum Piece {
    /// Fixed text.
    Text(Box<[u8]>),
    /// Between `min` and `max` bytes of a class, taken greedily.
    Run(Run),
}

/// Between `min` and `max` bytes of a class.
#[derive(Debug, Clone)]
struct Run {
    class: Box<[bool; 256]>,
    /// The bytes outside the class, when there are one to three of them, as in `[^"]` or
    /// `[^ "]`. A vectorized search for them passes over long fields faster than a byte loop.
    outside: Option<Outside>,
    min: u32,
    max: u32,
}

/// One to three bytes a vectorized search finds.
#[derive(Debug, Clone, Copy)]
enum Outside {
    One(u8),
    Two(u8, u8),
    Three(u8, u8, u8),
}

impl Outside {
    /// Returns the bytes outside `class` if there are one to three.
    fn of(class: &[bool; 256]) -> Option<Outside> {
        let mut bytes = (0..=u8::MAX).filter(|&byte| !class[usize::from(byte)]);
        let outside = match (bytes.next(), bytes.next(), bytes.next()) {
            (Some(a), None, _) => Outside::One(a),
            (Some(a), Some(b), None) => Outside::Two(a, b),
            (Some(a), Some(b), Some(c)) => Outside::Three(a, b, c),
            (None, ..) => return None,
        };
        bytes.next().is_none().then_some(outside)
    }

    /// Returns the position of the first of the bytes in `text`.
    #[inline]
    fn find(self, text: &[u8]) -> Option<usize> {
        match self {
            Outside::One(a) => memchr::memchr(a, text),
            Outside::Two(a, b) => memchr::memchr2(a, b, text),
            Outside::Three(a, b, c) => memchr::memchr3(a, b, c, text),
        }
    }
}

impl Run {
    /// Creates a run of `min` to `max` bytes of `class`.
    fn new(class: Box<[bool; 256]>, min: u32, max: Option<u32>) -> Run {
        Run {
            outside: Outside::of(&class),
            class,
            min,
            max: max.unwrap_or(u32::MAX),
        }
    }

    /// Returns where the run that starts at `at` ends, or `None` if fewer than `min` bytes
    /// of the class follow.
    #[inline]
    fn end(&self, text: &[u8], at: usize) -> Option<usize> {
        let rest = &text[at..];
        let limit = rest.len().min(self.max as usize);
        let length = match self.outside {
            Some(outside) => outside.find(&rest[..limit]),
            None => {
                let class: &[bool; 256] = &self.class;
                rest[..limit]
                    .iter()
                    .position(|&byte| !class[usize::from(byte)])
            }
        };
        let length = length.unwrap_or(limit);
        (length >= self.min as usize).then_some(at + length)
    }

    /// Returns whether the run always takes the same number of bytes.
    fn is_fixed(&self) -> bool {
        self.min == self.max
    }
}

impl Splitter {
    /// Returns a splitter for `regex` when its shape allows, or `None` for a regex whose
    /// groups need the regex engine's own search. The regex must start with `^`. After it come
    /// fixed text, byte classes with a repetition, and alternatives or optional chains of
    /// those two, in groups that may nest. A class of variable length must be followed by
    /// something that cannot start with a byte of the class. Alternatives must be followed by
    /// fixed text whose first byte they cannot contain. The regex ends with `$` or with a part
    /// that always takes the same number of bytes.
    ///
    /// The regex must have been built with Unicode mode off and the builder's other options at
    /// their defaults, as rule files build theirs, because its text is parsed again here.
    pub fn new(regex: &Regex) -> Option<Splitter> {
        let hir = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(regex.as_str())
            .ok()?;
        let HirKind::Concat(parts) = hir.kind() else {
            return None;
        };
        let (first, rest) = parts.split_first()?;
        if *first.kind() != HirKind::Look(Look::Start) {
            return None;
        }
        let (last, middle) = rest.split_last()?;
        let (middle, to_line_end) = match last.kind() {
            HirKind::Look(Look::End) => (middle, true),
            _ => (rest, false),
        };
        let steps = top_steps(middle, to_line_end)?;
        Some(Splitter { steps, to_line_end })
    }

    /// Matches `line` and writes the bounds of every group into `spans`, indexed by group.
    /// Returns whether the line matches. A line that does not match leaves `spans` partly
    /// written. Every group has a step of its own or an open and close pair, so a match
    /// writes every group.
    pub fn split(&self, line: &[u8], spans: &mut [Option<(usize, usize)>]) -> bool {
        let mut at = 0;
        for step in &self.steps {
            let end = match &step.part {
                Part::Piece(piece) => piece_end(piece, line, at),
                Part::Choice { alternatives, end } => choice_end(alternatives, *end, line, at),
                Part::Open(group) => {
                    spans[*group] = Some((at, at));
                    continue;
                }
                Part::Close(group) => {
                    if let Some((start, _)) = spans[*group] {
                        spans[*group] = Some((start, at));
                    }
                    continue;
                }
            };
            let Some(end) = end else {
                return false;
            };
            if let Some(group) = step.group {
                spans[group] = Some((at, end));
            }
            at = end;
        }
        if self.to_line_end && at != line.len() {
            return false;
        }
        spans[0] = Some((0, at));
        true
    }
}

/// Returns where `piece`, starting at `at`, ends in `text`, or `None` if it does not match
/// there.
#[inline(always)]
fn piece_end(piece: &Piece, text: &[u8], at: usize) -> Option<usize> {
    match piece {
        Piece::Text(fixed) => {
            let end = at + fixed.len();
            // Fixed text is short, so a plain loop beats a call to `memcmp`.
            let same = text
                .get(at..end)?
                .iter()
                .zip(fixed.iter())
                .all(|(byte, expected)| byte == expected);
            same.then_some(end)
        }
        Piece::Run(run) => run.end(text, at),
    }
}

/// Returns where a choice starting at `at` ends. That is the end of the first chain that
/// matches there and is followed by the choice's end byte, or by the end of the line.
///
/// The chains take their runs greedily, and that finds the only possible end. No chain can
/// contain the end byte, so a chain's text in any match stops at the first end byte, and a
/// run before fixed text stops at the first byte outside its class, as the text must start
/// there.
fn choice_end(
    alternatives: &[Vec<Piece>],
    end: Option<u8>,
    text: &[u8],
    at: usize,
) -> Option<usize> {
    alternatives.iter().find_map(|chain| {
        let stop = chain
            .iter()
            .try_fold(at, |at, piece| piece_end(piece, text, at))?;
        let ends_here = match end {
            Some(byte) => text.get(stop) == Some(&byte),
            None => stop == text.len(),
        };
        ends_here.then_some(stop)
    })
}

/// A part of the regex in the order the walk meets it, with groups of several parts opened
/// and closed around them.
enum Item<'h> {
    Open(usize),
    Close(usize),
    /// One part, captured as a whole when `group` is set.
    Part {
        hir: &'h Hir,
        group: Option<usize>,
    },
}

/// Lists the items of `hir` in walking order.
fn flatten<'h>(hir: &'h Hir, items: &mut Vec<Item<'h>>) {
    match hir.kind() {
        HirKind::Empty => {}
        HirKind::Concat(parts) => parts.iter().for_each(|part| flatten(part, items)),
        HirKind::Capture(capture) => {
            let group = capture.index as usize;
            let inner = &*capture.sub;
            if inner.properties().explicit_captures_len() == 0 {
                items.push(Item::Part {
                    hir: inner,
                    group: Some(group),
                });
            } else {
                items.push(Item::Open(group));
                flatten(inner, items);
                items.push(Item::Close(group));
            }
        }
        _ => items.push(Item::Part { hir, group: None }),
    }
}

/// Turns the parts of the regex between `^` and its end into steps, or returns `None` when
/// their shape does not allow the walk.
fn top_steps(parts: &[Hir], to_line_end: bool) -> Option<Vec<Step>> {
    let mut items = Vec::new();
    parts.iter().for_each(|part| flatten(part, &mut items));
    let mut steps = Vec::with_capacity(items.len());
    let mut index = 0;
    while index < items.len() {
        let rest = &items[index + 1..];
        let step = match items[index] {
            Item::Open(group) => Step {
                part: Part::Open(group),
                group: None,
            },
            Item::Close(group) => Step {
                part: Part::Close(group),
                group: None,
            },
            Item::Part { hir, group } => {
                if hir.properties().explicit_captures_len() > 0 {
                    return None;
                }
                let part = if let Some(piece) = simple_piece(hir) {
                    if !is_bounded(&piece, rest, to_line_end) {
                        return None;
                    }
                    Part::Piece(piece)
                } else if let Some(part) = choice(hir, rest, to_line_end) {
                    part
                } else if let (HirKind::Concat(_), Some(group)) = (hir.kind(), group) {
                    // A captured chain that what follows does not end as a whole may still be
                    // walked part by part.
                    let mut parts = vec![Item::Open(group)];
                    flatten(hir, &mut parts);
                    parts.push(Item::Close(group));
                    items.splice(index..=index, parts);
                    continue;
                } else {
                    return None;
                };
                Step { part, group }
            }
        };
        steps.push(step);
        index += 1;
    }
    Some(steps)
}

/// Returns fixed text or a run for a part that is one of those, and `None` for others.
fn simple_piece(hir: &Hir) -> Option<Piece> {
    match hir.kind() {
        HirKind::Literal(literal) => Some(Piece::Text(literal.0.clone())),
        HirKind::Class(_) => Some(Piece::Run(Run::new(byte_class(hir)?, 1, Some(1)))),
        HirKind::Repetition(repetition) => Some(Piece::Run(Run::new(
            byte_class(&repetition.sub)?,
            repetition.min,
            repetition.max,
        ))),
        _ => None,
    }
}

/// Returns a choice for a part that is a chain, alternatives of chains, or an optional chain
/// of fixed text and runs, ending before the fixed text that follows it or at the end of the
/// line.
fn choice(hir: &Hir, rest: &[Item], to_line_end: bool) -> Option<Part> {
    let next = rest.iter().find_map(|item| match item {
        Item::Part { hir, .. } => Some(*hir),
        Item::Open(_) | Item::Close(_) => None,
    });
    let end = match next.map(Hir::kind) {
        Some(HirKind::Literal(literal)) => Some(literal.0[0]),
        None if to_line_end => None,
        _ => return None,
    };
    let (branches, optional) = match hir.kind() {
        HirKind::Alternation(branches) => (branches.as_slice(), false),
        HirKind::Repetition(repetition) if (repetition.min, repetition.max) == (0, Some(1)) => {
            (std::slice::from_ref(&*repetition.sub), true)
        }
        _ => (std::slice::from_ref(hir), false),
    };
    let mut alternatives = branches
        .iter()
        .map(chain_pieces)
        .collect::<Option<Vec<_>>>()?;
    if optional {
        alternatives.push(Vec::new());
    }
    if let Some(byte) = end
        && may_contain(hir, byte)
    {
        return None;
    }
    Some(Part::Choice { alternatives, end })
}

/// Returns the pieces of one alternative, or `None` when a run of variable length in it
/// could run into what follows it.
fn chain_pieces(hir: &Hir) -> Option<Vec<Piece>> {
    let parts = match hir.kind() {
        HirKind::Concat(parts) => parts.as_slice(),
        _ => std::slice::from_ref(hir),
    };
    let pieces = parts
        .iter()
        .filter(|part| !matches!(part.kind(), HirKind::Empty))
        .map(simple_piece)
        .collect::<Option<Vec<_>>>()?;
    for (index, piece) in pieces.iter().enumerate() {
        if let Piece::Run(run) = piece
            && !run.is_fixed()
        {
            match pieces.get(index + 1) {
                None => {}
                Some(Piece::Text(text)) if !run.class[usize::from(text[0])] => {}
                Some(_) => return None,
            }
        }
    }
    Some(pieces)
}

/// Returns whether a top-level piece of variable length ends where any match must end it.
/// That is so when no byte that can start what follows is in its class, and something must
/// follow unless the regex ends with `$`.
fn is_bounded(piece: &Piece, rest: &[Item], to_line_end: bool) -> bool {
    let Piece::Run(run) = piece else {
        return true;
    };
    if run.is_fixed() {
        return true;
    }
    let mut next = [false; 256];
    let may_be_empty = rest.iter().all(|item| match item {
        Item::Part { hir, .. } => first_bytes(hir, &mut next),
        Item::Open(_) | Item::Close(_) => true,
    });
    let overlap = (0..256).any(|byte| next[byte] && run.class[byte]);
    !overlap && (to_line_end || !may_be_empty)
}

/// Adds the bytes that can start a match of `hir` to `set`, and returns whether `hir` can
/// match the empty text.
fn first_bytes(hir: &Hir, set: &mut [bool; 256]) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => true,
        HirKind::Literal(literal) => {
            set[usize::from(literal.0[0])] = true;
            false
        }
        HirKind::Class(_) => {
            for (byte, slot) in set.iter_mut().enumerate() {
                *slot |= may_contain(hir, byte as u8);
            }
            false
        }
        HirKind::Repetition(repetition) => first_bytes(&repetition.sub, set) || repetition.min == 0,
        HirKind::Capture(capture) => first_bytes(&capture.sub, set),
        HirKind::Concat(parts) => parts.iter().all(|part| first_bytes(part, set)),
        HirKind::Alternation(parts) => {
            // Every alternative adds its first bytes, so none may be skipped.
            let mut may_be_empty = false;
            for part in parts {
                may_be_empty |= first_bytes(part, set);
            }
            may_be_empty
        }
    }
}

/// Returns the bytes a class or a one-byte literal matches, or `None` for anything else,
/// including a Unicode class with characters beyond ASCII, which take several bytes.
fn byte_class(hir: &Hir) -> Option<Box<[bool; 256]>> {
    let mut class = Box::new([false; 256]);
    match hir.kind() {
        HirKind::Literal(literal) if literal.0.len() == 1 => {
            class[usize::from(literal.0[0])] = true
        }
        HirKind::Class(Class::Bytes(bytes)) => {
            for range in bytes.ranges() {
                for byte in range.start()..=range.end() {
                    class[usize::from(byte)] = true;
                }
            }
        }
        HirKind::Class(Class::Unicode(unicode)) => {
            for range in unicode.ranges() {
                let (start, end) = (
                    u8::try_from(range.start()).ok()?,
                    u8::try_from(range.end()).ok()?,
                );
                if end >= 0x80 {
                    return None;
                }
                for byte in start..=end {
                    class[usize::from(byte)] = true;
                }
            }
        }
        _ => return None,
    }
    Some(class)
}

/// Returns whether any text that `hir` matches could contain `byte`.
fn may_contain(hir: &Hir, byte: u8) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(literal) => literal.0.contains(&byte),
        HirKind::Class(Class::Bytes(class)) => class
            .ranges()
            .iter()
            .any(|range| (range.start()..=range.end()).contains(&byte)),
        // In UTF-8, a character above U+007F is written with bytes 0x80 to 0xFF only.
        HirKind::Class(Class::Unicode(class)) => class.ranges().iter().any(|range| {
            let (start, end) = (u32::from(range.start()), u32::from(range.end()));
            (start..=end).contains(&u32::from(byte)) || (byte >= 0x80 && end >= 0x80)
        }),
        HirKind::Repetition(repetition) => may_contain(&repetition.sub, byte),
        HirKind::Capture(capture) => may_contain(&capture.sub, byte),
        HirKind::Concat(parts) | HirKind::Alternation(parts) => {
            parts.iter().any(|part| may_contain(part, byte))
        }
    }
}

/// The bounds of each capture group of a regex in the last line the regex matched.
#[derive(Debug, Clone)]
pub struct GroupSpans {
    /// The regex engine's own record, for regexes without a splitter.
    locations: CaptureLocations,
    /// The bounds of each group, by group index.
    spans: Vec<Option<(usize, usize)>>,
}

impl GroupSpans {
    /// Creates room for the groups of `regex`.
    pub fn new(regex: &Regex) -> GroupSpans {
        GroupSpans {
            locations: regex.capture_locations(),
            spans: vec![None; regex.captures_len()],
        }
    }

    /// Matches `regex` against `line`, with `splitter` when it has one, and records where its
    /// groups lie. Returns whether the regex matched.
    pub fn read(&mut self, regex: &Regex, splitter: Option<&Splitter>, line: &[u8]) -> bool {
        if let Some(splitter) = splitter {
            return splitter.split(line, &mut self.spans);
        }
        if regex.captures_read(&mut self.locations, line).is_none() {
            return false;
        }
        for (group, span) in self.spans.iter_mut().enumerate() {
            *span = self.locations.get(group);
        }
        true
    }

    /// Returns the bounds of a group in the last matched line, or `None` if it did not take
    /// part in the match.
    #[inline]
    pub fn get(&self, group: usize) -> Option<(usize, usize)> {
        self.spans.get(group).copied().flatten()
    }
}

#[cfg(test)]
mod tests {
    use regex::bytes::RegexBuilder;

    use super::*;

    fn regex(text: &str) -> Regex {
        RegexBuilder::new(text).unicode(false).build().unwrap()
    }

    /// Returns each group's text as the splitter and as the regex engine find it.
    fn both_ways(text: &str, line: &str) -> (Vec<Option<String>>, Vec<Option<String>>) {
        let regex = regex(text);
        let splitter = Splitter::new(&regex).expect("the regex can be split");
        let mut split = GroupSpans::new(&regex);
        let mut searched = GroupSpans::new(&regex);
        assert!(split.read(&regex, Some(&splitter), line.as_bytes()));
        assert!(searched.read(&regex, None, line.as_bytes()));
        let texts = |spans: &GroupSpans| {
            (0..regex.captures_len())
                .map(|group| {
                    spans
                        .get(group)
                        .map(|(start, end)| line[start..end].to_string())
                })
                .collect()
        };
        (texts(&split), texts(&searched))
    }

    #[test]
    fn split_chain_of_fields() {
        let text = concat!(
            r#"^\[(?P<time>[0-9:]+)\] "(?P<method>[A-Z]+) (?P<path>[^ "]*)" "#,
            r#"(?P<code>[0-9]{3}|-) [^ ]+ "(?P<agent>[^"]*)"$"#,
        );
        let (split, searched) =
            both_ways(text, r#"[10:00:01] "GET /a/b" 200 x-y "curl/8.0 (linux)""#);

        assert_eq!(split, searched);
        assert_eq!(
            split,
            [
                Some(r#"[10:00:01] "GET /a/b" 200 x-y "curl/8.0 (linux)""#),
                Some("10:00:01"),
                Some("GET"),
                Some("/a/b"),
                Some("200"),
                Some("curl/8.0 (linux)"),
            ]
            .map(|text| text.map(String::from))
        );
    }

    #[test]
    fn split_empty_fields_short_match() {
        let text = r"^(?P<a>[a-z]*),(?P<b>[0-9]*);";
        let (split, searched) = both_ways(text, ",12;rest");

        assert_eq!(split, searched);
        assert_eq!(
            split,
            [Some(",12;"), Some(""), Some("12")].map(|text| text.map(String::from))
        );
    }

    #[test]
    fn split_rejects_mismatched_lines() {
        let regex = regex(r"^(?P<a>[a-z]+) (?P<b>[0-9]+)$");
        let splitter = Splitter::new(&regex).unwrap();
        let mut spans = GroupSpans::new(&regex);

        assert!(!spans.read(&regex, Some(&splitter), b"abc 12x"));
        assert!(!spans.read(&regex, Some(&splitter), b"abc 12 "));
        assert!(!spans.read(&regex, Some(&splitter), b"abc"));
        assert!(spans.read(&regex, Some(&splitter), b"abc 12"));
    }

    #[test]
    fn split_declines_unforced_shapes() {
        for text in [
            // A field that may contain the space that ends it.
            r"^(?P<a>.*) (?P<b>[0-9]+)$",
            // A lazy field may contain it too.
            r"^(?P<a>.*?) (?P<b>[0-9]+)$",
            // Two fields in a row that share bytes.
            r"^(?P<a>[a-z0-9]+)(?P<b>[0-9]+)$",
            // A field that what follows may leave last, without `$`.
            r"^(?P<a>[a-z]+)(?P<b>[0-9]*)",
            // A last field without `$`.
            r"^(?P<a>[a-z]+) (?P<b>[0-9]+)",
            // No `^`.
            r"(?P<a>[a-z]+) (?P<b>[0-9]+)$",
            // A group inside alternatives.
            r"^(?:(?P<a>[a-z]+)|-) [0-9]+$",
            // Non-ASCII characters may contain any byte from 0x80 up.
            r"(?u)^(?P<a>[^ ]+)\xE9(?P<b>[0-9]+)$",
            // Multi-line anchors.
            r"(?m)^(?P<a>[a-z]+) (?P<b>[0-9]+)$",
        ] {
            assert!(Splitter::new(&regex(text)).is_none(), "{text}");
        }
    }

    #[test]
    fn split_alternatives_and_unnamed_fields() {
        let text = r"^(?P<proto>HTTP/[0-9.]+|-) [0-9]+ (?:[a-z]+|-) (?P<code>[0-9]{1,3})$";
        let (split, searched) = both_ways(text, "HTTP/1.1 17 abc 404");

        assert_eq!(split, searched);
        assert_eq!(split[1].as_deref(), Some("HTTP/1.1"));
        assert_eq!(split[2].as_deref(), Some("404"));
    }

    /// Mutates `line` at random: replaces, inserts or removes a few bytes from `alphabet`.
    fn mutate(line: &[u8], alphabet: &[u8], random: &mut impl FnMut() -> usize) -> Vec<u8> {
        let mut line = line.to_vec();
        for _ in 0..1 + random() % 3 {
            let at = random() % (line.len() + 1);
            let byte = alphabet[random() % alphabet.len()];
            match random() % 3 {
                0 if at < line.len() => line[at] = byte,
                1 => line.insert(at, byte),
                _ if at < line.len() => {
                    line.remove(at);
                }
                _ => line.push(byte),
            }
        }
        line
    }

    #[test]
    fn split_agrees_on_mutated_lines() {
        let cases: [(&str, &str); 9] = [
            (
                concat!(
                    r#"(?-u)^\[(?P<time>[0-9]{4}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z)\] "#,
                    r#""(?P<method>[A-Z]+) (?P<path>[^ "]*) (?P<proto>HTTP/[0-9.]+|-)" "#,
                    r#"(?P<code>[0-9]{1,3}|-) (?P<flags>[^ ]+) (?P<bytes>[0-9]+|-) "#,
                    r#""(?P<agent>[^"]*)" "(?P<host>[!#-~]*)"$"#,
                ),
                concat!(
                    r#"[2024-12T10:00:01.123Z] "GET /a/b HTTP/1.1" 200 - 1234 "#,
                    r#""curl/8.0 (x)" "example.com:80""#,
                ),
            ),
            (
                concat!(
                    r"^(?P<ip>[0-9.]+) - (?P<user>[^ ]+) \[(?P<time>[^\]]+)\] ",
                    r"(?P<ms>[0-9]+\.[0-9]+|[0-9]+|-)$",
                ),
                "10.0.0.1 - bob [04/Dec/2024:10:00:01 +0000] 12.5",
            ),
            (
                r"^(?P<a>[a-z]{2,4}),(?P<b>x[0-9]*|y|);(?P<c>[0-9]{2}):",
                "abc,x12;07:tail",
            ),
            (r"^(?i)get (?P<n>[0-9]+)$", "GeT 42"),
            (
                concat!(
                    r#"(?-u)^(?P<addr>[^ ]+) - (?P<user>[^ ]*) "#,
                    r#"\[(?P<time>[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4})\] "#,
                    r#""(?P<request>(?P<method>[A-Z_-]*)(?:[^A-Z_"-][^"]*)?)" "#,
                    r#"(?P<status>[0-9]{3})$"#,
                ),
                r#"10.1.2.3 - - [04/Dec/2024] "GET /a?b=c HTTP/1.1" 200"#,
            ),
            (
                r"^(?P<outer>(?P<a>[a-z]+)-(?P<b>[0-9]*))(?P<c>x?)$",
                "abc-12x",
            ),
            (r"^(?P<a>[a-z]+)(?P<b>[0-9]+);(?P<c>[a-z]*)$", "abc123;xyz"),
            (r"^(?P<x>[a-z]+-[0-9]*)(?P<c>x?)$", "ab-12x"),
            (
                r"^(?P<a>[^,]*),(?:[0-9]+|[a-z]+),(?P<b>.*)$",
                "one,abc,two,three",
            ),
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as usize
        };
        for (text, sample) in cases {
            let regex = regex(text);
            let splitter = Splitter::new(&regex).unwrap_or_else(|| panic!("{text} can be split"));
            let alphabet: Vec<u8> = sample.bytes().chain(*b" -\"]xZ9\xff").collect();
            let mut split = GroupSpans::new(&regex);
            let mut searched = GroupSpans::new(&regex);
            let mut matched = 0;
            for round in 0..20_000 {
                let line = match round {
                    0 => sample.as_bytes().to_vec(),
                    _ => mutate(sample.as_bytes(), &alphabet, &mut random),
                };
                let found = split.read(&regex, Some(&splitter), &line);
                assert_eq!(
                    found,
                    searched.read(&regex, None, &line),
                    "{text} on {line:?}"
                );
                if found {
                    matched += 1;
                    for group in 0..regex.captures_len() {
                        assert_eq!(split.get(group), searched.get(group), "{text} on {line:?}");
                    }
                }
            }
            assert!(
                matched > 100,
                "{text}: only {matched} mutated lines matched"
            );
        }
    }

    /// Lists, per shipped rule file, whether each `[parse]` regex is walked.
    fn walked_patterns(file: &str) -> Vec<bool> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("rules")
            .join(file);
        let rules = crate::rules::RuleSet::load(&[path]).expect("shipped rules load");
        rules.files[0]
            .patterns
            .iter()
            .filter_map(|pattern| match pattern {
                crate::rules::Pattern::Regex { splitter, .. } => Some(splitter.is_some()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn split_shipped_strict_patterns() {
        let walked: Vec<(&str, Vec<bool>)> = [
            "envoy.toml",
            "envoy-grpc.toml",
            "istio.toml",
            "nginx.toml",
            "nginx-timed.toml",
            "apache.toml",
            "haproxy.toml",
        ]
        .into_iter()
        .map(|file| (file, walked_patterns(file)))
        .collect();

        let expected = [
            ("envoy.toml", vec![true, false]),
            // Its path is either a gRPC method with groups of its own or any path.
            ("envoy-grpc.toml", vec![false, false]),
            ("istio.toml", vec![true, false]),
            ("nginx.toml", vec![true, false]),
            ("nginx-timed.toml", vec![true, false]),
            // Quoted fields with backslash escapes repeat an alternation.
            ("apache.toml", vec![false]),
            // A syslog prefix of any length starts the line.
            ("haproxy.toml", vec![false]),
        ];
        assert_eq!(walked, expected);
    }
}
