//! `logtally check`: loads rule files, reports every problem with its position, and runs the
//! tests written in them.

use std::process::ExitCode;

use crate::cli::CheckArgs;
use crate::rules::testing;

/// Runs the command: exit status 0 when every file loads and every test passes, 1 otherwise.
pub fn run(args: &CheckArgs) -> ExitCode {
    let Some(rules) = super::load_rules(&args.paths) else {
        return ExitCode::FAILURE;
    };
    let (tests, failures) = testing::run_all(&rules);
    for failure in &failures {
        eprint!("{failure}");
    }
    if !failures.is_empty() {
        eprintln!("{} of {tests} test(s) failed", failures.len());
        return ExitCode::FAILURE;
    }
    println!(
        "{} rule file(s), {} metric(s), {tests} test(s): ok",
        rules.files.len(),
        rules.metrics.len()
    );
    ExitCode::SUCCESS
}
