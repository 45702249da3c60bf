//! Reading a time of day as seconds since the Unix epoch, so a gauge can record the time of
//! the last request seen. Epoch seconds need nothing here: they are plain numbers.
//!
//! Two layouts cover the common access logs: nginx's `$time_local` and Apache's `%t`
//! (`04/Dec/2026:10:00:00 +0100`), and ISO 8601 as Envoy writes `%START_TIME%`
//! (`2026-12-04T10:00:00.123Z`). A time without a zone is taken as UTC.
//!
//! The same parsing gives `logtally once --summary` the time span of a log, and
//! [`format_utc`] writes a time back as ISO 8601 for it.

use crate::decimal::Decimal;

/// Maximum fraction digits kept, down to nanoseconds. Finer digits are dropped.
const MAX_FRACTION_DIGITS: usize = 9;

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Parses a timestamp in either layout into seconds since the epoch.
pub fn parse(text: &[u8]) -> Option<Decimal> {
    parse_time_local(text).or_else(|| parse_iso8601(text))
}

/// The earliest and the latest of a set of times, in seconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSpan {
    pub earliest: Decimal,
    pub latest: Decimal,
}

impl TimeSpan {
    /// Creates the span of a single time.
    pub fn at(time: Decimal) -> TimeSpan {
        TimeSpan {
            earliest: time,
            latest: time,
        }
    }

    /// Widens the span to include `time`.
    pub fn include(&mut self, time: Decimal) {
        if time.compare(self.earliest).is_lt() {
            self.earliest = time;
        }
        if time.compare(self.latest).is_gt() {
            self.latest = time;
        }
    }

    /// Returns the span covering both spans, either of which may be missing.
    pub fn union(first: Option<TimeSpan>, second: Option<TimeSpan>) -> Option<TimeSpan> {
        match (first, second) {
            (Some(mut span), Some(other)) => {
                span.include(other.earliest);
                span.include(other.latest);
                Some(span)
            }
            (span, None) | (None, span) => span,
        }
    }

    /// Returns the length of the span in seconds, or `None` if the subtraction overflows.
    pub fn seconds(&self) -> Option<Decimal> {
        self.latest.checked_sub(self.earliest)
    }
}

/// Latest time [`format_utc`] writes: 9999-12-31T23:59:59Z.
const MAX_FORMATTED_SECONDS: i64 = 253_402_300_799;

/// Formats seconds since the epoch as ISO 8601 in UTC, keeping the digits of the fraction
/// (`2026-12-04T10:00:00.123Z`). Returns `None` for times before 1970 or after the year 9999.
pub fn format_utc(seconds: Decimal) -> Option<String> {
    if seconds.is_negative() {
        return None;
    }
    let text = seconds.to_string();
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let whole: i64 = whole
        .parse()
        .ok()
        .filter(|whole| *whole <= MAX_FORMATTED_SECONDS)?;
    let (year, month, day) = civil_from_days(whole / 86_400);
    let of_day = whole % 86_400;
    let mut formatted = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    );
    if !fraction.is_empty() {
        // Shown in whole milli-, micro- or nanoseconds: `.09` as `.090`.
        formatted.push('.');
        formatted.push_str(fraction);
        let width = fraction.len().div_ceil(3) * 3;
        formatted.extend(std::iter::repeat_n('0', width - fraction.len()));
    }
    formatted.push('Z');
    Some(formatted)
}

/// A civil time with its offset from UTC.
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    offset_seconds: i64,
}

