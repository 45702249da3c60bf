//! `logtally generate`: prints a starter rule file for a proxy's log format string.

use std::process::ExitCode;

use crate::cli::GenerateArgs;
use crate::generate::{envoy, nginx};

/// Runs the command: exit status 0 with the rule file on standard output, 1 on an error.
pub fn run(args: &GenerateArgs) -> ExitCode {
    let format = args.format.as_deref();
    let generated = match args.proxy.as_str() {
        "envoy" => envoy::rule_file(format).map_err(|error| error.to_string()),
        _ => match format {
            Some(format) => nginx::rule_file(format),
            None => Err("nginx needs its log_format string, such as \
                 '$remote_addr [$time_local] \"$request\" $status'"
                .to_owned()),
        },
    };
    match generated {
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
