//! Exact decimal numbers for values taken from log lines.
//!
//! Log fields are decimal text (`0.017`, `700`, `1.5e3`). Parsing them into binary floating point
//! and scaling there gives results such as `700 * 0.001 = 0.7000000000000001`, which lands in the
//! wrong histogram bucket and prints as noise. Values are kept as a decimal mantissa and exponent
//! instead, scaled in decimal, summed in a 128-bit accumulator and printed digit for digit.
//! Conversion to `f64` happens only to compare with bucket bounds, and it is correctly rounded.

use std::cmp::Ordering;
use std::fmt;

/// Significant digits kept when parsing; the value is rounded to the nearest such number, ties
/// to even. Eighteen digits always fit an `i64` and exceed the precision of an `f64`.
const MAX_DIGITS: u32 = 18;

/// Largest exponent magnitude kept. Together with the check that a value converts to a finite
/// `f64`, it bounds every decimal to the range of `f64`.
const MAX_EXPONENT: i32 = 340;

/// Powers of ten that an `f64` represents exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A decimal number `mantissa * 10^exponent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    mantissa: i64,
    exponent: i16,
}

impl Decimal {
    /// The number zero.
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        exponent: 0,
    };

    /// The number one.
    pub const ONE: Decimal = Decimal {
        mantissa: 1,
        exponent: 0,
    };

    /// Creates `mantissa * 10^exponent`.
    pub const fn new(mantissa: i64, exponent: i16) -> Decimal {
        Decimal { mantissa, exponent }
    }

    /// Parses decimal text: an optional sign, digits with an optional fraction, and an optional
    /// exponent (`12`, `-0.5`, `.25`, `1.5e3`). Returns `None` for anything else, including
    /// empty text, `-`, `NaN`, infinities and surrounding white space.
    pub fn parse(text: &[u8]) -> Option<Decimal> {
        if let Some(whole) = parse_whole(text) {
            return Some(Decimal::new(whole, 0).normalized());
        }
        let (negative, rest) = match text.first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };

        let (mantissa, mut exponent, rest) = parse_digits(rest)?;
        let rest = match rest.first() {
            Some(b'e' | b'E') => {
                exponent = exponent.checked_add(parse_exponent(&rest[1..])?)?;
                &[][..]
            }
            _ => rest,
        };
        if !rest.is_empty() || !(-MAX_EXPONENT..=MAX_EXPONENT).contains(&exponent) {
            return None;
        }

        let mantissa = if negative { -mantissa } else { mantissa };
        Decimal::new(mantissa, exponent as i16)
            .normalized()
            .finite()
    }

    /// Returns the number if it is within the range of `f64`, so it can never become infinite
    /// when compared with bucket bounds or summed.
    fn finite(self) -> Option<Decimal> {
        self.to_f64().is_finite().then_some(self)
    }

    /// Converts a float to the shortest decimal that reads back as the same float, so a scale
    /// written as `0.001` in a rule file becomes exactly one thousandth.
    pub fn from_f64(value: f64) -> Option<Decimal> {
        if !value.is_finite() {
            return None;
        }
        Decimal::parse(format!("{value:e}").as_bytes())
    }

    /// Returns the product, rounded to eighteen significant digits where it has more.
    pub fn checked_mul(self, other: Decimal) -> Option<Decimal> {
        let mut mantissa = i128::from(self.mantissa) * i128::from(other.mantissa);
        let mut exponent = i32::from(self.exponent) + i32::from(other.exponent);
        while mantissa.unsigned_abs() >= 10u128.pow(MAX_DIGITS) {
            mantissa /= 10;
            exponent += 1;
        }
        if !(-MAX_EXPONENT..=MAX_EXPONENT).contains(&exponent) {
            return None;
        }
        Decimal::new(mantissa as i64, exponent as i16)
            .normalized()
            .finite()
    }

    /// Returns the sum, rounded to eighteen significant digits where it has more.
    pub fn checked_add(self, other: Decimal) -> Option<Decimal> {
        let (mut mantissa, exponent) = exact_add(
            i128::from(self.mantissa),
            self.exponent,
            i128::from(other.mantissa),
            other.exponent,
        )?;
        let mut exponent = i32::from(exponent);
        while mantissa.unsigned_abs() >= 10u128.pow(MAX_DIGITS) {
            mantissa /= 10;
            exponent += 1;
        }
        Decimal::new(mantissa as i64, exponent as i16)
            .normalized()
            .finite()
    }

    /// Returns true when the number is below zero.
    pub fn is_negative(self) -> bool {
        self.mantissa < 0
    }

    /// Returns the difference, rounded to eighteen significant digits where it has more.
    pub fn checked_sub(self, other: Decimal) -> Option<Decimal> {
        let negated = Decimal::new(other.mantissa.checked_neg()?, other.exponent);
        self.checked_add(negated)
    }

    /// Compares the values of two decimals exactly, whatever their mantissa and exponent.
    pub fn compare(self, other: Decimal) -> Ordering {
        let sign = self.mantissa.signum().cmp(&other.mantissa.signum());
        if sign != Ordering::Equal || self.mantissa == 0 {
            return sign;
        }
        let magnitude = compare_magnitudes(self, other);
        if self.is_negative() {
            magnitude.reverse()
        } else {
            magnitude
        }
    }

    /// Converts to the nearest `f64` (correctly rounded).
    pub fn to_f64(self) -> f64 {
        let exponent = i32::from(self.exponent);
        let magnitude = self.mantissa.unsigned_abs();
        if magnitude < (1 << 53) && exponent.unsigned_abs() < EXACT_POWERS_OF_TEN.len() as u32 {
            // Both operands are exact, and IEEE 754 rounds one division or product correctly.
            let power = EXACT_POWERS_OF_TEN[exponent.unsigned_abs() as usize];
            let mantissa = self.mantissa as f64;
            return if exponent < 0 {
                mantissa / power
            } else {
                mantissa * power
            };
        }
        slow_to_f64(self)
    }

    /// Strips trailing zeros from the mantissa, so equal numbers have one representation.
    fn normalized(mut self) -> Decimal {
        if self.mantissa == 0 {
            return Decimal::ZERO;
        }
        while self.mantissa % 10 == 0 && self.exponent < MAX_EXPONENT as i16 {
            self.mantissa /= 10;
            self.exponent += 1;
        }
        self
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_decimal(
            formatter,
            i128::from(self.mantissa),
            i32::from(self.exponent),
        )
    }
}

