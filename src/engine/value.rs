//! Reading a metric's value from the text of its field.
//!
//! A field contains a number, `-` or nothing (no value: the update is skipped and counted), or a
//! list of numbers. nginx writes lists in its upstream variables when a request was tried on
//! several upstreams (`0.004, 0.012`) or passed through internal redirects (`0.005 : 0.019`),
//! with `-` for attempts that got no response. The rule's `list` mode says what a list means.
//! A field holding a timestamp gives its seconds since the Unix epoch.

use crate::decimal::Decimal;
use crate::metrics::SkipReason;

/// What a metric records from a field holding several numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListMode {
    /// One update with the sum of the numbers (the time spent on all attempts).
    #[default]
    Sum,
    /// One update per number (each attempt observed on its own).
    Each,
    /// One update with the first number.
    First,
    /// One update with the last number (the attempt that produced the response).
    Last,
}

impl ListMode {
    /// Parses the rule-file spelling.
    pub fn parse(text: &str) -> Option<ListMode> {
        match text {
            "sum" => Some(ListMode::Sum),
            "each" => Some(ListMode::Each),
            "first" => Some(ListMode::First),
            "last" => Some(ListMode::Last),
            _ => None,
        }
    }
}

/// Reads the values of a field and calls `record` once per update to make. Returns why no
/// update is made when the field contains no number; nothing is recorded then.
pub fn read_values(
    text: &[u8],
    mode: ListMode,
    scale: Option<Decimal>,
    allow_negative: bool,
    record: &mut dyn FnMut(Decimal),
) -> Result<(), SkipReason> {
    if let Some(value) = parse_number(text).or_else(|| super::timestamp::parse(text)) {
        record(finish(value, scale, allow_negative)?);
        return Ok(());
    }
    match text {
        b"" => return Err(SkipReason::Empty),
        b"-" => return Err(SkipReason::Dash),
        _ => {}
    }

    // A list: check every part first, so that a bad part makes no partial update.
    let mut numbers = 0;
    for part in parts(text) {
        let value = parse_number(part).ok_or(SkipReason::Invalid)?;
        finish(value, scale, allow_negative)?;
        numbers += 1;
    }
    if numbers == 0 {
        return Err(SkipReason::Dash);
    }

    let mut numeric = parts(text).filter_map(parse_number);
    match mode {
        ListMode::Each => {
            for value in numeric {
                record(finish(value, scale, allow_negative)?);
            }
        }
        ListMode::First => record(finish(
            numeric.next().ok_or(SkipReason::Dash)?,
            scale,
            allow_negative,
        )?),
        ListMode::Last => record(finish(
            numeric.last().ok_or(SkipReason::Dash)?,
            scale,
            allow_negative,
        )?),
        ListMode::Sum => {
            let total = numeric.try_fold(Decimal::ZERO, |total, value| total.checked_add(value));
            record(finish(
                total.ok_or(SkipReason::Invalid)?,
                scale,
                allow_negative,
            )?);
        }
    }
    Ok(())
}

/// Time units a value may carry, with their size in seconds as a decimal exponent, longest
/// suffix first so `ms` is not read as `s`.
const TIME_UNITS: [(&[u8], i16); 5] = [(b"ns", -9), (b"us", -6), (b"ms", -3), (b"s", 0), (b"m", 0)];

/// Parses a number, or a duration with a time unit (`12ms`, `1.5s`, `250us`), which becomes
/// seconds: the base unit Prometheus uses.
fn parse_number(text: &[u8]) -> Option<Decimal> {
    if let Some(value) = Decimal::parse(text) {
        return Some(value);
    }
    for (unit, exponent) in TIME_UNITS {
        if let Some(number) = text.strip_suffix(unit) {
            let value = Decimal::parse(number)?;
            let factor = if unit == b"m" {
                Decimal::new(60, 0)
            } else {
                Decimal::new(1, exponent)
            };
            return value.checked_mul(factor);
        }
    }
    None
}

