//! `logtally generate`: prints a starter rule file for a proxy's log format string.

use std::process::ExitCode;

use crate::cli::GenerateArgs;

/// Runs the command: exit status 0 with the rule file on standard output, 1 on an error.
pub fn run(args: &GenerateArgs) -> ExitCode {
    match crate::generate::nginx(&args.format) {
        Ok(rules) => {
            print!("{rules}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("logtally: cannot generate rules: {message}");
            ExitCode::FAILURE
        }
    }
}
