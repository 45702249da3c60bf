//! The daemon's live state: the rules in force and the series they produced, shared by the
//! tailer thread (which records updates), scrapes (which read them) and reloads (which swap
//! the rules).
//!
//! Rules and store sit behind one mutex, so a batch of lines, a scrape and a reload each see
//! one consistent pair. A reload loads the new rule files first; if any has an error, nothing
//! changes. Otherwise the values of every metric whose definition did not change are carried
//! into a new store, and the pair is replaced in one step between two batches.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tracing::{error, info, warn};

use crate::metrics::{SkipReason, Store, now_ms};
use crate::rules::{LoadError, LoadErrors, RuleSet};
use crate::state;
use crate::throttle::{MAX_KEYS, Throttles, WARNING_INTERVAL};

/// Rules and the store they update.
pub struct Current {
    pub rules: Arc<RuleSet>,
    pub store: Store,
}

/// The shared live state and the outcome of the last reload.
pub struct Live {
    current: Mutex<Current>,
    rule_paths: Vec<PathBuf>,
    last_reload_ok: AtomicBool,
    /// Time of the last successful load, in milliseconds since the Unix epoch.
    last_success_ms: AtomicU64,
    /// Time of the last reload, successful or not, in milliseconds since the Unix epoch; 0
    /// before the first.
    last_reload_ms: AtomicU64,
    /// The errors of the last reload; empty when it succeeded or none was tried.
    last_reload_errors: Mutex<Vec<LoadError>>,
    /// Limits the errors logged for failed reloads, keyed by the error text: a client that
    /// repeats `POST /-/reload`, or a tool that rewrites a broken rule file in a loop, would
    /// otherwise log the same errors each time.
    reload_errors: Mutex<Throttles<String>>,
}

impl Live {
    /// Starts with rules already loaded from `rule_paths` and their store.
    pub fn new(rule_paths: Vec<PathBuf>, rules: Arc<RuleSet>, store: Store) -> Live {
        Live {
            current: Mutex::new(Current { rules, store }),
            rule_paths,
            last_reload_ok: AtomicBool::new(true),
            last_success_ms: AtomicU64::new(now_ms()),
            last_reload_ms: AtomicU64::new(0),
            last_reload_errors: Mutex::new(Vec::new()),
            reload_errors: Mutex::new(Throttles::new(WARNING_INTERVAL, MAX_KEYS)),
        }
    }

    /// Locks the current rules and store. A panic while the lock was held leaves counts that
    /// are still valid numbers, so a poisoned lock is used as it is.
    pub fn lock(&self) -> MutexGuard<'_, Current> {
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// True when the last reload succeeded (or none has been tried).
    pub fn last_reload_ok(&self) -> bool {
        self.last_reload_ok.load(Ordering::Relaxed)
    }

    /// When the rules were last loaded successfully, in milliseconds since the Unix epoch.
    pub fn last_success_ms(&self) -> u64 {
        self.last_success_ms.load(Ordering::Relaxed)
    }

    /// When the rules were last reloaded, successfully or not, in milliseconds since the Unix
    /// epoch; `None` before the first reload.
    pub fn last_reload_ms(&self) -> Option<u64> {
        Some(self.last_reload_ms.load(Ordering::Relaxed)).filter(|time| *time > 0)
    }

    /// Returns the errors of the last reload, in file order; empty when it succeeded or none
    /// was tried.
    pub fn last_reload_errors(&self) -> Vec<LoadError> {
        self.lock_last_errors().clone()
    }

    /// Loads the rule files again and swaps them in. On an error the old rules stay, the error
    /// is returned and logged with its locations, and the reload status turns false. Until a
    /// reload succeeds, the same errors are logged at most once a minute.
    pub fn reload(&self) -> Result<(), LoadErrors> {
        let rules = match RuleSet::load(&self.rule_paths) {
            Ok(rules) => Arc::new(rules),
            Err(errors) => {
                self.last_reload_ok.store(false, Ordering::Relaxed);
                self.last_reload_ms.store(now_ms(), Ordering::Relaxed);
                self.lock_last_errors().clone_from(&errors.0);
                self.log_reload_errors(&errors);
                return Err(errors);
            }
        };

        let mut current = self.lock();
        if log_globs(&current.rules) != log_globs(&rules) {
            warn!(
                "The `files` globs of the rules changed; logtally follows the logs they select \
                 from its next start."
            );
        }
        let store = carry_over(&current.rules, &current.store, &rules);
        let metrics = rules.metrics.len();
        *current = Current { rules, store };
        drop(current);

        let now = now_ms();
        self.last_reload_ok.store(true, Ordering::Relaxed);
        self.last_success_ms.store(now, Ordering::Relaxed);
        self.last_reload_ms.store(now, Ordering::Relaxed);
        self.lock_last_errors().clear();
        // A failure after this success is a new condition, logged even if its errors were
        // logged shortly before.
        *self.lock_reload_errors() = Throttles::new(WARNING_INTERVAL, MAX_KEYS);
        info!(metrics, "Reloaded rules.");
        Ok(())
    }