/// Reads text of only digits, few enough to need no rounding: the commonest value in logs, read
/// without the bookkeeping of [`parse_digits`].
fn parse_whole(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() > MAX_DIGITS as usize {
        return None;
    }
    text.iter().try_fold(0, |total: i64, &byte| {
        byte.is_ascii_digit()
            .then(|| total * 10 + i64::from(byte - b'0'))
    })
}

/// Reads `digits[.digits]`, rounding to at most [`MAX_DIGITS`] significant digits. Returns the
/// mantissa, the exponent that the dropped and fractional digits imply, and the unread rest.
fn parse_digits(text: &[u8]) -> Option<(i64, i32, &[u8])> {
    let mut mantissa: i64 = 0;
    let mut exponent: i32 = 0;
    let mut significant: u32 = 0;
    let mut seen_digit = false;
    let mut seen_point = false;
    let mut dropped = Dropped::default();
    let mut index = 0;

    while let Some(&byte) = text.get(index) {
        match byte {
            b'0'..=b'9' => {
                seen_digit = true;
                if significant < MAX_DIGITS {
                    mantissa = mantissa * 10 + i64::from(byte - b'0');
                    if mantissa != 0 {
                        significant += 1;
                    }
                    if seen_point {
                        exponent -= 1;
                    }
                } else {
                    dropped.push(byte - b'0');
                    if !seen_point {
                        exponent += 1;
                    }
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        index += 1;
    }

    if dropped.rounds_up(mantissa) {
        mantissa += 1;
        if mantissa == 10_i64.pow(MAX_DIGITS) {
            mantissa /= 10;
            exponent += 1;
        }
    }
    seen_digit.then_some((mantissa, exponent, &text[index..]))
}

/// The digits dropped beyond [`MAX_DIGITS`]: the first one, and whether any later one is not 0.
#[derive(Default)]
struct Dropped {
    first: Option<u8>,
    rest_nonzero: bool,
}

impl Dropped {
    fn push(&mut self, digit: u8) {
        match self.first {
            None => self.first = Some(digit),
            Some(_) => self.rest_nonzero |= digit != 0,
        }
    }

    /// Returns true when rounding to nearest, ties to even, raises the kept `mantissa` by one.
    fn rounds_up(&self, mantissa: i64) -> bool {
        match self.first {
            Some(digit) if digit > 5 => true,
            Some(5) => self.rest_nonzero || mantissa % 2 == 1,
            _ => false,
        }
    }
}

/// Reads the digits of an exponent after `e`, with an optional sign.
fn parse_exponent(text: &[u8]) -> Option<i32> {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 4 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0i32, |acc, digit| acc * 10 + i32::from(digit - b'0'));
    Some(if negative { -value } else { value })
}

/// Converts through text, for mantissas or exponents outside the exact fast path.
fn slow_to_f64(value: Decimal) -> f64 {
    use std::io::Write;

    let mut buffer = [0u8; 48];
    let mut cursor = &mut buffer[..];
    write!(cursor, "{}e{}", value.mantissa, value.exponent).expect("48 bytes hold any decimal");
    let written = 48 - cursor.len();
    std::str::from_utf8(&buffer[..written])
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Writes `mantissa * 10^exponent` in plain decimal notation, or in exponent notation when
/// that would need more than 21 zeros (the point where Go's and JavaScript's formatting switch).
fn write_decimal(out: &mut impl fmt::Write, mantissa: i128, exponent: i32) -> fmt::Result {
    if mantissa == 0 {
        return out.write_str("0");
    }
    if mantissa < 0 {
        out.write_char('-')?;
    }

    let digits = mantissa.unsigned_abs().to_string();
    let length = digits.len() as i32;
    if exponent >= 0 {
        if exponent > 21 {
            return write!(out, "{digits}e{exponent}");
        }
        out.write_str(&digits)?;
        (0..exponent).try_for_each(|_| out.write_char('0'))
    } else if -exponent < length {
        let point = (length + exponent) as usize;
        write!(out, "{}.{}", &digits[..point], &digits[point..])
    } else if length - exponent > 24 {
        write!(out, "{digits}e{exponent}")
    } else {
        out.write_str("0.")?;
        (0..(-exponent - length)).try_for_each(|_| out.write_char('0'))?;
        out.write_str(&digits)
    }
}

/// Compares the magnitudes of two non-zero decimals. An `i64` mantissa has at most 19 digits,
/// so when the exponents differ by more than 19, the larger exponent has the larger magnitude.
/// Otherwise both mantissas are aligned to one exponent, which fits in 128 bits.
fn compare_magnitudes(a: Decimal, b: Decimal) -> Ordering {
    let a_mantissa = u128::from(a.mantissa.unsigned_abs());
    let b_mantissa = u128::from(b.mantissa.unsigned_abs());
    let shift = i32::from(a.exponent) - i32::from(b.exponent);
    match shift {
        20.. => Ordering::Greater,
        ..=-20 => Ordering::Less,
        0.. => (a_mantissa * 10u128.pow(shift as u32)).cmp(&b_mantissa),
        _ => a_mantissa.cmp(&(b_mantissa * 10u128.pow(shift.unsigned_abs()))),
    }
}

/// A running total of decimals, exact while it fits 128 bits and then a float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sum {
    /// `mantissa * 10^exponent`, exactly.
    Exact { mantissa: i128, exponent: i16 },
    /// The total after an exact sum overflowed; precision is that of `f64` from then on.
    Float(f64),
}

impl Default for Sum {
    fn default() -> Self {
        Sum::Exact {
            mantissa: 0,
            exponent: 0,
        }
    }
}

impl Sum {
    /// Parses a total as [`Display`](fmt::Display) writes it: exact while its digits fit 128
    /// bits, else as the nearest float. Returns `None` for text that is not a finite number.
    pub fn parse(text: &str) -> Option<Sum> {
        if let Some((mantissa, exponent)) = parse_i128_decimal(text.as_bytes()) {
            return Some(Sum::Exact { mantissa, exponent });
        }
        text.parse::<f64>()
            .ok()
            .filter(|value| value.is_finite())
            .map(Sum::Float)
    }

    /// Adds one (the increment of a counter without a value field).
    #[inline]
    pub fn add_one(&mut self) {
        match self {
            Sum::Exact {
                mantissa,
                exponent: 0,
            } => *mantissa += 1,
            _ => self.add(Decimal::ONE),
        }
    }

    /// Adds a decimal, aligning exponents so the total stays exact while it fits.
    pub fn add(&mut self, value: Decimal) {
        let Sum::Exact { mantissa, exponent } = *self else {
            if let Sum::Float(total) = self {
                *total += value.to_f64();
            }
            return;
        };

        match exact_add(
            mantissa,
            exponent,
            i128::from(value.mantissa),
            value.exponent,
        ) {
            Some((mantissa, exponent)) => *self = Sum::Exact { mantissa, exponent },
            None => *self = Sum::Float(self.to_f64() + value.to_f64()),
        }
    }

    /// Adds another total, as when shards of one series are merged.
    pub fn add_sum(&mut self, other: Sum) {
        match (*self, other) {
            (
                Sum::Exact { mantissa, exponent },
                Sum::Exact {
                    mantissa: m,
                    exponent: e,
                },
            ) => match exact_add(mantissa, exponent, m, e) {
                Some((mantissa, exponent)) => *self = Sum::Exact { mantissa, exponent },
                None => *self = Sum::Float(self.to_f64() + other.to_f64()),
            },
            _ => *self = Sum::Float(self.to_f64() + other.to_f64()),
        }
    }

    /// Converts to the nearest `f64`.
    pub fn to_f64(self) -> f64 {
        match self {
            Sum::Float(total) => total,
            Sum::Exact { mantissa, exponent } => {
                if let Ok(small) = i64::try_from(mantissa) {
                    return Decimal::new(small, exponent).to_f64();
                }
                format!("{mantissa}e{exponent}").parse().unwrap_or(f64::NAN)
            }
        }
    }
}

impl fmt::Display for Sum {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Sum::Exact { mantissa, exponent } => {
                let (mantissa, exponent) = strip_zeros(mantissa, i32::from(exponent));
                write_decimal(formatter, mantissa, exponent)
            }
            Sum::Float(total) => write_float(formatter, total),
        }
    }
}

