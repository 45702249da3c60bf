//! The state file (`--positions`): where each followed file was read to, and the metric values
//! as of exactly those positions, in one atomic write.
//!
//! Offsets and values are taken together by the tailer thread between two reads, so after a
//! restart, resuming at the saved offsets with the saved values counts every line once: lines
//! after the last save are read again, and their updates were not in the saved values.
//!
//! The file is JSON with a version number. It is written to `FILE.tmp`, flushed to disk,
//! renamed over `FILE` (atomic on POSIX file systems), and the directory is flushed, so a crash
//! leaves either the old or the new state, never a mix.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::decimal::{Decimal, Sum};
use crate::metrics::{
    FamilySeries, Histogram, KEY_SEPARATOR, NativeBuckets, Series, Store, label_values,
};
use crate::rules::{FamilyDef, MetricKind, RuleSet};

/// The version written and understood.
pub const VERSION: u32 = 1;

/// The whole state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateFile {
    pub version: u32,
    /// When the state was taken, in milliseconds since the Unix epoch.
    pub saved_at_ms: u64,
    pub files: Vec<SavedFile>,
    pub families: Vec<SavedFamily>,
}

/// A file's identity and the offset just past the last line counted from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedFile {
    /// The name the file was followed under.
    pub path: PathBuf,
    pub device: u64,
    pub inode: u64,
    /// The file's first bytes (up to 64), hex-encoded, so a reused inode is not taken for it.
    pub fingerprint: String,
    pub offset: u64,
}

/// One metric family's series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedFamily {
    /// What decides the values ([`RuleSet::family_state_key`]); restored only on an exact match.
    pub definition: String,
    pub series: Vec<SavedSeries>,
}

/// One series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedSeries {
    pub labels: Vec<String>,
    pub created_ms: u64,
    /// Counter total or gauge value, as exact decimal text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Histogram counts per bucket (not cumulative), `+Inf` last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// A native histogram's buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native: Option<SavedNative>,
}

/// Takes the metric values of `store` together with the file positions.
pub fn snapshot(rules: &RuleSet, store: &Store, files: Vec<SavedFile>, now_ms: u64) -> StateFile {
    let families = (0..rules.families.len())
        .map(|index| SavedFamily {
            definition: rules.family_state_key(index),
            series: store.families[index].iter().map(save_series).collect(),
        })
        .collect();
    StateFile {
        version: VERSION,
        saved_at_ms: now_ms,
        files,
        families,
    }
}

fn save_series((key, value, created_ms): (&[u8], &Series, u64)) -> SavedSeries {
    let mut saved = SavedSeries {
        labels: label_values(key).map(str::to_owned).collect(),
        created_ms,
        value: None,
        buckets: None,
        sum: None,
        count: None,
        native: None,
    };
    match value {
        Series::Counter(sum) => saved.value = Some(sum.to_string()),
        Series::Gauge { value, .. } => saved.value = Some(value.to_string()),
        Series::Histogram(histogram) => {
            saved.buckets = Some(histogram.counts.to_vec());
            saved.sum = Some(histogram.sum.to_string());
            saved.count = Some(histogram.count);
            saved.native = histogram.native.as_deref().map(SavedNative::save);
        }
    }
    saved
}

/// Writes the state atomically: temporary file, flush to disk, rename, flush the directory.
pub fn write_atomic(path: &Path, state: &StateFile) -> io::Result<()> {
    let text = serde_json::to_vec(state).map_err(io::Error::other)?;
    let temporary = temporary_path(path);
    {
        let mut file = File::create(&temporary)?;
        file.write_all(&text)?;
        file.sync_all()?;
    }
    fs::rename(&temporary, path)?;
    if let Some(directory) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        File::open(directory)?.sync_all()?;
    }
    Ok(())
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Why a state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("failed to read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} is not a valid state file: {source}")]
    Invalid {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path} has version {found}, but this logtally reads version {VERSION}")]
    Version { path: PathBuf, found: u32 },
}

/// Reads the state file. Returns `Ok(None)` when it does not exist or is empty, which both mean
/// a first run.
pub fn load(path: &Path) -> Result<Option<StateFile>, LoadError> {
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(LoadError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if text.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let state: StateFile = serde_json::from_slice(&text).map_err(|source| LoadError::Invalid {
        path: path.to_path_buf(),
        source,
    })?;
    if state.version != VERSION {
        return Err(LoadError::Version {
            path: path.to_path_buf(),
            found: state.version,
        });
    }
    Ok(Some(state))
}

/// What [`restore`] did, for the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RestoreSummary {
    pub restored_families: usize,
    /// Saved families whose definition no longer matches any loaded metric.
    pub dropped_families: usize,
    /// Series skipped because their saved form did not fit the family.
    pub invalid_series: usize,
}

