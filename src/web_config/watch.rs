//! Loads the web config again when the file or a file it names changes.
//!
//! The exporter toolkit reads its web config on every request. logtally checks instead, on
//! every connection and every request, whether any of those files changed (by modification
//! time, size, device and inode, so a Kubernetes secret's symlink swap counts), and loads them
//! again only then. A config that fails to load is logged once and the last good one stays in
//! force, as with rule reloads. While the file fails to load, it is tried again at most once
//! a second even without a change, since what it names (a certificate still being written)
//! may appear without the file changing.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tracing::{error, info};

use super::{WebConfig, WebConfigError, load};

/// The identity of one version of a file: modification time, size, device and inode. `None`
/// stands for a file that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp(Option<(SystemTime, u64, u64, u64)>);

impl Stamp {
    fn of(path: &Path) -> Stamp {
        Stamp(std::fs::metadata(path).ok().map(|metadata| {
            let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            (modified, metadata.len(), metadata.dev(), metadata.ino())
        }))
    }
}

/// How often a web config that failed to load is tried again.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// A web config file, loaded again when it or a file it names changes.
pub struct WatchedWebConfig {
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    config: Arc<WebConfig>,
    /// Each file of the last load attempt, with its stamp from just before that attempt.
    stamps: Vec<(PathBuf, Stamp)>,
    /// The error of the last load attempt, if it failed, so it is logged once.
    failed: Option<String>,
    /// When the last load attempt was made.
    attempted: Instant,
}

impl WatchedWebConfig {
    /// Loads the file for the first time; an error here should stop the program.
    pub fn load(path: &Path) -> Result<WatchedWebConfig, WebConfigError> {
        let before = vec![(path.to_owned(), Stamp::of(path))];
        let config = load(path)?;
        let stamps = stamps(&config.files, &before);
        Ok(WatchedWebConfig {
            path: path.to_owned(),
            state: Mutex::new(State {
                config: Arc::new(config),
                stamps,
                failed: None,
                attempted: Instant::now(),
            }),
        })
    }

    /// Returns the config in force, loading the files again first if one of them changed.
    pub fn current(&self) -> Arc<WebConfig> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let changed = state
            .stamps
            .iter()
            .any(|(path, stamp)| Stamp::of(path) != *stamp);
        let retry = state.failed.is_some() && state.attempted.elapsed() >= RETRY_INTERVAL;
        if changed || retry {
            self.reload(&mut state);
        }
        state.config.clone()
    }

    fn reload(&self, state: &mut State) {
        // The stamps are taken before reading, so a write during the load is noticed at the
        // next check.
        let before: Vec<(PathBuf, Stamp)> = state
            .stamps
            .iter()
            .map(|(path, _)| (path.clone(), Stamp::of(path)))
            .collect();
        state.attempted = Instant::now();
        match load(&self.path) {
            Ok(config) => {
                state.stamps = stamps(&config.files, &before);
                state.config = Arc::new(config);
                state.failed = None;
                info!(path = %self.path.display(), "Loaded the changed web config.");
            }
            Err(load_error) => {
                let message = load_error.to_string();
                if state.failed.as_ref() != Some(&message) {
                    error!(
                        error = %message,
                        "Failed to load the changed web config; keeping the previous one."
                    );
                }
                state.failed = Some(message);
                state.stamps = before;
            }
        }
    }
}

/// Stamps for `files`: the one in `before` for a file it lists, a new one otherwise.
fn stamps(files: &[PathBuf], before: &[(PathBuf, Stamp)]) -> Vec<(PathBuf, Stamp)> {
    files
        .iter()
        .map(|path| {
            let known = before.iter().find(|(known, _)| known == path);
            let stamp = known.map_or_else(|| Stamp::of(path), |(_, stamp)| stamp.clone());
            (path.clone(), stamp)
        })
        .collect()
}
