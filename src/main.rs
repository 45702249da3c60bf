use std::process::ExitCode;

use clap::Parser;
use logtally::cli::{Cli, Command};
use logtally::commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Once(args) => commands::once::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Probe(args) => commands::probe::run(args),
        Command::Explain(args) => commands::explain::run(args),
        Command::Generate(args) => commands::generate::run(args),
        Command::Completions(args) => commands::documentation::completions(args),
        Command::Man => commands::documentation::man(),
    }
}