/// Puts saved values into `store`, for every family whose definition is unchanged.
pub fn restore(rules: &RuleSet, store: &mut Store, state: &StateFile) -> RestoreSummary {
    let mut summary = RestoreSummary::default();
    for saved in &state.families {
        let Some(index) = (0..rules.families.len())
            .find(|index| rules.family_state_key(*index) == saved.definition)
        else {
            summary.dropped_families += 1;
            continue;
        };
        summary.restored_families += 1;
        let definition = &rules.families[index];
        let family = &mut store.families[index];
        for series in &saved.series {
            if !restore_series(family, definition, series) {
                summary.invalid_series += 1;
            }
        }
    }
    summary
}

fn restore_series(family: &mut FamilySeries, definition: &FamilyDef, saved: &SavedSeries) -> bool {
    let value = match definition.kind {
        MetricKind::Counter => saved
            .value
            .as_deref()
            .and_then(Sum::parse)
            .map(Series::Counter),
        MetricKind::Gauge => saved
            .value
            .as_deref()
            .and_then(|text| Decimal::parse(text.as_bytes()))
            .map(|value| Series::Gauge { value, stamp: 0 }),
        MetricKind::Histogram => restore_histogram(definition, saved).map(Series::Histogram),
    };
    let Some(value) = value else {
        return false;
    };
    let mut key = Vec::new();
    for label in &saved.labels {
        key.extend_from_slice(label.as_bytes());
        key.push(KEY_SEPARATOR);
    }
    family.insert_created(key.into(), value, saved.created_ms);
    true
}

fn restore_histogram(definition: &FamilyDef, saved: &SavedSeries) -> Option<Histogram> {
    let counts = saved.buckets.clone()?;
    let count = saved.count?;
    if counts.len() != definition.buckets.len() + 1 || counts.iter().sum::<u64>() != count {
        return None;
    }
    let native = match (&saved.native, definition.native) {
        (Some(native), true) => Some(Box::new(native.restore(count)?)),
        (None, false) => None,
        _ => return None,
    };
    Some(Histogram {
        counts: counts.into(),
        sum: Sum::parse(saved.sum.as_deref()?)?,
        count,
        native,
    })
}

/// A histogram's native buckets as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedNative {
    pub schema: i8,
    pub zero_count: u64,
    /// Bucket index and count, for positive values.
    pub positive: Vec<(i32, u64)>,
    /// Bucket index and count, for negative values.
    pub negative: Vec<(i32, u64)>,
}

impl SavedNative {
    fn save(native: &NativeBuckets) -> SavedNative {
        SavedNative {
            schema: native.schema,
            zero_count: native.zero_count,
            positive: native.positive.iter().map(|(k, v)| (*k, *v)).collect(),
            negative: native.negative.iter().map(|(k, v)| (*k, *v)).collect(),
        }
    }

    /// The buckets, if their counts add up to the histogram's `count`.
    fn restore(&self, count: u64) -> Option<NativeBuckets> {
        let native = NativeBuckets {
            schema: self.schema,
            zero_count: self.zero_count,
            positive: self.positive.iter().copied().collect(),
            negative: self.negative.iter().copied().collect(),
        };
        let total = native.zero_count
            + native.positive.values().sum::<u64>()
            + native.negative.values().sum::<u64>();
        (total == count).then_some(native)
    }
}

/// Hex-encodes bytes, for fingerprints.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Decodes hex text; `None` if it is not hex.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::Engine;

    const RULES: &str = r#"
[parse]
regex = '^(?P<method>\S+) (?P<ms>\S+)$'

[[metric]]
name = "requests_total"
type = "counter"
help = "Requests."
labels = ["method"]

[[metric]]
name = "duration_seconds"
type = "histogram"
help = "Duration."
value = "ms"
scale = 0.001
buckets = [0.1, 1]

