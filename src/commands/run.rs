//! `logtally run`: the daemon that follows logs and serves their metrics.
//!
//! The tailer thread reads files, applies the rules and records updates into the [`Live`]
//! state, taking its lock once per read (up to 256 KiB of lines), never per line. The main
//! thread runs the HTTP server and signal handling on a single-threaded tokio runtime; a scrape
//! takes the same lock, and a reload swaps rules and store under it. With `--remote-write.url`,
//! a third thread pushes the same metrics ([`crate::remote_write`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use tracing::{error, info, warn};

use crate::cli::RunArgs;
use crate::engine::{Engine, SourceRule, attach_sources};
use crate::http::{self, Site};
use crate::live::{Current, Live};
use crate::logging::recent::RecentEvents;
use crate::metrics::{Store, now_ms};
use crate::remote_write::{self, RemoteWrite};
use crate::rules::RuleSet;
use crate::state::{self, SavedFile};
use crate::status::StatusSources;
use crate::tail::{Feed, LineSink, TailConfig, Tailer};
use crate::throttle::{Throttle, WARNING_INTERVAL};
use crate::web_config::WatchedWebConfig;

mod exported;
mod signals;

use exported::Exported;

/// Runs the daemon until SIGINT or SIGTERM.
pub fn run(args: &RunArgs) -> ExitCode {
    let recent = RecentEvents::default();
    if let Err(message) = crate::logging::init(&args.log_level, &args.log_format, recent.clone()) {
        eprintln!("logtally: {message}");
        return ExitCode::FAILURE;
    }
    let Some(rules) = super::load_rules(&args.rules) else {
        return ExitCode::FAILURE;
    };
    raise_open_file_limit();
    info!(
        version = env!("CARGO_PKG_VERSION"),
        rule_files = rules.files.len(),
        metrics = rules.metrics.len(),
        "Starting logtally."
    );
    if !args.telemetry_path.starts_with('/') {
        let path = &args.telemetry_path;
        eprintln!("logtally: invalid --web.telemetry-path {path:?}: it must start with /");
        return ExitCode::FAILURE;
    }

    let web_config = match &args.web_config_file {
        Some(path) => match WatchedWebConfig::load(path) {
            Ok(web_config) => Some(Arc::new(web_config)),
            Err(error) => {
                eprintln!("logtally: {error}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };

    let remote_write = match remote_write::Settings::from_args(&args.remote_write) {
        Ok(settings) => settings.map(RemoteWrite::new),
        Err(error) => {
            eprintln!("logtally: {error}");
            return ExitCode::FAILURE;
        }
    };

    let config = tail_config(args, &rules);
    if config.globs.is_empty() {
        eprintln!("logtally: no logs to follow: give --logs GLOB, or `files` in a rule file");
        return ExitCode::FAILURE;
    }
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
    let live = Arc::new(Live::new(args.rules.clone(), rules.clone(), store));
    if args.watch_rules {
        signals::watch_rule_files(&args.rules, live.clone());
    }

    let tail_stats = tailer.stats();
    let stopper = tailer.stopper();
    let mut sink = LiveSink {
        engine: Engine::new(rules),
        live: live.clone(),
        applicable: HashMap::new(),
        positions: args.positions.clone(),
        last_save_error: None,
        save_errors: Throttle::new(WARNING_INTERVAL),
    };
    // The tailer reports when it returns, so a tailer that dies stops the daemon instead of
    // leaving it serving metrics that no longer change.
    let (tailer_done, tailer_stopped) = tokio::sync::oneshot::channel::<()>();
    let tail_thread = thread::Builder::new()
        .name("tailer".into())
        .spawn(move || {
            let _report = ReportOnDrop(Some(tailer_done));
            tailer.run(&mut sink);
        })
        .expect("spawning a thread");

    let status = StatusSources {
        live: live.clone(),
        tail: tail_stats.clone(),
        recent,
    };
    let exported = Arc::new(Exported {
        live: live.clone(),
        tail: tail_stats,
        default_expire: args.metrics_expire,
        remote_write: remote_write.as_ref().map(RemoteWrite::stats),
    });
    let pusher = match remote_write.map(|remote| remote.start(exported.clone())) {
        Some(Ok(pusher)) => Some(pusher),
        Some(Err(error)) => {
            error!(%error, "Failed to start the remote-write thread; no metrics are pushed.");
            None
        }
        None => None,
    };
    let site = site(args, live.clone(), exported, status, web_config);
    let tailer_failed = runtime.block_on(async {
        http::log_listening(&listener, &site.telemetry_path);
        let (stop, stopped) = tokio::sync::oneshot::channel::<bool>();
        let shutdown = async move {
            let failed = tokio::select! {
                () = signals::until_shutdown(live) => false,
                _ = tailer_stopped => true,
            };
            let _ = stop.send(failed);
        };
        http::serve(listener, site, shutdown).await;
        stopped.await.unwrap_or(true)
    });

    info!("Shutting down.");
    stopper.stop();
    let panicked = tail_thread.join().is_err();
    // After the tailer, so that the last push carries every line it read.
    if let Some(pusher) = pusher {
        pusher.stop();
    }
    if panicked || tailer_failed {
        error!("The tailer stopped unexpectedly; exiting.");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Sends on its channel when dropped, whether the thread holding it returned or panicked.
struct ReportOnDrop(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for ReportOnDrop {
    fn drop(&mut self) {
        if let Some(sender) = self.0.take() {
            let _ = sender.send(());
        }
    }
}

/// Raises the soft limit on open files to the hard limit, as the Go runtime does for
/// exporters: every followed file uses a descriptor, and running out would also stop the
/// server from accepting scrapes.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 || limit.rlim_cur >= limit.rlim_max
        {
            return;
        }
        let soft = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
            info!(
                from = soft,
                to = limit.rlim_max,
                "Raised the open-file limit."
            );
        }
    }
}

/// The tailer's settings: it follows the `--logs` globs and the `files` globs of rule files.
fn tail_config(args: &RunArgs, rules: &RuleSet) -> TailConfig {
    let mut globs = args.logs.clone();
    for glob in rules.files.iter().flat_map(|file| &file.log_globs) {
        if !globs.contains(glob) {
            globs.push(glob.clone());
        }
    }
    TailConfig {
        globs,
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
    }
}

/// Describes what the HTTP server serves (the scrape, the status pages, readiness and, with
/// `--web.enable-lifecycle`, reloads) and how it protects them.
fn site(
    args: &RunArgs,
    live: Arc<Live>,
    exported: Arc<Exported>,
    status: StatusSources,
    web_config: Option<Arc<WatchedWebConfig>>,
) -> Site {
    let ready_tail = exported.tail.clone();
    let reload = args.enable_lifecycle.then(|| {
        let live = live.clone();
        let reload: http::Reload =
            Arc::new(move || live.reload().map_err(|errors| errors.to_string()));
        reload
    });
    Site {
        telemetry_path: args.telemetry_path.clone(),
        scrape: Arc::new(move |format| exported.scrape(format)),
        status: Arc::new(move || status.status()),
        ready: Arc::new(move || ready_tail.caught_up()),
        reload,
        web_config,
        max_connections: usize::from(args.max_connections),
    }
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
            let saved_at = std::fs::metadata(path)
                .and_then(|metadata| metadata.modified())
                .ok();
            tailer.restore(saved.files, saved_at);
        }
        Ok(None) => info!(path = %path.display(), "No positions file yet; this is a first run."),
        Err(error) => warn!(%error, "Ignoring the positions file; starting afresh."),
    }
}

/// Most log paths whose applicable rule files are remembered at once.
const MAX_REMEMBERED_PATHS: usize = 4096;

/// Applies the live rules to the lines the tailer reads, and saves the state file when asked.
struct LiveSink {
    engine: Engine,
    live: Arc<Live>,
    /// The rule files that apply to each log path, with the labels the log gives them, for
    /// the current rules.
    applicable: HashMap<PathBuf, Vec<SourceRule>>,
    positions: Option<PathBuf>,
    /// The kind of the last failed save, so a failure that repeats is logged once.
    last_save_error: Option<std::io::ErrorKind>,
    /// Limits the errors logged when saves fail and work in turn.
    save_errors: Throttle,
}

impl LiveSink {
    /// After a reload swapped the rules, starts a new engine and works out again which rule
    /// files apply to each log seen so far, adding the series the new rules start with.
    fn follow_reload(&mut self, rules: &Arc<RuleSet>, store: &mut Store) {
        if Arc::ptr_eq(self.engine.rules(), rules) {
            return;
        }
        self.engine = Engine::new(rules.clone());
        for (path, sources) in &mut self.applicable {
            *sources = attach_sources(rules, store, Some(path), true);
        }
    }
}

impl LineSink for LiveSink {
    fn lines(&mut self, path: &Path, feed: &mut Feed) {
        let live = self.live.clone();
        let mut current = live.lock();
        let Current { rules, store } = &mut *current;
        self.follow_reload(rules, store);
        let sources = self
            .applicable
            .entry(path.to_path_buf())
            .or_insert_with(|| attach_sources(rules, store, Some(path), true));
        store.set_clock(now_ms());
        feed(&mut |line| self.engine.apply_sources(sources, line, store));
    }

    fn opened(&mut self, path: &Path) {
        let live = self.live.clone();
        let mut current = live.lock();
        let Current { rules, store } = &mut *current;
        self.follow_reload(rules, store);
        if self.applicable.len() >= MAX_REMEMBERED_PATHS {
            // Logs come and go, as pods do on a node. The entries of gone logs are dropped with
            // the rest, and those still read are worked out again at their next lines.
            self.applicable.clear();
        }
        self.applicable
            .entry(path.to_path_buf())
            .or_insert_with(|| attach_sources(rules, store, Some(path), true));
    }

    fn checkpoint(&mut self, files: Vec<SavedFile>) {
        let Some(path) = &self.positions else {
            return;
        };
        let snapshot = {
            let current = self.live.lock();
            state::snapshot(&current.rules, &current.store, files, now_ms())
        };
        match state::write_atomic(path, &snapshot) {
            Ok(()) => {
                if self.last_save_error.take().is_some() {
                    info!(path = %path.display(), "Saving the positions file works again.");
                }
            }
            Err(error) => {
                if self.last_save_error.replace(error.kind()) != Some(error.kind())
                    && let Some(suppressed) = self.save_errors.allow(Instant::now())
                {
                    error!(
                        path = %path.display(),
                        %error,
                        suppressed,
                        "Failed to save the positions file; will retry."
                    );
                }
            }
        }
    }
}