/// `DD/Mon/YYYY:HH:MM:SS +ZZZZ`.
fn parse_time_local(text: &[u8]) -> Option<Decimal> {
    if text.len() != 26 || text[2] != b'/' || text[6] != b'/' || text[11] != b':' {
        return None;
    }
    let month = MONTHS.iter().position(|name| &text[3..6] == *name)? as i64 + 1;
    let civil = Civil {
        year: digits(&text[7..11])?,
        month,
        day: digits(&text[0..2])?,
        hour: digits(&text[12..14])?,
        minute: after(text, 14, b':', 2)?,
        second: after(text, 17, b':', 2)?,
        offset_seconds: (text[20] == b' ').then(|| zone_offset(&text[21..]))??,
    };
    seconds(&civil).map(|seconds| Decimal::new(seconds, 0))
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH:MM|±HHMM|±HH]`.
fn parse_iso8601(text: &[u8]) -> Option<Decimal> {
    if text.len() < 19 || text[4] != b'-' || text[7] != b'-' || !matches!(text[10], b'T' | b' ') {
        return None;
    }
    let (fraction, fraction_digits, rest) = fraction(&text[19..]);
    let offset_seconds = match rest {
        b"" | b"Z" => 0,
        zone => zone_offset(zone)?,
    };
    let civil = Civil {
        year: digits(&text[0..4])?,
        month: digits(&text[5..7])?,
        day: digits(&text[8..10])?,
        hour: digits(&text[11..13])?,
        minute: after(text, 13, b':', 2)?,
        second: after(text, 16, b':', 2)?,
        offset_seconds,
    };
    let whole = seconds(&civil)?;
    let scale = 10_i64.pow(fraction_digits as u32);
    let mantissa = whole.checked_mul(scale)?.checked_add(fraction)?;
    Some(Decimal::new(mantissa, -(fraction_digits as i16)))
}

/// Reads `.123` or `,123` at the start of `text`: the digits as a number, how many were kept,
/// and the rest of the text.
fn fraction(text: &[u8]) -> (i64, usize, &[u8]) {
    if !matches!(text.first(), Some(b'.' | b',')) {
        return (0, 0, text);
    }
    let count = text[1..]
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    if count == 0 {
        // A separator without digits is left for the zone, which then does not parse.
        return (0, 0, text);
    }
    let mut kept = count.min(MAX_FRACTION_DIGITS);
    let mut value = digits(&text[1..1 + kept]).unwrap_or(0);
    // Trailing zeros add nothing: `.100` is `.1`, printed as such.
    while kept > 0 && value % 10 == 0 {
        value /= 10;
        kept -= 1;
    }
    (value, kept, &text[1 + count..])
}

/// `+HHMM`, `+HH:MM` or `+HH` (or with `-`), as seconds east of UTC.
fn zone_offset(text: &[u8]) -> Option<i64> {
    let sign = match text.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = &text[1..];
    let (hours, minutes) = match rest.len() {
        2 => (digits(rest)?, 0),
        4 => (digits(&rest[..2])?, digits(&rest[2..])?),
        5 if rest[2] == b':' => (digits(&rest[..2])?, digits(&rest[3..])?),
        _ => return None,
    };
    (hours < 24 && minutes < 60).then_some(sign * (hours * 3600 + minutes * 60))
}

/// Reads the `width` digits that follow the separator at `index`.
fn after(text: &[u8], index: usize, separator: u8, width: usize) -> Option<i64> {
    if text.get(index) != Some(&separator) {
        return None;
    }
    digits(text.get(index + 1..index + 1 + width)?)
}

fn digits(text: &[u8]) -> Option<i64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        text.iter()
            .fold(0, |value, digit| value * 10 + i64::from(digit - b'0')),
    )
}

/// Seconds since the epoch of a valid civil time, or `None` for an impossible date or time.
fn seconds(time: &Civil) -> Option<i64> {
    let valid = (1..=12).contains(&time.month)
        && (1..=days_in_month(time.year, time.month)).contains(&time.day)
        && time.hour < 24
        && time.minute < 60
        // 60 is a leap second.
        && time.second <= 60;
    if !valid {
        return None;
    }
    let days = days_from_civil(time.year, time.month, time.day);
    Some(days * 86_400 + time.hour * 3600 + time.minute * 60 + time.second - time.offset_seconds)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar. Years are counted
/// from March, so the leap day ends a year and each 400-year era has the same length.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Returns the date of a day counted from 1970-01-01, the inverse of [`days_from_civil`], with
/// years counted from March in the same way.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = (month_from_march + 2) % 12 + 1;
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(input: &str) -> Option<String> {
        parse(input.as_bytes()).map(|value| value.to_string())
    }

    #[test]
    fn time_local_with_offsets() {
        assert_eq!(text("01/Jan/1970:00:00:00 +0000").as_deref(), Some("0"));
        assert_eq!(
            text("04/Dec/2026:10:00:00 +0000").as_deref(),
            Some("1796378400")
        );
        assert_eq!(
            text("04/Dec/2026:11:00:00 +0100").as_deref(),
            Some("1796378400")
        );
        assert_eq!(
            text("04/Dec/2026:04:30:00 -0530").as_deref(),
            Some("1796378400")
        );
        assert_eq!(
            text("29/Feb/2024:23:59:59 +0000").as_deref(),
            Some("1709251199")
        );
    }

    #[test]
    fn iso8601_forms() {
        assert_eq!(
            text("2026-12-04T10:00:00.123Z").as_deref(),
            Some("1796378400.123")
        );
        assert_eq!(text("2026-12-04T10:00:00Z").as_deref(), Some("1796378400"));
        assert_eq!(
            text("2026-12-04 11:00:00+01:00").as_deref(),
            Some("1796378400")
        );
        assert_eq!(
            text("2026-12-04T10:00:00,5-0100").as_deref(),
            Some("1796382000.5")
        );
        assert_eq!(
            text("2026-12-04T10:00:00.123456789123Z").as_deref(),
            Some("1796378400.123456789")
        );
        assert_eq!(text("2026-12-04T10:00:00").as_deref(), Some("1796378400"));
        assert_eq!(
            text("2026-12-04T10:00:00.100Z").as_deref(),
            Some("1796378400.1")
        );
        assert_eq!(
            text("2026-12-04T10:00:00.000Z").as_deref(),
            Some("1796378400")
        );
    }

    #[test]
    fn impossible_times_are_not_timestamps() {
        for input in [
            "29/Feb/2026:00:00:00 +0000",
            "04/Dez/2026:10:00:00 +0000",
            "04/Dec/2026:24:00:00 +0000",
            "04/Dec/2026:10:00:00 0000",
            "2026-13-01T00:00:00Z",
            "2026-12-04T10:00:00Q",
            "2026-12-04T10:00:00.",
            "2026-12-04T10:00:00.Z",
            "2026-12-04",
            "1796378400",
        ] {
            assert_eq!(text(input), None, "{input}");
        }
    }

    #[test]
    fn utc_formatting() {
        let formatted = |text: &str| format_utc(Decimal::parse(text.as_bytes()).unwrap());
        assert_eq!(formatted("0").as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            formatted("1796378400.123").as_deref(),
            Some("2026-12-04T10:00:00.123Z")
        );
        assert_eq!(
            formatted("1709251199").as_deref(),
            Some("2024-02-29T23:59:59Z")
        );
        assert_eq!(
            formatted("253402300799").as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        assert_eq!(formatted("253402300800"), None);
        assert_eq!(formatted("-1"), None);
    }

    #[test]
    fn days_round_trip() {
        // From 1970 to past the year 2400, which crosses every leap-year rule.
        for days in 0..160_000 {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(
                days_from_civil(year, month, day),
                days,
                "{year}-{month}-{day}"
            );
            assert!((1..=12).contains(&month), "{year}-{month}-{day}");
            assert!((1..=days_in_month(year, month)).contains(&day));
        }
    }
}
