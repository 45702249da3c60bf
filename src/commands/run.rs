//! `logtally run`: the daemon that follows logs and serves their metrics.
//!
//! Two threads share one [`Store`] behind a mutex. The tailer thread reads files, applies the
//! rules and records updates, taking the lock once per read (up to 256 KiB of lines), never
//! per line. The main thread runs the HTTP server on a single-threaded tokio runtime and takes
//! the lock for each scrape.

use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use tracing::{error, info};

use crate::cli::RunArgs;
use crate::engine::Engine;
use crate::exposition;
use crate::http::{self, Site};
use crate::metrics::Store;
use crate::rules::RuleSet;
use crate::self_metrics;
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
    if !args.telemetry_path.starts_with('/') {
        eprintln!(
            "logtally: invalid --web.telemetry-path {:?}: it must start with /",
            args.telemetry_path
        );
        return ExitCode::FAILURE;
    }
    if args.positions.is_some() {
        eprintln!("logtally: --positions is not supported yet; offsets are not saved");
    }

    let config = TailConfig {
        globs: args.logs.clone(),
        from_start: args.from_start,
        rescan_interval: args.rescan_interval,
        poll_interval: args.poll_interval,
        max_line_bytes: args.max_line_bytes,
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

    let store = Arc::new(Mutex::new(Store::new(&rules)));
    let tail_stats = tailer.stats();
    let stopper = tailer.stopper();
    let mut sink = EngineSink {
        engine: Engine::new(rules.clone()),
        store: store.clone(),
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

/// Applies rules to the lines the tailer reads.
struct EngineSink {
    engine: Engine,
    store: Arc<Mutex<Store>>,
}

impl LineSink for EngineSink {
    fn lines(&mut self, _path: &Path, feed: &mut Feed) {
        let mut store = lock(&self.store);
        feed(&mut |line| self.engine.apply(line, &mut store));
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

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};

    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(error) => {
            error!(%error, "Failed to listen for SIGTERM.");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!(signal = "SIGINT", "Received signal."),
        _ = terminate.recv() => info!(signal = "SIGTERM", "Received signal."),
    }
}
