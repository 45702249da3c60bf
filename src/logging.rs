//! Log output for the daemon: `tracing` events written to standard error, one line each.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the log subscriber at `level` (error, warn, info, debug or trace).
pub fn init(level: &str) -> Result<(), String> {
    if !["error", "warn", "info", "debug", "trace"].contains(&level) {
        return Err(format!(
            "invalid --log.level {level:?}: use error, warn, info, debug or trace"
        ));
    }
    let filter = EnvFilter::new(format!("logtally={level},warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init()
        .map_err(|error| format!("failed to set up logging: {error}"))
}
