//! Durations as written in flags and rule files: a number and a unit, as in `250ms`, `10s`,
//! `5m`, `1h` or `1m30s`.

use std::time::Duration;

/// Maximum duration accepted, so that adding one to the current time cannot overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Parses a duration such as `250ms`, `10s`, `5m`, `1h` or `1m30s`. Zero is rejected: every
/// duration flag sets an interval or a wait, and zero would make it spin.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "invalid duration {text:?}: write a number and a unit (ms, s, m, h), \
             as in 250ms, 10s or 1m30s"
        )
    };
    if text.is_empty() {
        return Err(invalid());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(invalid)?;
        let (number, tail) = rest.split_at(digits);
        let unit_length = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_length);
        let number: f64 = number.parse().map_err(|_| invalid())?;
        let seconds = match unit {
            "ms" => number / 1000.0,
            "s" => number,
            "m" => number * 60.0,
            "h" => number * 3600.0,
            _ => return Err(invalid()),
        };
        let part = Duration::try_from_secs_f64(seconds).map_err(|_| invalid())?;
        // Capped so that many large parts cannot overflow; the sum is checked below.
        total = total
            .saturating_add(part)
            .min(MAX_DURATION + Duration::from_secs(1));
        rest = next;
    }
    if total.is_zero() {
        return Err(format!(
            "invalid duration {text:?}: it must be greater than zero"
        ));
    }
    if total > MAX_DURATION {
        return Err(format!(
            "invalid duration {text:?}: it must be at most 87600h (ten years)"
        ));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn durations_compound() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(
            parse_duration("1h2m3s4ms"),
            Ok(Duration::from_millis(3_723_004))
        );
    }

    #[test]
    fn durations_rejected() {
        let invalid = "write a number and a unit (ms, s, m, h), as in 250ms, 10s or 1m30s";
        for text in ["10", "s", "10d", "", "1.2.3s", "-5s"] {
            let error = parse_duration(text).unwrap_err();
            assert_eq!(
                error,
                format!("invalid duration {text:?}: {invalid}"),
                "{text}"
            );
        }
        let long = parse_duration("87601h").unwrap_err();
        assert_eq!(
            long,
            "invalid duration \"87601h\": it must be at most 87600h (ten years)"
        );
        let huge = "9000000000000000000s".repeat(3);
        assert_eq!(
            parse_duration(&huge).unwrap_err(),
            format!("invalid duration {huge:?}: it must be at most 87600h (ten years)")
        );
        let zero = parse_duration("0s").unwrap_err();
        assert_eq!(
            zero,
            "invalid duration \"0s\": it must be greater than zero"
        );
    }
}
