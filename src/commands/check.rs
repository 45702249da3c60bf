//! `logtally check`: loads rule files and reports every problem with its position.

use std::process::ExitCode;

use crate::cli::CheckArgs;

/// Runs the command: exit status 0 when every file loads, 1 otherwise.
pub fn run(args: &CheckArgs) -> ExitCode {
    let Some(rules) = super::load_rules(&args.paths) else {
        return ExitCode::FAILURE;
    };
    println!(
        "{} rule file(s), {} metric(s): ok",
        rules.files.len(),
        rules.metrics.len()
    );
    ExitCode::SUCCESS
}