/// The numeric parts of a list: separated by `,` or `:`, surrounding spaces ignored, `-` and
/// empty parts left out.
fn parts(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|byte| *byte == b',' || *byte == b':')
        .map(|part| part.trim_ascii())
        .filter(|part| !part.is_empty() && *part != b"-")
}

fn finish(
    value: Decimal,
    scale: Option<Decimal>,
    allow_negative: bool,
) -> Result<Decimal, SkipReason> {
    let value = match scale {
        Some(scale) => value.checked_mul(scale).ok_or(SkipReason::Invalid)?,
        None => value,
    };
    if value.is_negative() && !allow_negative {
        return Err(SkipReason::Negative);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, mode: ListMode) -> Result<Vec<String>, SkipReason> {
        let mut values = Vec::new();
        read_values(text.as_bytes(), mode, None, false, &mut |value| {
            values.push(value.to_string())
        })?;
        Ok(values)
    }

    #[test]
    fn single_values() {
        assert_eq!(read("0.050", ListMode::Sum), Ok(vec!["0.05".to_owned()]));
        assert_eq!(read("-", ListMode::Sum), Err(SkipReason::Dash));
        assert_eq!(read("", ListMode::Sum), Err(SkipReason::Empty));
        assert_eq!(read("fast", ListMode::Sum), Err(SkipReason::Invalid));
        assert_eq!(read("-3", ListMode::Sum), Err(SkipReason::Negative));
    }

    #[test]
    fn lists_by_mode() {
        assert_eq!(
            read("0.004, 0.012", ListMode::Sum),
            Ok(vec!["0.016".to_owned()])
        );
        assert_eq!(
            read("0.005 : 0.019", ListMode::Sum),
            Ok(vec!["0.024".to_owned()])
        );
        assert_eq!(read("-, 0.010", ListMode::Sum), Ok(vec!["0.01".to_owned()]));
        assert_eq!(
            read("0.1, 0.2 : 0.3", ListMode::Each),
            Ok(vec!["0.1".into(), "0.2".into(), "0.3".into()])
        );
        assert_eq!(
            read("0.1, 0.2", ListMode::First),
            Ok(vec!["0.1".to_owned()])
        );
        assert_eq!(read("0.1, 0.2", ListMode::Last), Ok(vec!["0.2".to_owned()]));
    }

    #[test]
    fn time_units_become_seconds() {
        assert_eq!(read("12ms", ListMode::Sum), Ok(vec!["0.012".to_owned()]));
        assert_eq!(read("1.5s", ListMode::Sum), Ok(vec!["1.5".to_owned()]));
        assert_eq!(read("250us", ListMode::Sum), Ok(vec!["0.00025".to_owned()]));
        assert_eq!(
            read("3ns", ListMode::Sum),
            Ok(vec!["0.000000003".to_owned()])
        );
        assert_eq!(read("2m", ListMode::Sum), Ok(vec!["120".to_owned()]));
        assert_eq!(
            read("5ms, 10ms", ListMode::Sum),
            Ok(vec!["0.015".to_owned()])
        );
        assert_eq!(read("12 ms", ListMode::Sum), Err(SkipReason::Invalid));
        assert_eq!(read("ms", ListMode::Sum), Err(SkipReason::Invalid));
    }

    #[test]
    fn lists_without_numbers_skip() {
        assert_eq!(read("-, -", ListMode::Sum), Err(SkipReason::Dash));
        assert_eq!(read("-, x", ListMode::Sum), Err(SkipReason::Invalid));
        assert_eq!(read("0.1, x", ListMode::Each), Err(SkipReason::Invalid));
    }

    #[test]
    fn scale_applies_to_each_part() {
        let mut values = Vec::new();
        let scale = Decimal::parse(b"0.001");
        read_values(b"700, 300", ListMode::Each, scale, false, &mut |value| {
            values.push(value.to_string())
        })
        .unwrap();
        assert_eq!(values, ["0.7", "0.3"]);
    }
}
