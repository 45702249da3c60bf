//! Log output for the daemon: `tracing` events written to standard error, one line each, in
//! logfmt (the default, as Prometheus exporters write it) or JSON. Warnings and errors are
//! also kept in a ring for the status page (see [`recent`]).

pub mod recent;

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use recent::{RecentEvents, RecordRecent};

/// Installs the log subscriber at `level` (error, warn, info, debug or trace) in `format`
/// (logfmt or json). Warnings and errors also go to `recent`, whatever the level.
pub fn init(level: &str, format: &str, recent: RecentEvents) -> Result<(), String> {
    if !["error", "warn", "info", "debug", "trace"].contains(&level) {
        return Err(format!(
            "invalid --log.level {level:?}: use error, warn, info, debug or trace"
        ));
    }
    let output: Box<dyn Layer<Registry> + Send + Sync> = match format {
        "logfmt" => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .event_format(Logfmt)
            .boxed(),
        "json" => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .boxed(),
        other => {
            return Err(format!(
                "invalid --log.format {other:?}: use logfmt or json"
            ));
        }
    };
    let filter = EnvFilter::new(format!("logtally={level},warn"));
    tracing_subscriber::registry()
        .with(output.with_filter(filter))
        .with(RecordRecent(recent).with_filter(LevelFilter::WARN))
        .try_init()
        .map_err(|error| format!("failed to set up logging: {error}"))
}

/// Formats a time in milliseconds since the Unix epoch as UTC in RFC 3339 with milliseconds,
/// such as `2026-12-04T15:20:00.000Z`.
pub fn format_time_ms(time_ms: u64) -> String {
    let seconds = time_ms / 1000;
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_date(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        time_ms % 1000
    )
}

/// Writes `ts=... level=info msg="..." key=value ...`, quoting values with spaces or quotes.
struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let now = format_time_ms(crate::metrics::now_ms());
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        write!(writer, "ts={now} level={level}")?;
        let mut fields = LogfmtFields {
            writer: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writeln!(writer)
    }
}

struct LogfmtFields<'a, 'b> {
    writer: &'a mut Writer<'b>,
    result: fmt::Result,
}

impl Visit for LogfmtFields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.write(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, &format!("{value:?}"));
    }
}

impl LogfmtFields<'_, '_> {
    fn write(&mut self, field: &Field, value: &str) {
        let key = if field.name() == "message" {
            "msg"
        } else {
            field.name()
        };
        let plain = !value.is_empty() && !value.contains([' ', '"', '=', '\n', '\\']);
        self.result = self.result.and_then(|()| {
            if plain {
                write!(self.writer, " {key}={value}")
            } else {
                write!(self.writer, " {key}={value:?}")
            }
        });
    }
}

/// Converts days since 1970-01-01 to a year, month and day of the proleptic Gregorian
/// calendar, counting in 400-year eras of 146,097 days.
fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(19_723), (2024, 1, 1));
        assert_eq!(civil_date(20_792), (2026, 12, 5));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
    }

    #[test]
    fn times_formatted() {
        assert_eq!(format_time_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_time_ms(1_796_484_007_089),
            "2026-12-05T15:20:07.089Z"
        );
    }
}