    fn log_reload_errors(&self, errors: &LoadErrors) {
        let text = errors.to_string();
        let suppressed = self
            .lock_reload_errors()
            .allow(text.clone(), Instant::now());
        if let Some(suppressed) = suppressed {
            error!(
                errors = text,
                suppressed, "Reloading rules failed; keeping the old rules."
            );
        }
    }

    fn lock_last_errors(&self) -> MutexGuard<'_, Vec<LoadError>> {
        self.last_reload_errors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_reload_errors(&self) -> MutexGuard<'_, Throttles<String>> {
        self.reload_errors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Collects every `files` glob of a rule set, sorted, to compare the globs before and after
/// a reload.
fn log_globs(rules: &RuleSet) -> Vec<&str> {
    let mut globs: Vec<&str> = rules
        .files
        .iter()
        .flat_map(|file| file.log_globs.iter().map(String::as_str))
        .collect();
    globs.sort_unstable();
    globs.dedup();
    globs
}

/// Builds a store for `new` rules holding the values of every metric whose definition is the
/// same in `old`, and the per-file, per-metric and per-family counts of the files, metrics
/// and families that remain.
fn carry_over(old: &RuleSet, store: &Store, new: &RuleSet) -> Store {
    let mut fresh = Store::new(new);
    let snapshot = state::snapshot(old, store, Vec::new(), now_ms());
    state::restore(new, &mut fresh, &snapshot);
    carry_family_counts(old, store, new, &mut fresh);
    carry_line_counts(old, store, new, &mut fresh);
    carry_skipped(old, store, new, &mut fresh);
    fresh
}

/// Carries the overflow and expiry counts of each family whose definition is unchanged. They
/// go with the values, so a family's counts go on exactly when its series do, and its
/// overflow warning is not logged again.
fn carry_family_counts(old: &RuleSet, store: &Store, new: &RuleSet, fresh: &mut Store) {
    let family_counts: HashMap<String, (u64, u64)> = (0..old.families.len())
        .map(|index| {
            let counts = (store.overflowed[index], store.expired[index]);
            (old.family_state_key(index), counts)
        })
        .collect();
    for index in 0..new.families.len() {
        if let Some(&(overflowed, expired)) = family_counts.get(&new.family_state_key(index)) {
            fresh.overflowed[index] = overflowed;
            fresh.expired[index] = expired;
        }
    }
}

/// Carries the matched and unmatched line counts of each rule file that remains, by path.
fn carry_line_counts(old: &RuleSet, store: &Store, new: &RuleSet, fresh: &mut Store) {
    let counts: HashMap<&PathBuf, (u64, u64)> = old
        .files
        .iter()
        .enumerate()
        .map(|(index, file)| (&file.path, (store.matched[index], store.unmatched[index])))
        .collect();
    for (index, file) in new.files.iter().enumerate() {
        let (matched, unmatched) = counts.get(&file.path).copied().unwrap_or_default();
        fresh.matched[index] = matched;
        fresh.unmatched[index] = unmatched;
    }
}

/// Carries the skipped-value counts of each metric that remains, by rule file and name.
fn carry_skipped(old: &RuleSet, store: &Store, new: &RuleSet, fresh: &mut Store) {
    let skipped: HashMap<(&PathBuf, &String), [u64; SkipReason::ALL.len()]> = old
        .files
        .iter()
        .flat_map(|file| file.metrics.iter().map(move |metric| (file, metric)))
        .map(|(file, metric)| {
            (
                (&file.path, &old.metrics[metric.id]),
                store.skipped[metric.id],
            )
        })
        .collect();
    for file in &new.files {
        for metric in &file.metrics {
            let key = (&file.path, &new.metrics[metric.id]);
            fresh.skipped[metric.id] = skipped.get(&key).copied().unwrap_or_default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = r#"
[parse]
regex = '^(?P<method>\S+)$'

[[metric]]
name = "requests_total"
type = "counter"
help = "Requests."
labels = ["method"]
max_series = 1

[[metric]]
name = "methods_total"
type = "counter"
help = "Methods."
labels = ["method"]
"#;

    #[test]
    fn reload_carries_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.toml");
        std::fs::write(&path, RULES).unwrap();
        let rules = Arc::new(RuleSet::load(std::slice::from_ref(&path)).unwrap());
        let mut store = Store::new(&rules);
        store.matched[0] = 7;
        store.unmatched[0] = 2;
        store.overflowed = vec![4, 5];
        store.expired = vec![1, 3];
        let live = Live::new(vec![path.clone()], rules, store);

        // A new help text keeps requests_total; new labels start methods_total afresh.
        let changed = RULES
            .replace("help = \"Requests.\"", "help = \"All requests.\"")
            .replacen(
                "help = \"Methods.\"\nlabels = [\"method\"]",
                "help = \"Methods.\"\nlabels = [{ verb = \"method\" }]",
                1,
            );
        std::fs::write(&path, changed).unwrap();
        live.reload().unwrap();

        let current = live.lock();
        assert_eq!(current.rules.families[0].help, "All requests.");
        assert_eq!(current.rules.families[1].label_names, ["verb"]);
        assert_eq!(current.store.matched, [7]);
        assert_eq!(current.store.unmatched, [2]);
        assert_eq!(current.store.overflowed, [4, 0]);
        assert_eq!(current.store.expired, [1, 0]);
    }
}
