//! logtally turns proxy access logs into Prometheus metrics.
//!
//! Data flows through one module per stage:
//!
//! ```text
//! files ──> tail ──> lines ──> engine (rules) ──> metrics ──> exposition ──> http
//! ```
//!
//! - [`tail`] finds files by glob and follows them across rotation.
//! - [`lines`] splits the bytes read into complete lines.
//! - [`rules`] loads rule files; [`engine`] applies them to each line.
//! - [`metrics`] keeps the series; [`exposition`] writes them in the Prometheus text format.
//! - [`http`] serves the exposition; [`remote_write`] pushes the same metrics to a receiver.
//! - [`commands`] wires the stages for each subcommand.

pub mod cli;
pub mod commands;
pub mod decimal;
pub mod duration;
pub mod engine;
pub mod exposition;
pub mod generate;
pub mod http;
pub mod lines;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod process;
pub mod protowire;
pub mod remote_write;
pub mod rules;
pub mod self_metrics;
pub mod state;
pub mod status;
pub mod tail;
pub mod throttle;
pub mod web_config;
