//! The command line: `logtally run`, `once` and `check`.
//!
//! Flag names follow the Prometheus exporter conventions (`--web.listen-address`,
//! `--web.telemetry-path`), so operators find the usual knobs under the usual names.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::duration::parse_duration;
use crate::lines::DEFAULT_MAX_LINE_BYTES;

/// Turns proxy access logs into Prometheus metrics.
#[derive(Debug, Parser)]
#[command(name = "logtally", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// The command is parsed once at start, so the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Follow log files, apply the rules to each new line and serve the metrics over HTTP.
    Run(RunArgs),
    /// Apply the rules to whole files once and print the metrics to standard output.
    Once(OnceArgs),
    /// Load rule files and report every error as FILE:LINE:COLUMN: message.
    Check(CheckArgs),
    /// Exit 0 when a running logtally passes its health check (for container health checks).
    Probe(ProbeArgs),
    /// Show what the rules do with log lines: the fields of a matched line and every update
    /// made or skipped, or how far each pattern got on a line none matched.
    Explain(ExplainArgs),
    /// Print a starter rule file for a proxy's log format string.
    Generate(GenerateArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell).
    Completions(CompletionsArgs),
    /// Print the manual page in roff, for `man -l -` or installing as logtally.1.
    Man,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Rule file, or directory of *.toml rule files (repeatable).
    #[arg(long, value_name = "PATH", required = true)]
    pub rules: Vec<PathBuf>,

    /// Log files to follow, as a glob such as '/var/log/envoy/*.log' (repeatable). Needed
    /// unless the rule files name their logs with `files`.
    #[arg(long, value_name = "GLOB")]
    pub logs: Vec<String>,

    /// Paths never to follow even when a --logs glob matches them, as a glob (repeatable).
    #[arg(long = "logs.exclude", value_name = "GLOB")]
    pub logs_exclude: Vec<String>,

    /// Skip files not modified for this long; a skipped file that changes is followed from
    /// its size at the time it was skipped.
    #[arg(long = "logs.ignore-older", value_name = "DURATION", value_parser = parse_duration)]
    pub logs_ignore_older: Option<Duration>,

    /// Address to serve metrics on; ':PORT' listens on all interfaces.
    #[arg(
        long = "web.listen-address",
        value_name = "HOST:PORT",
        default_value = ":3904"
    )]
    pub listen_address: String,

    /// Path under which to serve the metrics.
    #[arg(
        long = "web.telemetry-path",
        value_name = "PATH",
        default_value = "/metrics"
    )]
    pub telemetry_path: String,

    /// YAML file with TLS and basic auth settings, in the Prometheus exporter toolkit's web
    /// config format. It is loaded again when it or a file it names changes.
    #[arg(
        long = "web.config.file",
        value_name = "FILE",
        env = "LOGTALLY_WEB_CONFIG_FILE"
    )]
    pub web_config_file: Option<PathBuf>,

    /// Connections served at once; further ones wait until one closes.
    #[arg(
        long = "web.max-connections",
        value_name = "COUNT",
        default_value_t = DEFAULT_MAX_CONNECTIONS,
        value_parser = clap::value_parser!(u16).range(1..)
    )]
    pub max_connections: u16,

    /// File that stores each followed file's read position across restarts.
    #[arg(long, value_name = "FILE")]
    pub positions: Option<PathBuf>,

    /// Interval between saves of the positions file (it is also saved on shutdown).
    #[arg(
        long = "positions.save-interval",
        value_name = "DURATION",
        default_value = "2s",
        value_parser = parse_duration
    )]
    pub positions_save_interval: Duration,

    /// Remove a labelled series not updated for this long, for metrics without their own
    /// `expire`.
    #[arg(long = "metrics.expire", value_name = "DURATION", value_parser = parse_duration)]
    pub metrics_expire: Option<Duration>,

    /// Serve POST /-/reload, which reloads the rules as SIGHUP does.
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,

    /// Reload the rules when a rule file changes.
    #[arg(long)]
    pub watch_rules: bool,

    /// Read files present at start from their first line instead of their end. Used only when
    /// there is no positions file yet.
    #[arg(long)]
    pub from_start: bool,

    /// Interval between glob expansions and size checks that catch missed file events.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub rescan_interval: Duration,

    /// Poll files at this interval instead of using file events (for NFS and similar).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub poll_interval: Option<Duration>,

    /// Lines longer than this many bytes are cut to it before the rules see them.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = DEFAULT_MAX_LINE_BYTES,
        value_parser = parse_positive_bytes
    )]
    pub max_line_bytes: usize,

    /// Log level: error, warn, info, debug or trace.
    #[arg(long = "log.level", value_name = "LEVEL", default_value = "info")]
    pub log_level: String,

    /// Log format: logfmt or json.
    #[arg(long = "log.format", value_name = "FORMAT", default_value = "logfmt")]
    pub log_format: String,

    #[command(flatten)]
    pub remote_write: RemoteWriteArgs,
}

