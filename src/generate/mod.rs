//! Starter rule files generated from a proxy's log format string, so users can paste the format
//! their proxy already uses instead of writing a regex: [`nginx`] reads an nginx `log_format`,
//! [`envoy`] an Envoy access-log format string.

pub mod envoy;
pub mod nginx;

/// A `labels` entry: the bare field name, or `{ label = "field" }` when they differ.
fn label(name: &str, field: &str) -> String {
    if name == field {
        format!("\"{name}\"")
    } else {
        format!("{{ {name} = \"{field}\" }}")
    }
}

/// A `[[metric]]` table; `rest` holds its keys after `help`, one per line.
fn metric(name: &str, kind: &str, help: &str, rest: &str) -> String {
    format!("\n[[metric]]\nname = \"{name}\"\ntype = \"{kind}\"\nhelp = \"{help}\"\n{rest}")
}
