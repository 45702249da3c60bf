//! Field extraction for structured lines: JSON objects and logfmt (`key=value key="v a l"`).
//!
//! Only the fields some metric uses are kept. A value is recorded as a span of the line when
//! it can be used as written, or of a scratch buffer when it had to be unescaped, so a line
//! without escapes allocates nothing. Nested JSON keys are joined with dots (`upstream.host`);
//! `null` and arrays give no value.

/// The location of a field's value: in the line, or in the scratch buffer after unescaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Line(usize, usize),
    Scratch(usize, usize),
}

/// Parsed values of the wanted fields, reused from line to line.
#[derive(Debug, Default)]
pub struct Values {
    pub spans: Vec<Option<Span>>,
    pub scratch: Vec<u8>,
}

impl Values {
    fn reset(&mut self, fields: usize) {
        self.spans.clear();
        self.spans.resize(fields, None);
        self.scratch.clear();
    }

    fn set(&mut self, fields: &[String], key: &[u8], span: Span) {
        if let Some(index) = fields.iter().position(|field| field.as_bytes() == key) {
            self.spans[index] = Some(span);
        }
    }

    /// Returns the bytes of a span.
    pub fn bytes<'a>(&'a self, line: &'a [u8], span: Span) -> &'a [u8] {
        match span {
            Span::Line(start, end) => &line[start..end],
            Span::Scratch(start, end) => &self.scratch[start..end],
        }
    }
}

/// Parses a JSON object, keeping the values of `fields`. Returns false when the line is not a
/// JSON object.
pub fn parse_json(line: &[u8], fields: &[String], values: &mut Values) -> bool {
    values.reset(fields.len());
    let mut parser = Json {
        line,
        position: 0,
        key: Vec::new(),
        depth: 0,
    };
    parser.skip_space();
    if parser.peek() != Some(b'{') {
        return false;
    }
    let parsed = parser.object(fields, values).is_some();
    parser.skip_space();
    parsed && parser.position == line.len()
}

/// Deepest nesting of JSON objects read. The object reader calls itself per level, so a line
/// of ten thousand `{"a":` could overflow the stack. Deeper lines do not parse.
const MAX_JSON_DEPTH: usize = 64;

struct Json<'a> {
    line: &'a [u8],
    position: usize,
    /// The dotted path of the current key.
    key: Vec<u8>,
    /// Objects open at the current position.
    depth: usize,
}

