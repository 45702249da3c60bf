//! Envoy access-log format strings split into literal text and command operators, and the
//! kind of values each operator writes.
//!
//! An operator is `%NAME%`, `%NAME(ARGUMENT)%` or `%NAME(ARGUMENT):LENGTH%`, with NAME in capital
//! letters, digits and `_`, and an argument without `)`. Envoy rejects a `%` that starts no such
//! operator, and so does [`parse`].

use std::fmt::Write;

use thiserror::Error;

/// An error in a format string.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FormatError {
    #[error(
        "the format is empty; pass the format string in quotes, or no format for Envoy's default"
    )]
    Empty,
    #[error(
        "the `%` at column {column} starts no operator: write %NAME%, %NAME(ARGUMENT)% or \
         %NAME(ARGUMENT):LENGTH% with NAME in capital letters"
    )]
    NotAnOperator { column: usize },
    #[error("unclosed `%` at column {column}: {text} needs {missing}")]
    Unclosed {
        column: usize,
        text: String,
        missing: &'static str,
    },
    #[error(
        "invalid length limit in the operator at column {column}: {text}; write a whole number \
         of at least 1, as in %REQ(:PATH):20%"
    )]
    InvalidLength { column: usize, text: String },
    #[error("the format has no %OPERATORS%")]
    NoOperators,
    #[error("the format starts with `{{` but is not a JSON object of format strings: {0}")]
    InvalidJson(String),
}

/// A part of a format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text Envoy writes as it is.
    Literal(String),
    Operator(Operator),
}

/// One command operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The command, such as `REQ` or `START_TIME`.
    pub name: String,
    /// The text between the parentheses, such as `:PATH` or a `START_TIME` time format.
    pub argument: Option<String>,
    /// The `:LENGTH` suffix: Envoy cuts the value to this many characters.
    pub max_length: Option<usize>,
    /// The operator as written.
    pub text: String,
}

/// Maximum length of the operator text quoted in an error message, in characters.
const QUOTED_TEXT_CHARS: usize = 40;

/// Splits a format string into literal text and operators.
pub fn parse(format: &str) -> Result<Vec<Piece>, FormatError> {
    if format.is_empty() {
        return Err(FormatError::Empty);
    }
    let mut pieces = Vec::new();
    let mut rest = format;
    let mut column = 1;
    while let Some(start) = rest.find('%') {
        if start > 0 {
            pieces.push(Piece::Literal(rest[..start].to_owned()));
            column += rest[..start].chars().count();
        }
        let operator = operator_at(&rest[start..], column)?;
        let length = operator.text.len();
        column += operator.text.chars().count();
        pieces.push(Piece::Operator(operator));
        rest = &rest[start + length..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Literal(rest.to_owned()));
    }
    if !pieces
        .iter()
        .any(|piece| matches!(piece, Piece::Operator(_)))
    {
        return Err(FormatError::NoOperators);
    }
    Ok(pieces)
}

/// Reads the operator at the start of `text`, which starts with `%` at `column` of the format.
fn operator_at(text: &str, column: usize) -> Result<Operator, FormatError> {
    let name_end = text[1..]
        .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .map_or(text.len(), |end| end + 1);
    if name_end == 1 {
        return Err(FormatError::NotAnOperator { column });
    }
    let unclosed = |end: usize, missing| FormatError::Unclosed {
        column,
        text: shortened(&text[..end]),
        missing,
    };

    let mut position = name_end;
    let mut argument = None;
    if text[position..].starts_with('(') {
        let close = text[position..]
            .find(')')
            .ok_or_else(|| unclosed(text.len(), "`)` and a closing `%`"))?;
        argument = Some(text[position + 1..position + close].to_owned());
        position += close + 1;
    }

    let mut max_length = None;
    if text[position..].starts_with(':') {
        let digits = &text[position + 1..];
        let digits_end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        let end = position + 1 + digits_end;
        match digits[..digits_end].parse::<usize>() {
            Ok(length) if length > 0 => max_length = Some(length),
            _ => {
                return Err(FormatError::InvalidLength {
                    column,
                    text: shortened(&text[..end + usize::from(text[end..].starts_with('%'))]),
                });
            }
        }
        position = end;
    }

    if !text[position..].starts_with('%') {
        return Err(unclosed(position, "a closing `%`"));
    }
    Ok(Operator {
        name: text[1..name_end].to_owned(),
        argument,
        max_length,
        text: text[..position + 1].to_owned(),
    })
}

