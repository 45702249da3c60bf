//! Signals and rule-file changes: SIGTERM and SIGINT stop the daemon, SIGHUP and edits to the
//! rule files (with `--watch-rules`) reload the rules.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing::{error, info, warn};

use crate::live::Live;

/// How long rule files must be quiet after a change before they are reloaded, so an editor's
/// several writes cause one reload.
const RULE_CHANGE_SETTLE: Duration = Duration::from_millis(500);

/// Completes on SIGTERM or SIGINT; reloads the rules on each SIGHUP meanwhile.
pub async fn until_shutdown(live: Arc<Live>) {
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
                info!(signal = "SIGHUP", "Received signal; reloading rules.");
                let live = live.clone();
                // A failed reload is logged by `reload` and keeps the old rules.
                let _ = tokio::task::spawn_blocking(move || live.reload()).await;
            }
        }
    }
}

/// Waits for the next signal on `stream`, or forever if there is no stream.
async fn recv_optional(stream: &mut Option<Signal>) -> Option<()> {
    match stream {
        Some(stream) => stream.recv().await,
        None => std::future::pending().await,
    }
}

/// Reloads the rules whenever a rule file or directory changes, on a thread of its own.
pub fn watch_rule_files(paths: &[PathBuf], live: Arc<Live>) {
    let (sender, changes) = mpsc::channel();
    let rule_paths: Vec<PathBuf> = paths.to_vec();
    let mut watcher =
        match notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let relevant = event.map_or(true, |event| {
                event
                    .paths
                    .iter()
                    .any(|path| is_rule_file(&rule_paths, path))
            });
            if relevant {
                let _ = sender.send(());
            }
        }) {
            Ok(watcher) => watcher,
            Err(error) => {
                return warn!(%error, "Cannot watch rule files; reload with SIGHUP instead.");
            }
        };
    for path in paths {
        // Editors replace files by renaming, so a file's directory is watched, not the file.
        let watched = if path.is_dir() {
            path.clone()
        } else {
            parent_of(path)
        };
        if let Err(error) = watcher.watch(&watched, RecursiveMode::NonRecursive) {
            warn!(
                path = %watched.display(),
                %error,
                "Cannot watch rule files; reload with SIGHUP instead."
            );
        }
    }

    thread::Builder::new()
        .name("rule-watcher".into())
        .spawn(move || {
            let _watcher = watcher;
            while changes.recv().is_ok() {
                while changes.recv_timeout(RULE_CHANGE_SETTLE).is_ok() {}
                info!("Rule files changed; reloading rules.");
                let _ = live.reload();
            }
        })
        .expect("spawning a thread");
}

/// Returns true for a path that is one of the rule files, or a `*.toml` file in one of the
/// rule directories.
fn is_rule_file(rule_paths: &[PathBuf], path: &std::path::Path) -> bool {
    rule_paths.iter().any(|rule_path| {
        let same_file = rule_path.file_name() == path.file_name()
            && std::fs::canonicalize(parent_of(rule_path)).ok()
                == path
                    .parent()
                    .and_then(|parent| std::fs::canonicalize(parent).ok());
        let in_directory = rule_path.is_dir()
            && path
                .extension()
                .is_some_and(|extension| extension == "toml")
            && std::fs::canonicalize(rule_path).ok()
                == path
                    .parent()
                    .and_then(|parent| std::fs::canonicalize(parent).ok());
        same_file || in_directory
    })
}

fn parent_of(path: &std::path::Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