impl Json<'_> {
    fn peek(&self) -> Option<u8> {
        self.line.get(self.position).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.position += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_space();
        (self.peek() == Some(byte)).then(|| self.position += 1)
    }

    /// Reads `{ "key": value, ... }`, keeping wanted values, unless it is nested deeper than
    /// [`MAX_JSON_DEPTH`].
    fn object(&mut self, fields: &[String], values: &mut Values) -> Option<()> {
        if self.depth == MAX_JSON_DEPTH {
            return None;
        }
        self.depth += 1;
        let read = self.members(fields, values);
        self.depth -= 1;
        read
    }

    fn members(&mut self, fields: &[String], values: &mut Values) -> Option<()> {
        self.expect(b'{')?;
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.position += 1;
            return Some(());
        }
        loop {
            self.skip_space();
            let outer_length = self.key.len();
            let name = self.string(values)?;
            if outer_length > 0 {
                self.key.push(b'.');
            }
            let name = values.bytes(self.line, name).to_vec();
            self.key.extend_from_slice(&name);
            self.expect(b':')?;
            self.value(fields, values)?;
            self.key.truncate(outer_length);
            self.skip_space();
            match self.peek()? {
                b',' => self.position += 1,
                b'}' => {
                    self.position += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn value(&mut self, fields: &[String], values: &mut Values) -> Option<()> {
        self.skip_space();
        match self.peek()? {
            b'{' => self.object(fields, values),
            b'[' => self.skip_array(),
            b'"' => {
                let span = self.string(values)?;
                self.keep(fields, values, span);
                Some(())
            }
            b'n' => self.literal(b"null"),
            b't' => self.scalar(fields, values, b"true"),
            b'f' => self.scalar(fields, values, b"false"),
            _ => {
                let start = self.position;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.position += 1;
                }
                if self.position == start {
                    return None;
                }
                self.keep(fields, values, Span::Line(start, self.position));
                Some(())
            }
        }
    }

    /// Reads `true` or `false` and keeps it as a value.
    fn scalar(&mut self, fields: &[String], values: &mut Values, text: &[u8]) -> Option<()> {
        let start = self.position;
        self.literal(text)?;
        self.keep(fields, values, Span::Line(start, self.position));
        Some(())
    }

    /// Keeps a value under the current key, if a field wants it.
    fn keep(&mut self, fields: &[String], values: &mut Values, span: Span) {
        values.set(fields, &self.key, span);
    }

    fn literal(&mut self, text: &[u8]) -> Option<()> {
        let end = self.position + text.len();
        (self.line.get(self.position..end)? == text).then(|| self.position = end)
    }

    fn skip_array(&mut self) -> Option<()> {
        let mut depth = 0usize;
        while let Some(byte) = self.peek() {
            match byte {
                b'"' => {
                    let mut scratch = Values::default();
                    self.string(&mut scratch)?;
                    continue;
                }
                b'[' | b'{' => depth += 1,
                b']' | b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        self.position += 1;
                        return Some(());
                    }
                }
                _ => {}
            }
            self.position += 1;
        }
        None
    }

    /// Reads a string; unescapes into the scratch buffer only when it has escapes.
    fn string(&mut self, values: &mut Values) -> Option<Span> {
        self.skip_space();
        if self.peek() != Some(b'"') {
            return None;
        }
        let start = self.position + 1;
        let mut end = start;
        while let Some(&byte) = self.line.get(end) {
            match byte {
                b'"' => {
                    self.position = end + 1;
                    return Some(Span::Line(start, end));
                }
                b'\\' => return self.escaped_string(start, values),
                _ => end += 1,
            }
        }
        None
    }

    /// Reads the hex digits of a `\u` escape starting at `index`, and of a second escape that
    /// completes a surrogate pair, as JSON writes characters outside the Basic Multilingual
    /// Plane (`\ud83d\ude00`). Returns the character and the bytes read; a lone surrogate
    /// half gives U+FFFD.
    fn unicode_escape(&self, index: usize) -> Option<(char, usize)> {
        let hex_at = |at: usize| {
            let hex = std::str::from_utf8(self.line.get(at..at + 4)?).ok()?;
            u32::from_str_radix(hex, 16).ok()
        };
        let code = hex_at(index)?;
        if (0xD800..0xDC00).contains(&code)
            && self.line.get(index + 4..index + 6) == Some(b"\\u")
            && let Some(low) = hex_at(index + 6).filter(|low| (0xDC00..0xE000).contains(low))
        {
            let combined = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            return Some((char::from_u32(combined).unwrap_or('\u{FFFD}'), 10));
        }
        Some((char::from_u32(code).unwrap_or('\u{FFFD}'), 4))
    }

    fn escaped_string(&mut self, start: usize, values: &mut Values) -> Option<Span> {
        let scratch_start = values.scratch.len();
        let mut index = start;
        loop {
            let byte = *self.line.get(index)?;
            index += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let escaped = *self.line.get(index)?;
                    index += 1;
                    match escaped {
                        b'n' => values.scratch.push(b'\n'),
                        b't' => values.scratch.push(b'\t'),
                        b'r' => values.scratch.push(b'\r'),
                        b'b' => values.scratch.push(0x08),
                        b'f' => values.scratch.push(0x0c),
                        b'u' => {
                            let (c, length) = self.unicode_escape(index)?;
                            index += length;
                            values
                                .scratch
                                .extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                        }
                        other => values.scratch.push(other),
                    }
                }
                other => values.scratch.push(other),
            }
        }
        self.position = index;
        Some(Span::Scratch(scratch_start, values.scratch.len()))
    }
}

/// Parses a logfmt line (`key=value`, `key="quoted value"`, bare `key`), keeping the values of
/// `fields`. Returns false when the line has no `key=value` pair.
pub fn parse_logfmt(line: &[u8], fields: &[String], values: &mut Values) -> bool {
    values.reset(fields.len());
    let mut position = 0;
    let mut pairs = 0;
    while position < line.len() {
        while line.get(position) == Some(&b' ') {
            position += 1;
        }
        let key_start = position;
        while let Some(&byte) = line.get(position) {
            if byte == b'=' || byte == b' ' {
                break;
            }
            position += 1;
        }
        let key = &line[key_start..position];
        if line.get(position) != Some(&b'=') {
            continue;
        }
        position += 1;
        let span = if line.get(position) == Some(&b'"') {
            let Some((span, next)) = logfmt_quoted(line, position + 1, values) else {
                return false;
            };
            position = next;
            span
        } else {
            let start = position;
            while line.get(position).is_some_and(|byte| *byte != b' ') {
                position += 1;
            }
            Span::Line(start, position)
        };
        if !key.is_empty() {
            pairs += 1;
            values.set(fields, key, span);
        }
    }
    pairs > 0
}