/// Cuts text for an error message after [`QUOTED_TEXT_CHARS`] characters.
fn shortened(text: &str) -> String {
    match text.char_indices().nth(QUOTED_TEXT_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// What the values of an operator look like, which decides its regex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// A time: Envoy's default `2024-10-10T13:55:30.012Z`, or the operator's strftime format.
    StartTime,
    /// A whole number, or `-` when not set: byte counts, milliseconds, ports, ids.
    Count,
    /// An HTTP status code of 1 to 3 digits (0 when no response was sent), or `-`.
    StatusCode,
    /// An HTTP method (an RFC 9110 token), or `-`.
    Method,
    /// A `host[:port]` from the request: printable ASCII without space or `"`.
    Authority,
    /// `HTTP/1.1`, `HTTP/2`, `HTTP/3` or `-`.
    Protocol,
    /// A value Envoy writes itself without spaces or quotes: flags, addresses, cluster names.
    Token,
    /// Any text, such as a header a client sent, which may hold spaces and quotes.
    Text,
}

/// The part a field plays in the starter metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Method,
    Code,
    Authority,
    Path,
    BytesReceived,
    BytesSent,
    Duration,
    UpstreamServiceTime,
    UpstreamCluster,
    ResponseFlags,
    GrpcStatus,
    None,
}

/// The values and the metric role of an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub values: Values,
    pub role: Role,
    /// False for operators the generator does not know, which are matched as any text.
    pub known: bool,
}

impl Kind {
    const fn new(values: Values, role: Role) -> Kind {
        Kind {
            values,
            role,
            known: true,
        }
    }
}

/// Operators that write a whole number, and the role of those that feed a metric.
const COUNTS: &[(&str, Role)] = &[
    ("BYTES_RECEIVED", Role::BytesReceived),
    ("BYTES_SENT", Role::BytesSent),
    ("DURATION", Role::Duration),
    ("REQUEST_DURATION", Role::None),
    ("REQUEST_TX_DURATION", Role::None),
    ("RESPONSE_DURATION", Role::None),
    ("RESPONSE_TX_DURATION", Role::None),
    ("UPSTREAM_REQUEST_ATTEMPT_COUNT", Role::None),
    ("UPSTREAM_WIRE_BYTES_SENT", Role::None),
    ("UPSTREAM_WIRE_BYTES_RECEIVED", Role::None),
    ("UPSTREAM_HEADER_BYTES_SENT", Role::None),
    ("UPSTREAM_HEADER_BYTES_RECEIVED", Role::None),
    ("DOWNSTREAM_WIRE_BYTES_SENT", Role::None),
    ("DOWNSTREAM_WIRE_BYTES_RECEIVED", Role::None),
    ("DOWNSTREAM_HEADER_BYTES_SENT", Role::None),
    ("DOWNSTREAM_HEADER_BYTES_RECEIVED", Role::None),
    ("REQUEST_HEADERS_BYTES", Role::None),
    ("RESPONSE_HEADERS_BYTES", Role::None),
    ("RESPONSE_TRAILERS_BYTES", Role::None),
    ("CONNECTION_ID", Role::None),
    ("UPSTREAM_CONNECTION_ID", Role::None),
    ("DOWNSTREAM_LOCAL_PORT", Role::None),
    ("DOWNSTREAM_REMOTE_PORT", Role::None),
    ("DOWNSTREAM_DIRECT_REMOTE_PORT", Role::None),
    ("UPSTREAM_LOCAL_PORT", Role::None),
    ("UPSTREAM_REMOTE_PORT", Role::None),
];

