//! `logtally completions` and `logtally man`: shell completions and the manual page, generated
//! from the command-line definition so they never drift from it.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

/// Prints the completion script for a shell.
pub fn completions(args: &CompletionsArgs) -> ExitCode {
    // Generated into memory first: the generator panics on a write error such as a closed pipe.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "logtally", &mut script);
    print_all(&script)
}

/// Prints the manual page in roff.
pub fn man() -> ExitCode {
    let mut page = Vec::new();
    if let Err(error) = clap_mangen::Man::new(Cli::command()).render(&mut page) {
        eprintln!("logtally: failed to render the manual page: {error}");
        return ExitCode::FAILURE;
    }
    print_all(&page)
}

/// Writes to standard output; a reader that closed the pipe early is not an error.
fn print_all(bytes: &[u8]) -> ExitCode {
    match io::stdout().write_all(bytes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("logtally: failed to write to standard output: {error}");
            ExitCode::FAILURE
        }
    }
}