[[metric]]
name = "last_duration_seconds"
type = "gauge"
help = "Last duration."
value = "ms"
scale = 0.001
"#;

    fn rules(source: &str) -> Arc<RuleSet> {
        Arc::new(RuleSet::from_source(Path::new("r.toml"), source).unwrap())
    }

    fn exposition(rules: &RuleSet, store: &Store) -> String {
        let mut families: Vec<_> = rules.families.iter().zip(&store.families).collect();
        let mut text = String::new();
        crate::exposition::encode(&mut text, &mut families);
        text
    }

    #[test]
    fn state_round_trips_through_file() {
        let rules = rules(RULES);
        let mut store = Store::new(&rules);
        let mut engine = Engine::new(rules.clone());
        for line in [&b"GET 700"[..], b"GET 50", b"POST 2500"] {
            engine.apply(line, &mut store);
        }
        let files = vec![SavedFile {
            path: "/var/log/a.log".into(),
            device: 1,
            inode: 2,
            fingerprint: to_hex(b"GET 700\n"),
            offset: 22,
        }];
        let state = snapshot(&rules, &store, files, 1_700_000_000_000);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("positions.json");
        write_atomic(&path, &state).unwrap();
        let loaded = load(&path).unwrap().unwrap();
        assert_eq!(loaded, state);
        assert!(!temporary_path(&path).exists());

        let mut restored = Store::new(&rules);
        let summary = restore(&rules, &mut restored, &loaded);
        assert_eq!(
            summary,
            RestoreSummary {
                restored_families: 3,
                dropped_families: 0,
                invalid_series: 0
            }
        );
        assert_eq!(exposition(&rules, &restored), exposition(&rules, &store));
    }

    #[test]
    fn native_buckets_round_trip() {
        let source = RULES.replacen("buckets = [0.1, 1]", "buckets = [0.1, 1]\nnative = true", 1);
        let rules = rules(&source);
        let mut store = Store::new(&rules);
        let mut engine = Engine::new(rules.clone());
        for line in [&b"GET 700"[..], b"GET 50", b"POST 2500", b"GET 0"] {
            engine.apply(line, &mut store);
        }
        let state = snapshot(&rules, &store, Vec::new(), 0);
        let saved = state
            .families
            .iter()
            .flat_map(|family| &family.series)
            .find_map(|series| series.native.clone())
            .unwrap();
        // 0.05 s, 0.7 s and 2.5 s at schema 3, and one zero.
        assert_eq!(saved.schema, 3);
        assert_eq!(saved.zero_count, 1);
        assert_eq!(saved.positive, [(-34, 1), (-4, 1), (11, 1)]);

        let mut restored = Store::new(&rules);
        let summary = restore(&rules, &mut restored, &state);
        assert_eq!(summary.invalid_series, 0);
        let sorted = |mut state: StateFile| {
            for family in &mut state.families {
                family.series.sort_by(|a, b| a.labels.cmp(&b.labels));
            }
            state
        };
        assert_eq!(
            sorted(snapshot(&rules, &restored, Vec::new(), 0)),
            sorted(state)
        );
    }

    #[test]
    fn changed_definition_starts_afresh() {
        let old = rules(RULES);
        let mut store = Store::new(&old);
        Engine::new(old.clone()).apply(b"GET 700", &mut store);
        let state = snapshot(&old, &store, Vec::new(), 0);

        let new_scale = RULES.replacen("scale = 0.001\nbuckets", "scale = 0.01\nbuckets", 1);
        let new_help = RULES.replace("help = \"Requests.\"", "help = \"All requests.\"");
        let changed = rules(&new_scale);
        let renamed_help = rules(&new_help);

        let mut fresh = Store::new(&changed);
        let summary = restore(&changed, &mut fresh, &state);
        assert_eq!(summary.restored_families, 2);
        assert_eq!(summary.dropped_families, 1);
        let text = exposition(&changed, &fresh);
        assert!(text.contains("\nduration_seconds_count 0\n"), "{text}");
        assert!(
            text.contains("\nrequests_total{method=\"GET\"} 1\n"),
            "{text}"
        );

        let mut kept = Store::new(&renamed_help);
        assert_eq!(
            restore(&renamed_help, &mut kept, &state).restored_families,
            3
        );
    }

    #[test]
    fn missing_and_empty_files_are_first_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("positions.json");
        assert!(load(&path).unwrap().is_none());
        fs::write(&path, b"\n").unwrap();
        assert!(load(&path).unwrap().is_none());
    }

    #[test]
    fn corrupt_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("positions.json");
        fs::write(&path, b"{\"version\": 1, \"files\": [").unwrap();
        let error = load(&path).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{} is not a valid state file: ", path.display())),
            "{error}"
        );

        fs::write(
            &path,
            b"{\"version\": 9, \"saved_at_ms\": 0, \"files\": [], \"families\": []}",
        )
        .unwrap();
        let error = load(&path).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "{} has version 9, but this logtally reads version 1",
                path.display()
            )
        );
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(to_hex(b"\x00\xffA"), "00ff41");
        assert_eq!(from_hex("00ff41").unwrap(), b"\x00\xffA");
        assert_eq!(from_hex("0g"), None);
        assert_eq!(from_hex("abc"), None);
    }
}