/// Operators whose values Envoy writes without spaces or quotes.
const TOKENS: &[(&str, Role)] = &[
    ("RESPONSE_FLAGS", Role::ResponseFlags),
    ("RESPONSE_FLAGS_LONG", Role::None),
    ("RESPONSE_CODE_DETAILS", Role::None),
    ("UPSTREAM_HOST", Role::None),
    ("UPSTREAM_CLUSTER", Role::UpstreamCluster),
    ("UPSTREAM_CLUSTER_RAW", Role::UpstreamCluster),
    ("UPSTREAM_LOCAL_ADDRESS", Role::None),
    ("UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT", Role::None),
    ("UPSTREAM_REMOTE_ADDRESS", Role::None),
    ("UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", Role::None),
    ("DOWNSTREAM_LOCAL_ADDRESS", Role::None),
    ("DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT", Role::None),
    ("DOWNSTREAM_REMOTE_ADDRESS", Role::None),
    ("DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", Role::None),
    ("DOWNSTREAM_DIRECT_REMOTE_ADDRESS", Role::None),
    ("DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT", Role::None),
    ("ROUTE_NAME", Role::None),
    ("VIRTUAL_CLUSTER_NAME", Role::None),
    ("HOSTNAME", Role::None),
    ("STREAM_ID", Role::None),
    ("DOWNSTREAM_TLS_VERSION", Role::None),
    ("DOWNSTREAM_TLS_CIPHER", Role::None),
    ("UPSTREAM_TLS_VERSION", Role::None),
    ("UPSTREAM_TLS_CIPHER", Role::None),
    ("GRPC_STATUS", Role::GrpcStatus),
];

/// Known operators whose values may hold spaces or quotes.
const TEXTS: &[&str] = &[
    "UPSTREAM_TRANSPORT_FAILURE_REASON",
    "CONNECTION_TERMINATION_DETAILS",
    "REQUESTED_SERVER_NAME",
    "DOWNSTREAM_PEER_SUBJECT",
    "DOWNSTREAM_PEER_ISSUER",
    "DOWNSTREAM_PEER_URI_SAN",
    "DOWNSTREAM_LOCAL_SUBJECT",
    "DOWNSTREAM_LOCAL_URI_SAN",
    "DYNAMIC_METADATA",
    "FILTER_STATE",
    "ENVIRONMENT",
    "LOCAL_REPLY_BODY",
];

/// Operators that write a request header, a response header or a response trailer, by their
/// short and long names.
const HEADER_OPERATORS: &[&str] = &[
    "REQ",
    "RESP",
    "TRAILER",
    "REQUEST_HEADER",
    "RESPONSE_HEADER",
    "RESPONSE_TRAILER",
    "REQ_WITHOUT_QUERY",
];

impl Operator {
    /// Returns the kind of this operator's values and its metric role.
    pub fn kind(&self) -> Kind {
        let name = self.name.as_str();
        if HEADER_OPERATORS.contains(&name) {
            return self.header_kind();
        }
        match name {
            "START_TIME" => return Kind::new(Values::StartTime, Role::None),
            "RESPONSE_CODE" => return Kind::new(Values::StatusCode, Role::Code),
            "PROTOCOL" => return Kind::new(Values::Protocol, Role::None),
            _ => {}
        }
        if let Some((_, role)) = COUNTS.iter().find(|(known, _)| *known == name) {
            return Kind::new(Values::Count, *role);
        }
        if let Some((_, role)) = TOKENS.iter().find(|(known, _)| *known == name) {
            return Kind::new(Values::Token, *role);
        }
        Kind {
            values: Values::Text,
            role: Role::None,
            known: TEXTS.contains(&name),
        }
    }