/// Reads `[-]digits[.digits][e[+-]digits]` into an exact 128-bit mantissa and exponent.
fn parse_i128_decimal(text: &[u8]) -> Option<(i128, i16)> {
    let (negative, rest) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    let split = rest
        .iter()
        .position(|byte| *byte == b'e' || *byte == b'E')
        .unwrap_or(rest.len());
    let (number, exponent_text) = rest.split_at(split);
    let mut exponent = match exponent_text {
        [] => 0,
        [_, digits @ ..] => parse_exponent(digits)?,
    };

    let mut mantissa: i128 = 0;
    let mut seen_digit = false;
    let mut seen_point = false;
    for &byte in number {
        match byte {
            b'0'..=b'9' => {
                mantissa = mantissa
                    .checked_mul(10)?
                    .checked_add(i128::from(byte - b'0'))?;
                seen_digit = true;
                if seen_point {
                    exponent -= 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => return None,
        }
    }
    let exponent = i16::try_from(exponent).ok()?;
    seen_digit.then_some((if negative { -mantissa } else { mantissa }, exponent))
}

/// Adds two decimals exactly, or returns `None` when the result does not fit.
fn exact_add(a: i128, a_exponent: i16, b: i128, b_exponent: i16) -> Option<(i128, i16)> {
    if a_exponent == b_exponent {
        return Some((a.checked_add(b)?, a_exponent));
    }
    let exponent = a_exponent.min(b_exponent);
    let a = a.checked_mul(pow10(a_exponent - exponent)?)?;
    let b = b.checked_mul(pow10(b_exponent - exponent)?)?;
    Some((a.checked_add(b)?, exponent))
}

fn pow10(exponent: i16) -> Option<i128> {
    POWERS_OF_TEN.get(usize::try_from(exponent).ok()?).copied()
}

/// The powers of ten an `i128` holds, by exponent.
const POWERS_OF_TEN: [i128; 39] = {
    let mut powers = [1; 39];
    let mut index = 1;
    while index < powers.len() {
        powers[index] = powers[index - 1] * 10;
        index += 1;
    }
    powers
};

fn strip_zeros(mut mantissa: i128, mut exponent: i32) -> (i128, i32) {
    while mantissa != 0 && mantissa % 10 == 0 {
        mantissa /= 10;
        exponent += 1;
    }
    (mantissa, exponent)
}

/// Writes a float in a form the Prometheus and OpenMetrics parsers accept: integers without a
/// fraction, other values as the shortest text that reads back as the same float.
pub fn write_float(out: &mut impl fmt::Write, value: f64) -> fmt::Result {
    if value.is_nan() {
        return out.write_str("NaN");
    }
    if value.is_infinite() {
        return out.write_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        return write!(out, "{value:e}");
    }
    write!(out, "{value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Decimal {
        Decimal::parse(text.as_bytes()).unwrap_or_else(|| panic!("{text:?} should parse"))
    }

    #[test]
    fn parse_accepts_decimal_forms() {
        assert_eq!(parse("12"), Decimal::new(12, 0));
        assert_eq!(parse("0.017"), Decimal::new(17, -3));
        assert_eq!(parse("-0.5"), Decimal::new(-5, -1));
        assert_eq!(parse("+3"), Decimal::new(3, 0));
        assert_eq!(parse(".25"), Decimal::new(25, -2));
        assert_eq!(parse("5."), Decimal::new(5, 0));
        assert_eq!(parse("1.5e3"), Decimal::new(15, 2));
        assert_eq!(parse("2E-2"), Decimal::new(2, -2));
        assert_eq!(parse("0.000"), Decimal::ZERO);
        assert_eq!(parse("1200"), Decimal::new(12, 2));
    }

    #[test]
    fn parse_rejects_non_numbers() {
        for text in [
            "", "-", "+", ".", "abc", "1.2.3", "1e", "1e+", "NaN", "inf", " 1", "1 ", "1x",
        ] {
            assert_eq!(Decimal::parse(text.as_bytes()), None, "{text:?}");
        }
    }

    #[test]
    fn parse_rounds_to_eighteen_digits() {
        assert_eq!(
            parse("123456789012345678901"),
            Decimal::new(123456789012345679, 3)
        );
        assert_eq!(
            parse("123456789012345678499"),
            Decimal::new(123456789012345678, 3)
        );
        assert_eq!(
            parse("0.1234567890123456789"),
            Decimal::new(123456789012345679, -18)
        );

        // Ties go to the even neighbour; a later nonzero digit makes it no tie.
        assert_eq!(parse("1000000000000000005"), parse("1000000000000000000"));
        assert_eq!(parse("1000000000000000015"), parse("1000000000000000020"));
        assert_eq!(
            parse("10000000000000000050001"),
            parse("10000000000000000100000")
        );
        assert_eq!(
            parse("99999999999999999999"),
            parse("100000000000000000000")
        );

        assert_eq!(Decimal::parse(b"1e999"), None);
        assert_eq!(
            Decimal::parse(b"123456789012345678e300"),
            None,
            "above f64::MAX"
        );
        assert_eq!(parse("1.5e308").to_f64(), 1.5e308);
        assert_eq!(parse("1e-320").to_f64(), 1e-320);
    }

    #[test]
    fn scaling_is_exact() {
        let milli = Decimal::from_f64(0.001).unwrap();
        assert_eq!(milli, Decimal::new(1, -3));
        assert_eq!(
            parse("700").checked_mul(milli).unwrap(),
            Decimal::new(7, -1)
        );
        assert_eq!(parse("700").checked_mul(milli).unwrap().to_f64(), 0.7);
        assert_eq!(parse("2500").checked_mul(milli).unwrap().to_f64(), 2.5);
    }

    #[test]
    fn addition_is_exact() {
        let sum = parse("0.004").checked_add(parse("0.012")).unwrap();
        assert_eq!(sum, Decimal::new(16, -3));
        assert_eq!(
            parse("0.1").checked_add(parse("0.2")).unwrap().to_f64(),
            0.3
        );
    }

    #[test]
    fn to_f64_is_correctly_rounded() {
        assert_eq!(parse("0.1").to_f64(), 0.1);
        assert_eq!(parse("123456789012345678").to_f64(), 123456789012345678.0);
        assert_eq!(parse("1e-30").to_f64(), 1e-30);
        assert_eq!(parse("-2.5e25").to_f64(), -2.5e25);
    }

    #[test]
    fn display_prints_exact_digits() {
        assert_eq!(parse("4.559").to_string(), "4.559");
        assert_eq!(parse("0.7").to_string(), "0.7");
        assert_eq!(parse("0.005").to_string(), "0.005");
        assert_eq!(parse("1e6").to_string(), "1000000");
        assert_eq!(parse("-12.50").to_string(), "-12.5");
        assert_eq!(parse("1e30").to_string(), "1e30");
        assert_eq!(parse("1e-30").to_string(), "1e-30");
    }

    #[test]
    fn sum_stays_exact() {
        let mut sum = Sum::default();
        for text in ["0", "0.009", "0.1", "0.25", "0.7", "1", "2.5"] {
            sum.add(parse(text));
        }
        assert_eq!(sum.to_string(), "4.559");

        let mut tenths = Sum::default();
        (0..10).for_each(|_| tenths.add(parse("0.1")));
        assert_eq!(tenths.to_string(), "1");
    }

    #[test]
    fn sum_counts_ones() {
        let mut sum = Sum::default();
        (0..3).for_each(|_| sum.add_one());
        assert_eq!(sum.to_string(), "3");
        sum.add(parse("0.5"));
        sum.add_one();
        assert_eq!(sum.to_string(), "4.5");
    }

    #[test]
    fn sum_falls_back_to_float_on_overflow() {
        let mut sum = Sum::default();
        sum.add(parse("1e-300"));
        sum.add(parse("1e300"));
        assert_eq!(sum, Sum::Float(1e300));
        assert_eq!(sum.to_string(), "1e300");
    }

    #[test]
    fn sum_parses_its_display() {
        let mut big = Sum::default();
        big.add(parse("123456789012345678"));
        big.add(parse("0.000000000123456789"));
        for sum in [
            Sum::default(),
            big,
            Sum::Float(1e300),
            Sum::Exact {
                mantissa: -15,
                exponent: -1,
            },
        ] {
            let text = sum.to_string();
            let parsed = Sum::parse(&text).unwrap();
            assert_eq!(parsed.to_string(), text);
        }
        assert_eq!(Sum::parse("x"), None);
        assert_eq!(Sum::parse("NaN"), None);
    }

    #[test]
    fn merged_sums_add() {
        let mut left = Sum::default();
        left.add(parse("0.25"));
        let mut right = Sum::default();
        right.add(parse("1.5"));
        left.add_sum(right);
        assert_eq!(left.to_string(), "1.75");
    }

    #[test]
    fn float_formatting() {
        let format = |value: f64| {
            let mut text = String::new();
            write_float(&mut text, value).unwrap();
            text
        };
        assert_eq!(format(1.0), "1");
        assert_eq!(format(0.005), "0.005");
        assert_eq!(format(1e6), "1000000");
        assert_eq!(format(1e21), "1e21");
        assert_eq!(format(f64::INFINITY), "+Inf");
        assert_eq!(format(f64::NAN), "NaN");
    }

    #[test]
    fn compare_by_value() {
        let cases = [
            ("1.20", "1.2", Ordering::Equal),
            ("0", "-0.0", Ordering::Equal),
            ("0.999", "1", Ordering::Less),
            ("-2", "-1.5", Ordering::Less),
            ("-1", "0.001", Ordering::Less),
            ("1e25", "9223372036854775807", Ordering::Greater),
            ("1e-30", "0.5", Ordering::Less),
            ("1796378400.123", "1796378400.12", Ordering::Greater),
        ];
        for (left, right, expected) in cases {
            assert_eq!(
                parse(left).compare(parse(right)),
                expected,
                "{left} vs {right}"
            );
            assert_eq!(
                parse(right).compare(parse(left)),
                expected.reverse(),
                "{right} vs {left}"
            );
        }
        let unnormalized = Decimal::new(1200, -3);
        assert_eq!(unnormalized.compare(parse("1.2")), Ordering::Equal);
    }

    #[test]
    fn subtraction() {
        let difference = |a: &str, b: &str| parse(a).checked_sub(parse(b)).map(|d| d.to_string());
        assert_eq!(
            difference("1796378402.09", "1796378400.012").as_deref(),
            Some("2.078")
        );
        assert_eq!(difference("1", "1.5").as_deref(), Some("-0.5"));
        assert_eq!(
            Decimal::new(0, 0).checked_sub(Decimal::new(i64::MIN, 0)),
            None
        );
    }
}
