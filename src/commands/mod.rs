//! The subcommands, each wiring the pipeline stages together for one way of running.

pub mod check;
pub mod documentation;
pub mod explain;
pub mod generate;
pub mod once;
pub mod probe;
pub mod run;

use std::path::PathBuf;
use std::sync::Arc;

use crate::rules::RuleSet;

/// Loads rules for a command, printing every load error to standard error.
pub fn load_rules(paths: &[PathBuf]) -> Option<Arc<RuleSet>> {
    match RuleSet::load(paths) {
        Ok(rules) => Some(Arc::new(rules)),
        Err(errors) => {
            eprintln!("{errors}");
            None
        }
    }
}
