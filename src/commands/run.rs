//! `logtally run`: the daemon that follows logs and serves their metrics.
//!
//! Two threads share one [`Store`] behind a mutex. The tailer thread reads files, applies the
//! rules and records updates, taking the lock once per read (up to 256 KiB of lines), never
//! per line. The main thread runs the HTTP server on a single-threaded tokio runtime and takes
//! the lock for each scrape.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use tracing::{error, info, warn};

use crate::cli::RunArgs;
use crate::engine::Engine;
use crate::exposition;
use crate::http::{self, Site};
use crate::metrics::Store;
use crate::metrics::now_ms;
use crate::rules::RuleSet;
use crate::self_metrics;
use crate::state::{self, SavedFile};
use crate::tail::{Feed, LineSink, TailConfig, TailStats, Tailer};

/// Runs the daemon until SIGINT or SIGTERM.
pub fn run(args: &RunArgs) -> ExitCode {
    if let Err(message) = crate::logging::init(&args.log_level) {
        eprintln!("logtally: {message}");
        return ExitCode::FAILURE;
    }
    let Some(rules) = super::load_rules(&args.rules) else {
        return ExitCode::FAILURE;
    };
    info!(
        version = env!("CARGO_PKG_VERSION"),
        rule_files = rules.files.len(),
        metrics = rules.metrics.len(),
        "Starting logtally."
    );
    if !args.telemetry_path.starts_with('/') {
        eprintln!(
            "logtally: invalid --web.telemetry-path {:?}: it must start with /",
            args.telemetry_path
        );
        return ExitCode::FAILURE;
    }

    let config = TailConfig {
        globs: args.logs.clone(),
        from_start: args.from_start,
        rescan_interval: args.rescan_interval,
        poll_interval: args.poll_interval,
        max_line_bytes: args.max_line_bytes,
        checkpoint_interval: args
            .positions
            .as_ref()
            .map(|_| args.positions_save_interval),
        exclude: args.logs_exclude.clone(),
        ignore_older: args.logs_ignore_older,
    };
    let mut tailer = match Tailer::new(config) {
        Ok(tailer) => tailer,
        Err(message) => {
            eprintln!("logtally: {message}");
            return ExitCode::FAILURE;
        }
    };

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("logtally: failed to start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match runtime.block_on(http::bind(&args.listen_address)) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "logtally: failed to listen on {}: {error}",
                args.listen_address
            );
            return ExitCode::FAILURE;
        }
    };

    let mut store = Store::new(&rules);
    if let Some(path) = &args.positions {
        restore_state(path, &rules, &mut store, &mut tailer);
    }
    let store = Arc::new(Mutex::new(store));
    let tail_stats = tailer.stats();
    let stopper = tailer.stopper();
    let mut sink = EngineSink {
        engine: Engine::new(rules.clone()),
        store: store.clone(),
        positions: args.positions.clone(),
        last_save_error: None,
    };
    let tail_thread = thread::Builder::new()
        .name("tailer".into())
        .spawn(move || tailer.run(&mut sink))
        .expect("spawning a thread");

    let site = Site {
        telemetry_path: args.telemetry_path.clone(),
        scrape: scrape_fn(rules, store, tail_stats),
    };
    runtime.block_on(async {
        http::log_listening(&listener, &site.telemetry_path);
        http::serve(listener, site, shutdown_signal()).await;
    });

    info!("Shutting down.");
    stopper.stop();
    if tail_thread.join().is_err() {
        error!("The tailer thread panicked.");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Loads the positions file, if any, into the store and the tailer. A missing or empty file
/// is a first run; an unreadable or invalid one is logged and also gives a fresh start.
fn restore_state(path: &Path, rules: &RuleSet, store: &mut Store, tailer: &mut Tailer) {
    match state::load(path) {
        Ok(Some(saved)) => {
            let summary = state::restore(rules, store, &saved);
            info!(
                path = %path.display(),
                files = saved.files.len(),
                restored_metrics = summary.restored_families,
                changed_metrics = summary.dropped_families,
                invalid_series = summary.invalid_series,
                "Restored positions and metric values."
            );
            tailer.restore(saved.files);
        }
        Ok(None) => info!(path = %path.display(), "No positions file yet; this is a first run."),
        Err(error) => warn!(%error, "Ignoring the positions file; starting afresh."),
    }
}

/// Applies rules to the lines the tailer reads, and saves the state file when asked.
struct EngineSink {
    engine: Engine,
    store: Arc<Mutex<Store>>,
    positions: Option<PathBuf>,
    /// The kind of the last failed save, so a failure that repeats is logged once.
    last_save_error: Option<std::io::ErrorKind>,
}

impl LineSink for EngineSink {
    fn lines(&mut self, _path: &Path, feed: &mut Feed) {
        let mut store = lock(&self.store);
        feed(&mut |line| self.engine.apply(line, &mut store));
    }

    fn checkpoint(&mut self, files: Vec<SavedFile>) {
        let Some(path) = &self.positions else {
            return;
        };
        let snapshot = {
            let store = lock(&self.store);
            state::snapshot(self.engine.rules(), &store, files, now_ms())
        };
        match state::write_atomic(path, &snapshot) {
            Ok(()) => {
                if self.last_save_error.take().is_some() {
                    info!(path = %path.display(), "Saving the positions file works again.");
                }
            }
            Err(error) => {
                if self.last_save_error.replace(error.kind()) != Some(error.kind()) {
                    error!(path = %path.display(), %error, "Failed to save the positions file; will retry.");
                }
            }
        }
    }
}

fn scrape_fn(rules: Arc<RuleSet>, store: Arc<Mutex<Store>>, tail: TailStats) -> http::Scrape {
    Arc::new(move || {
        let files = tail.lock().clone();
        let store = lock(&store);
        let own = self_metrics::families(&rules, &store, &files);
        let mut families: Vec<_> = rules.families.iter().zip(&store.families).collect();
        families.extend(own.iter().map(|(definition, series)| (definition, series)));
        let mut text = String::with_capacity(64 * 1024);
        exposition::encode(&mut text, &mut families);
        text
    })
}

/// Locks the store. A panic while the lock was held leaves counts that are still valid
/// numbers, so a poisoned lock is used as it is.
fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits for the next signal on `stream`, or forever if there is no stream.
async fn recv_optional(stream: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match stream {
        Some(stream) => stream.recv().await,
        None => std::future::pending().await,
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};

    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(error) => {
            error!(%error, "Failed to listen for SIGTERM.");
            return std::future::pending().await;
        }
    };
    let mut hangup = signal(SignalKind::hangup()).ok();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return info!(signal = "SIGINT", "Received signal."),
            _ = terminate.recv() => return info!(signal = "SIGTERM", "Received signal."),
            Some(()) = recv_optional(&mut hangup) => {
                warn!(signal = "SIGHUP", "Received signal; reloading rules is not supported, so nothing changes.");
            }
        }
    }
}