    /// Returns the kind of a header operator. `%REQ(X?Y)%` writes header X, or Y when X is
    /// absent, so it keeps a narrower class or a role only when both alternatives share it. A
    /// path alternative makes the whole a path.
    fn header_kind(&self) -> Kind {
        let kinds: Vec<Kind> = self
            .header_names()
            .map(|header| header_kind(&self.name, &header))
            .collect();
        if kinds.iter().any(|kind| kind.role == Role::Path) {
            return Kind::new(Values::Text, Role::Path);
        }
        match kinds.split_first() {
            Some((first, others)) if others.iter().all(|kind| kind == first) => *first,
            _ => Kind::new(Values::Text, Role::None),
        }
    }

    /// Returns the header names of a header operator's argument in capitals: one, or two for
    /// `X?Y`.
    fn header_names(&self) -> impl Iterator<Item = String> + '_ {
        self.argument
            .as_deref()
            .unwrap_or_default()
            .split('?')
            .map(str::to_ascii_uppercase)
    }

    /// Returns a field name for the operator, in lower case with `_` for other characters. A
    /// header operator is named after its header, or after the pseudo-header (such as `:PATH`)
    /// when one of its alternatives is one. Other operators are named with their argument.
    pub fn field_name(&self) -> String {
        let name = if HEADER_OPERATORS.contains(&self.name.as_str()) {
            let headers: Vec<String> = self.header_names().collect();
            headers
                .iter()
                .find(|header| header.starts_with(':'))
                .or(headers.first())
                .cloned()
                .unwrap_or_default()
        } else {
            match &self.argument {
                Some(argument) if self.name != "START_TIME" => {
                    format!("{}_{argument}", self.name)
                }
                _ => self.name.clone(),
            }
        };
        identifier(&name)
    }
}

/// Returns the kind of one header.
fn header_kind(operator: &str, header: &str) -> Kind {
    let request = operator.starts_with("REQ");
    match header {
        ":METHOD" if request => Kind::new(Values::Method, Role::Method),
        ":AUTHORITY" | "HOST" if request => Kind::new(Values::Authority, Role::Authority),
        ":PATH" | "X-ENVOY-ORIGINAL-PATH" if request => Kind::new(Values::Text, Role::Path),
        "X-ENVOY-UPSTREAM-SERVICE-TIME" if !request => {
            Kind::new(Values::Count, Role::UpstreamServiceTime)
        }
        "GRPC-STATUS" if !request => Kind::new(Values::Count, Role::GrpcStatus),
        _ => Kind::new(Values::Text, Role::None),
    }
}

/// Turns text into a regex group name: lower case ASCII letters, digits and `_`, starting
/// with a letter or `_`, without repeated or trailing `_`.
pub fn identifier(text: &str) -> String {
    let mut name = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('_') {
            name.push('_');
        }
    }
    let name = name.trim_end_matches('_');
    match name.chars().next() {
        None => "field".to_owned(),
        Some(first) if first.is_ascii_digit() => format!("field_{name}"),
        Some(_) => name.to_owned(),
    }
}

/// Envoy's default `%START_TIME%`: UTC with milliseconds, as in `2024-10-10T13:55:30.012Z`.
pub const DEFAULT_START_TIME: &str =
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z";

