//! `logtally run`: the daemon.

use std::process::ExitCode;

use crate::cli::RunArgs;

/// Runs the daemon until it is stopped.
pub fn run(_args: &RunArgs) -> ExitCode {
    ExitCode::FAILURE
}