/// The `--remote-write.*` flags of `logtally run`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Remote write")]
pub struct RemoteWriteArgs {
    /// URL to push the metrics to with the Prometheus remote-write protocol, such as
    /// http://prometheus:9090/api/v1/write (repeatable). Each URL gets its own queue, and the
    /// other --remote-write flags apply to all of them.
    #[arg(long = "remote-write.url", value_name = "URL")]
    pub urls: Vec<String>,

    /// Interval between two pushes; each push carries the value of every series at that time.
    #[arg(
        long = "remote-write.interval",
        value_name = "DURATION",
        default_value = "15s",
        value_parser = parse_duration,
        requires = "urls"
    )]
    pub interval: Duration,

    /// Time allowed for one push, from connecting to reading the response status. It also
    /// bounds the wait for the last push on shutdown.
    #[arg(
        long = "remote-write.timeout",
        value_name = "DURATION",
        default_value = "10s",
        value_parser = parse_duration,
        requires = "urls"
    )]
    pub timeout: Duration,

    /// Pushes kept for each URL while it cannot be reached; when the queue is full, the
    /// oldest is dropped. Counter values are cumulative, so a dropped push loses no count.
    #[arg(
        long = "remote-write.max-pending",
        value_name = "COUNT",
        default_value_t = DEFAULT_MAX_PENDING,
        value_parser = clap::value_parser!(u16).range(1..),
        requires = "urls"
    )]
    pub max_pending: u16,

    /// User name for HTTP basic auth; needs --remote-write.basic-auth.password-file.
    #[arg(
        long = "remote-write.basic-auth.username",
        value_name = "NAME",
        requires_all = ["urls", "password_file"]
    )]
    pub username: Option<String>,

    /// File with the basic auth password, read again before every push so that a changed
    /// password applies without a restart. A final line feed is not part of the password.
    #[arg(
        long = "remote-write.basic-auth.password-file",
        value_name = "FILE",
        requires_all = ["urls", "username"]
    )]
    pub password_file: Option<PathBuf>,

    /// File with a bearer token, sent as `Authorization: Bearer TOKEN` and read again before
    /// every push, as rotated service account tokens need.
    #[arg(
        long = "remote-write.bearer-token-file",
        value_name = "FILE",
        requires = "urls",
        conflicts_with = "username"
    )]
    pub bearer_token_file: Option<PathBuf>,

    /// PEM file with the CA certificates that https:// URLs are verified with, in place of
    /// the system's CA certificates.
    #[arg(long = "remote-write.ca-file", value_name = "FILE", requires = "urls")]
    pub ca_file: Option<PathBuf>,

    /// Label added to every pushed series that does not have it, as NAME=VALUE
    /// (repeatable). job="logtally" and instance="HOSTNAME" are added unless set here; an
    /// empty VALUE, as in instance=, leaves the label out.
    #[arg(
        long = "remote-write.external-label",
        value_name = "NAME=VALUE",
        requires = "urls"
    )]
    pub external_labels: Vec<String>,
}