/// Translates a `%START_TIME(...)%` strftime format into a regex for the times it writes.
/// Envoy (documented since 1.7) adds `%s` (epoch seconds), `%f` (9 fraction digits) and `%1f` to
/// `%9f` (that many fraction digits) to strftime's specifiers. Other specifiers match any text.
pub fn strftime_regex(format: &str) -> String {
    let mut regex = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            regex.push_str(&regex::escape(&c.to_string()));
            continue;
        }
        let specifier = chars.next().unwrap_or('%');
        if specifier == 'f' {
            regex.push_str("[0-9]{9}");
            continue;
        }
        if specifier.is_ascii_digit() && specifier != '0' && chars.peek() == Some(&'f') {
            chars.next();
            write!(regex, "[0-9]{{{specifier}}}").ok();
            continue;
        }
        regex.push_str(match specifier {
            'Y' | 'G' => "[0-9]{4}",
            'm' | 'd' | 'H' | 'I' | 'M' | 'S' | 'y' | 'C' | 'U' | 'W' | 'V' | 'g' => "[0-9]{2}",
            'e' | 'k' | 'l' => "[ 0-9][0-9]",
            'j' => "[0-9]{3}",
            'u' | 'w' => "[0-9]",
            's' => "[0-9]+",
            'z' => "[+-][0-9]{4}",
            'Z' | 'a' | 'A' | 'b' | 'B' | 'h' | 'p' => "[A-Za-z]+",
            'F' => "[0-9]{4}-[0-9]{2}-[0-9]{2}",
            'T' => "[0-9]{2}:[0-9]{2}:[0-9]{2}",
            'R' => "[0-9]{2}:[0-9]{2}",
            'n' | 't' => r"\s",
            '%' => "%",
            _ => ".*?",
        });
    }
    regex
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operators(format: &str) -> Vec<Operator> {
        parse(format)
            .unwrap()
            .into_iter()
            .filter_map(|piece| match piece {
                Piece::Operator(operator) => Some(operator),
                Piece::Literal(_) => None,
            })
            .collect()
    }

    #[test]
    fn pieces_in_order() {
        let pieces = parse("[%START_TIME%] \"%REQ(:PATH)%\"").unwrap();
        assert_eq!(pieces.len(), 5);
        assert_eq!(pieces[0], Piece::Literal("[".to_owned()));
        assert_eq!(pieces[2], Piece::Literal("] \"".to_owned()));
        assert_eq!(pieces[4], Piece::Literal("\"".to_owned()));
    }

    #[test]
    fn operator_parts() {
        let found = operators("%REQ(:PATH):20% %START_TIME(%Y/%m/%d)% %DURATION%");
        assert_eq!(found[0].name, "REQ");
        assert_eq!(found[0].argument.as_deref(), Some(":PATH"));
        assert_eq!(found[0].max_length, Some(20));
        assert_eq!(found[0].text, "%REQ(:PATH):20%");
        assert_eq!(found[1].name, "START_TIME");
        assert_eq!(found[1].argument.as_deref(), Some("%Y/%m/%d"));
        assert_eq!(found[1].max_length, None);
        assert_eq!(found[2].name, "DURATION");
        assert_eq!(found[2].argument, None);
    }

    #[test]
    fn unclosed_operators_name_column() {
        assert_eq!(
            parse("%DURATION% %PROTOCOL").unwrap_err().to_string(),
            "unclosed `%` at column 12: %PROTOCOL needs a closing `%`"
        );
        assert_eq!(
            parse("ab %REQ(:PATH").unwrap_err().to_string(),
            "unclosed `%` at column 4: %REQ(:PATH needs `)` and a closing `%`"
        );
        assert_eq!(
            parse("%REQ(:PATH) x").unwrap_err(),
            FormatError::Unclosed {
                column: 1,
                text: "%REQ(:PATH)".to_owned(),
                missing: "a closing `%`",
            }
        );
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(
            parse("é %DURATION% ü %X").unwrap_err(),
            FormatError::Unclosed {
                column: 16,
                text: "%X".to_owned(),
                missing: "a closing `%`",
            }
        );
    }

    #[test]
    fn percent_without_name_rejected() {
        assert_eq!(
            parse("100% %DURATION%").unwrap_err(),
            FormatError::NotAnOperator { column: 4 }
        );
        assert_eq!(
            parse("%req(:path)%").unwrap_err(),
            FormatError::NotAnOperator { column: 1 }
        );
    }

    #[test]
    fn invalid_length_limits_rejected() {
        assert_eq!(
            parse("%REQ(:PATH):x%").unwrap_err().to_string(),
            "invalid length limit in the operator at column 1: %REQ(:PATH):; write a whole \
             number of at least 1, as in %REQ(:PATH):20%"
        );
        assert_eq!(
            parse("%REQ(:PATH):0%").unwrap_err(),
            FormatError::InvalidLength {
                column: 1,
                text: "%REQ(:PATH):0%".to_owned(),
            }
        );
    }

    #[test]
    fn formats_without_operators_rejected() {
        assert_eq!(parse("plain").unwrap_err(), FormatError::NoOperators);
        assert_eq!(parse("").unwrap_err(), FormatError::Empty);
    }

    #[test]
    fn header_kinds_and_names() {
        let found = operators(
            "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %REQ(:AUTHORITY)% \
             %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% %TRAILER(GRPC-STATUS)% %REQ(USER-AGENT)% \
             %REQ(X-REAL-IP?X-FORWARDED-FOR)% %REQUEST_HEADER(:METHOD)%",
        );
        let kinds: Vec<(Values, Role)> = found
            .iter()
            .map(|operator| (operator.kind().values, operator.kind().role))
            .collect();
        assert_eq!(
            kinds,
            [
                (Values::Method, Role::Method),
                (Values::Text, Role::Path),
                (Values::Authority, Role::Authority),
                (Values::Count, Role::UpstreamServiceTime),
                (Values::Count, Role::GrpcStatus),
                (Values::Text, Role::None),
                (Values::Text, Role::None),
                (Values::Method, Role::Method),
            ]
        );
        let names: Vec<String> = found.iter().map(Operator::field_name).collect();
        assert_eq!(
            names,
            [
                "method",
                "path",
                "authority",
                "x_envoy_upstream_service_time",
                "grpc_status",
                "user_agent",
                "x_real_ip",
                "method",
            ]
        );
    }

    #[test]
    fn operator_kinds_by_name() {
        let found = operators(
            "%START_TIME% %RESPONSE_CODE% %PROTOCOL% %BYTES_SENT% %UPSTREAM_CLUSTER% \
             %RESPONSE_FLAGS% %REQUESTED_SERVER_NAME% %MY_OPERATOR% %FILTER_STATE(a.b:PLAIN)%",
        );
        let kinds: Vec<Kind> = found.iter().map(Operator::kind).collect();
        assert_eq!(kinds[0].values, Values::StartTime);
        assert_eq!(kinds[1], Kind::new(Values::StatusCode, Role::Code));
        assert_eq!(kinds[2].values, Values::Protocol);
        assert_eq!(kinds[3], Kind::new(Values::Count, Role::BytesSent));
        assert_eq!(kinds[4], Kind::new(Values::Token, Role::UpstreamCluster));
        assert_eq!(kinds[5], Kind::new(Values::Token, Role::ResponseFlags));
        assert_eq!(kinds[6], Kind::new(Values::Text, Role::None));
        assert!(!kinds[7].known);
        assert_eq!(kinds[7].values, Values::Text);
        assert!(kinds[8].known);
        assert_eq!(found[7].field_name(), "my_operator");
        assert_eq!(found[8].field_name(), "filter_state_a_b_plain");
    }

    #[test]
    fn identifiers_are_group_names() {
        assert_eq!(identifier(":AUTHORITY"), "authority");
        assert_eq!(identifier("X--Y_"), "x_y");
        assert_eq!(identifier("1ST"), "field_1st");
        assert_eq!(identifier("::"), "field");
    }

    #[test]
    fn strftime_formats_become_regexes() {
        assert_eq!(
            strftime_regex("%Y-%m-%dT%H:%M:%S.%3f%z"),
            r"[0-9]{4}\-[0-9]{2}\-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}[+-][0-9]{4}"
        );
        assert_eq!(strftime_regex("%s.%f %Q"), r"[0-9]+\.[0-9]{9} .*?");
    }
}
