//! Process metrics in the names every Prometheus client library uses (`process_*`), read from
//! `/proc/self`, plus `logtally_build_info`. On a system without `/proc` the process metrics
//! are left out.

use std::fs;

use crate::decimal::Decimal;
use crate::metrics::{FamilySeries, KEY_SEPARATOR, Series};
use crate::rules::{FamilyDef, MetricKind};
use crate::self_metrics::OwnFamily;

/// What `/proc/self` says about this process.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub open_fds: u64,
    pub max_fds: Option<u64>,
    pub start_time_seconds: f64,
}

impl ProcessStats {
    /// Reads the current values, or `None` where `/proc` is not available.
    pub fn read() -> Option<ProcessStats> {
        let stat = fs::read_to_string("/proc/self/stat").ok()?;
        // The command name may contain spaces and parentheses; the fields after it do not.
        let after_name = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // Fields 14, 15 and 22 of proc(5) are utime, stime and starttime; `fields[0]` is field 3.
        let ticks_per_second = clock_ticks_per_second();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        let start_ticks: f64 = fields.get(19)?.parse().ok()?;

        let status = fs::read_to_string("/proc/self/status").ok()?;
        Some(ProcessStats {
            cpu_seconds: (utime + stime) / ticks_per_second,
            resident_bytes: status_kib(&status, "VmRSS:")? * 1024,
            virtual_bytes: status_kib(&status, "VmSize:")? * 1024,
            open_fds: fs::read_dir("/proc/self/fd").ok()?.count() as u64,
            max_fds: max_open_files(),
            start_time_seconds: boot_time()? + start_ticks / ticks_per_second,
        })
    }

    /// The `process_*` families.
    pub fn families(&self) -> Vec<OwnFamily> {
        let mut families = vec![
            one(
                "process_cpu_seconds_total",
                MetricKind::Counter,
                "Total user and system CPU time spent in seconds.",
                decimal(self.cpu_seconds),
            ),
            one(
                "process_resident_memory_bytes",
                MetricKind::Gauge,
                "Resident memory size in bytes.",
                Decimal::new(self.resident_bytes as i64, 0),
            ),
            one(
                "process_virtual_memory_bytes",
                MetricKind::Gauge,
                "Virtual memory size in bytes.",
                Decimal::new(self.virtual_bytes as i64, 0),
            ),
            one(
                "process_open_fds",
                MetricKind::Gauge,
                "Number of open file descriptors.",
                Decimal::new(self.open_fds as i64, 0),
            ),
            one(
                "process_start_time_seconds",
                MetricKind::Gauge,
                "Start time of the process since the Unix epoch in seconds.",
                decimal(self.start_time_seconds),
            ),
        ];
        if let Some(max) = self.max_fds {
            families.push(one(
                "process_max_fds",
                MetricKind::Gauge,
                "Maximum number of open file descriptors.",
                Decimal::new(i64::try_from(max).unwrap_or(i64::MAX), 0),
            ));
        }
        families
    }
}

/// `logtally_build_info{version} 1`, the usual way to export a build's version.
pub fn build_info() -> OwnFamily {
    let definition = FamilyDef {
        name: "logtally_build_info".to_owned(),
        help: "A metric with a constant 1 value labelled with the version of logtally.".to_owned(),
        kind: MetricKind::Gauge,
        label_names: vec!["version".to_owned()],
        buckets: Vec::new(),
        max_series: usize::MAX,
        expire: None,
        native: false,
    };
    let mut key = env!("CARGO_PKG_VERSION").as_bytes().to_vec();
    key.push(KEY_SEPARATOR);
    let mut series = FamilySeries::default();
    series.insert(
        key.into(),
        Series::Gauge {
            value: Decimal::ONE,
            stamp: 0,
        },
    );
    (definition, series)
}

fn one(name: &str, kind: MetricKind, help: &str, value: Decimal) -> OwnFamily {
    let definition = FamilyDef {
        name: name.to_owned(),
        help: help.to_owned(),
        kind,
        label_names: Vec::new(),
        buckets: Vec::new(),
        max_series: usize::MAX,
        expire: None,
        native: false,
    };
    let value = match kind {
        MetricKind::Counter => {
            let mut sum = crate::decimal::Sum::default();
            sum.add(value);
            Series::Counter(sum)
        }
        _ => Series::Gauge { value, stamp: 0 },
    };
    let mut series = FamilySeries::default();
    series.insert(Box::default(), value);
    (definition, series)
}

/// Converts a measured float, keeping three decimals (milliseconds for times).
fn decimal(value: f64) -> Decimal {
    Decimal::new((value * 1000.0).round() as i64, -3)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a system constant and has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

fn max_open_files() -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn boot_time() -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|line| line.starts_with("btime "))?;
    line["btime ".len()..].trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let stats = ProcessStats::read().expect("/proc is available on Linux");
        assert!(stats.resident_bytes > 0);
        assert!(stats.open_fds >= 3, "stdin, stdout and stderr at least");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        assert!(stats.start_time_seconds <= now.as_secs_f64() + 1.0);
        assert!(
            stats.start_time_seconds > now.as_secs_f64() - 3600.0,
            "started within the hour"
        );
    }

    #[test]
    fn status_values_parse() {
        let status = "Name:\tlogtally\nVmSize:\t  12345 kB\nVmRSS:\t    678 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(678));
        assert_eq!(status_kib(status, "VmSize:"), Some(12345));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }
}