#[derive(Debug, Args)]
pub struct OnceArgs {
    /// Rule file, or directory of *.toml rule files (repeatable).
    #[arg(long, value_name = "PATH", required = true)]
    pub rules: Vec<PathBuf>,

    /// Log files to read, each from its first line to its last; `-` is standard input and
    /// `.gz` files are decompressed.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Print a table for people instead of the Prometheus text format. It shows each series'
    /// value and its rate per second over the time span of the log's timestamps. Histograms
    /// add their sum and the p50, p90 and p99 that PromQL's histogram_quantile would estimate
    /// from the buckets.
    #[arg(long)]
    pub summary: bool,

    /// The field whose timestamps give --summary its time span, from the earliest to the
    /// latest. A plain number in it counts as seconds since the epoch. By default, a line's
    /// time comes from the first of the fields time, timestamp, @timestamp, time_local,
    /// time_iso8601 and start_time that contains a timestamp (nginx $time_local or ISO 8601).
    #[arg(
        long = "summary-time-field",
        value_name = "FIELD",
        requires = "summary"
    )]
    pub summary_time_field: Option<String>,

    /// Lines longer than this many bytes are cut to it before the rules see them.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = DEFAULT_MAX_LINE_BYTES,
        value_parser = parse_positive_bytes
    )]
    pub max_line_bytes: usize,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Rule files or directories of *.toml rule files.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The proxy whose format string follows: nginx or envoy.
    #[arg(value_name = "PROXY", value_parser = ["nginx", "envoy"])]
    pub proxy: String,

    /// The format string, as in nginx's log_format directive or Envoy's access-log format
    /// (quote it for the shell). Without it, envoy uses Envoy's default format.
    #[arg(value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Rule file, or directory of *.toml rule files (repeatable).
    #[arg(long, value_name = "PATH", required = true)]
    pub rules: Vec<PathBuf>,

    /// The log line to explain; without it, each line of standard input is explained.
    #[arg(value_name = "LINE")]
    pub line: Option<String>,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// URL to request; the check passes when it responds with status 200. The default is
    /// http://127.0.0.1:3904/healthz, or https://127.0.0.1:3904/healthz when the web config
    /// has TLS.
    #[arg(value_name = "URL")]
    pub url: Option<String>,

    /// The web config file of the logtally to probe. With TLS in it, the probe can request
    /// https:// URLs, and trusts exactly the certificate in its cert_file.
    #[arg(
        long = "web.config.file",
        value_name = "FILE",
        env = "LOGTALLY_WEB_CONFIG_FILE"
    )]
    pub web_config_file: Option<PathBuf>,

    /// How long to wait for the response.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Default of `--remote-write.max-pending`: ten minutes of pushes at the default interval,
/// which rides out a receiver restart without thinning the pushed history.
pub const DEFAULT_MAX_PENDING: u16 = 40;

/// Default of `--web.max-connections`: far more than the few Prometheus servers and probes
/// that scrape one logtally keep open, and few enough that held-open connections cannot take
/// the file descriptors that followed logs need.
pub const DEFAULT_MAX_CONNECTIONS: u16 = 256;

/// Parses a byte count of at least 1.
fn parse_positive_bytes(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1 byte".to_owned()),
        Ok(bytes) => Ok(bytes),
        Err(_) => Err(format!(
            "invalid byte count {text:?}: write a whole number such as 1048576"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts() {
        assert_eq!(parse_positive_bytes("1048576"), Ok(1_048_576));
        assert_eq!(
            parse_positive_bytes("0").unwrap_err(),
            "must be at least 1 byte"
        );
        assert!(parse_positive_bytes("1MB").is_err());
    }

    #[test]
    fn cli_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