/// Reads a quoted logfmt value starting after its opening quote.
fn logfmt_quoted(line: &[u8], start: usize, values: &mut Values) -> Option<(Span, usize)> {
    let mut index = start;
    let mut escaped = false;
    while let Some(&byte) = line.get(index) {
        match byte {
            b'\\' => {
                escaped = true;
                index += 2;
            }
            b'"' => {
                if !escaped {
                    return Some((Span::Line(start, index), index + 1));
                }
                let scratch_start = values.scratch.len();
                let mut bytes = line[start..index].iter();
                while let Some(&byte) = bytes.next() {
                    match (byte, bytes.as_slice().first()) {
                        (b'\\', Some(b'n')) => {
                            values.scratch.push(b'\n');
                            bytes.next();
                        }
                        (b'\\', Some(&next)) => {
                            values.scratch.push(next);
                            bytes.next();
                        }
                        (other, _) => values.scratch.push(other),
                    }
                }
                return Some((
                    Span::Scratch(scratch_start, values.scratch.len()),
                    index + 1,
                ));
            }
            _ => index += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    fn get(line: &[u8], values: &Values, index: usize) -> Option<String> {
        values.spans[index]
            .map(|span| String::from_utf8_lossy(values.bytes(line, span)).into_owned())
    }

    #[test]
    fn json_fields_and_nesting() {
        let line = br#"{"status":200,"request_time":0.010,"ua":"Tricky \"quoted\" agent","upstream":{"host":"10.0.0.1:80","ok":true},"tags":["a","b"],"gone":null}"#;
        let names = fields(&[
            "status",
            "request_time",
            "ua",
            "upstream.host",
            "upstream.ok",
            "tags",
            "gone",
        ]);
        let mut values = Values::default();
        assert!(parse_json(line, &names, &mut values));
        assert_eq!(get(line, &values, 0).as_deref(), Some("200"));
        assert_eq!(get(line, &values, 1).as_deref(), Some("0.010"));
        assert_eq!(
            get(line, &values, 2).as_deref(),
            Some("Tricky \"quoted\" agent")
        );
        assert_eq!(get(line, &values, 3).as_deref(), Some("10.0.0.1:80"));
        assert_eq!(get(line, &values, 4).as_deref(), Some("true"));
        assert_eq!(get(line, &values, 5), None);
        assert_eq!(get(line, &values, 6), None);
    }

    #[test]
    fn deep_nesting_does_not_parse() {
        let names = fields(&["a"]);
        let mut values = Values::default();
        let nested = |depth: usize| format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        assert!(parse_json(
            nested(MAX_JSON_DEPTH).as_bytes(),
            &names,
            &mut values
        ));
        assert!(!parse_json(
            nested(MAX_JSON_DEPTH + 1).as_bytes(),
            &names,
            &mut values
        ));
        assert!(!parse_json(nested(100_000).as_bytes(), &names, &mut values));
    }

    #[test]
    fn json_surrogate_pairs_combine() {
        let line = br#"{"a":"x\ud83d\ude00y","b":"\ud83dz"}"#;
        let names = fields(&["a", "b"]);
        let mut values = Values::default();
        assert!(parse_json(line, &names, &mut values));
        assert_eq!(get(line, &values, 0).as_deref(), Some("x\u{1F600}y"));
        assert_eq!(get(line, &values, 1).as_deref(), Some("\u{FFFD}z"));
    }

    #[test]
    fn json_escapes_and_unicode() {
        let line = br#"{"path":"/caf\u00e9\n","plain":"x"}"#;
        let names = fields(&["path", "plain"]);
        let mut values = Values::default();
        assert!(parse_json(line, &names, &mut values));
        assert_eq!(get(line, &values, 0).as_deref(), Some("/café\n"));
        assert_eq!(
            values.spans[1],
            Some(Span::Line(32, 33)),
            "an unescaped value stays in the line"
        );
    }

    #[test]
    fn json_rejects_non_objects() {
        let names = fields(&["a"]);
        let mut values = Values::default();
        for line in [
            &b"not json"[..],
            b"[1,2]",
            b"{\"a\":1",
            b"{\"a\":1} trailing",
            b"",
            b"{\"a\" 1}",
        ] {
            assert!(
                !parse_json(line, &names, &mut values),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn logfmt_pairs() {
        let line = br#"ts=2024-10-10T13:55:30Z status=200 path=/x ua="curl 8.5" msg="say \"hi\"" flag empty="#;
        let names = fields(&["status", "path", "ua", "msg", "flag", "empty"]);
        let mut values = Values::default();
        assert!(parse_logfmt(line, &names, &mut values));
        assert_eq!(get(line, &values, 0).as_deref(), Some("200"));
        assert_eq!(get(line, &values, 1).as_deref(), Some("/x"));
        assert_eq!(get(line, &values, 2).as_deref(), Some("curl 8.5"));
        assert_eq!(get(line, &values, 3).as_deref(), Some("say \"hi\""));
        assert_eq!(get(line, &values, 4), None);
        assert_eq!(get(line, &values, 5).as_deref(), Some(""));
        assert!(!parse_logfmt(b"no pairs here", &names, &mut values));
        assert!(!parse_logfmt(b"a=\"unterminated", &names, &mut values));
    }
}
