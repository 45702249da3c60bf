//! `logtally once`: reads whole files through the rules and prints the resulting metrics.
//!
//! This is how users try rules on real logs and what the benchmarks run. Every rule file is
//! applied to every file given. Standard output carries only the exposition, or with
//! `--summary` a table for people. A report of unmatched lines and skipped values goes to
//! standard error, and so does a progress line while reading when standard error is a
//! terminal.

mod progress;
mod summary;

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;

use crate::cli::OnceArgs;
use crate::engine::{Engine, TimeFields, TimeSpan, attach_sources};
use crate::exposition;
use crate::lines::{LineSplitter, SplitStats};
use crate::metrics::{SkipReason, Store};
use crate::rules::RuleSet;
use progress::{Counters, ProgressLine};

/// Size of each read from a file.
const READ_CHUNK_BYTES: usize = 256 * 1024;

/// Runs the command: exit status 0 when every file was read, 1 otherwise.
pub fn run(args: &OnceArgs) -> ExitCode {
    let Some(mut rules) = super::load_rules(&args.rules) else {
        return ExitCode::FAILURE;
    };
    let time_fields = match summary_time_fields(args, &mut rules) {
        Ok(fields) => fields,
        Err(message) => {
            eprintln!("logtally: {message}");
            return ExitCode::FAILURE;
        }
    };

    note_ignored_globs(&rules);

    let counters = Arc::new(Counters::default());
    let progress = ProgressLine::start(counters.clone(), total_bytes(&args.files));
    let reading = Reading {
        max_line_bytes: args.max_line_bytes,
        time_fields,
        counters: &counters,
    };
    let outcome = read_in_parallel(&rules, &args.files, &reading);
    if let Some(progress) = progress {
        progress.finish();
    }

    let mut failed = false;
    let mut lines = 0;
    for (path, result) in args.files.iter().zip(outcome.results) {
        match result {
            Ok(stats) => {
                lines += stats.lines;
                report_cleanup(path, &stats, args.max_line_bytes);
            }
            Err(error) => {
                eprintln!("logtally: failed to read {}: {error}", path.display());
                failed = true;
            }
        }
    }

    let text = if args.summary {
        let mut text = String::new();
        let time_field = args.summary_time_field.as_deref();
        summary::write(
            &mut text,
            &rules,
            &outcome.store,
            outcome.time_span,
            time_field,
        );
        text
    } else {
        exposition_text(&rules, &outcome.store)
    };
    if let Err(error) = print(&text) {
        if error.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("logtally: failed to write the metrics: {error}");
        }
        return ExitCode::FAILURE;
    }
    report_unmatched_and_skipped(&rules, &outcome.store, lines);
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Finds the fields whose timestamps give `--summary` its time span, adding them to rule files
/// that read JSON or logfmt. Returns `None` without `--summary`, and an error message when
/// `--summary-time-field` names a field no rule file has.
fn summary_time_fields(
    args: &OnceArgs,
    rules: &mut Arc<RuleSet>,
) -> Result<Option<TimeFields>, String> {
    if !args.summary {
        return Ok(None);
    }
    // The rules were just loaded and are not shared yet, so this does not copy them.
    let rules = Arc::make_mut(rules);
    summary::time_fields(rules, args.summary_time_field.as_deref()).map(Some)
}

/// Settings shared by the reader threads, and the counters they add to.
struct Reading<'a> {
    max_line_bytes: usize,
    /// The fields whose timestamps give the time span, for `--summary`.
    time_fields: Option<TimeFields>,
    counters: &'a Counters,
}

/// The result of reading all files.
struct Outcome {
    store: Store,
    /// The line splitter's counts, or the error that stopped reading, per file in order.
    results: Vec<io::Result<SplitStats>>,
    /// The earliest and latest time of the lines, when time fields were given.
    time_span: Option<TimeSpan>,
}

/// Reads the files on up to one thread per core, each thread taking a contiguous run of files
/// in order with its own engine and store. Merging the stores in thread order gives the
/// result of reading the files one after another (a gauge keeps the value it had last).
fn read_in_parallel(rules: &Arc<RuleSet>, files: &[PathBuf], reading: &Reading) -> Outcome {
    let threads = thread::available_parallelism()
        .map_or(1, usize::from)
        .min(files.len())
        .max(1);
    let chunk = files.len().div_ceil(threads).max(1);
    let outcomes: Vec<Outcome> = thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|paths| scope.spawn(move || read_files(rules, paths, reading)))
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a reader thread panicked"))
            .collect()
    });

    let mut merged = Outcome {
        store: Store::new(rules),
        results: Vec::with_capacity(files.len()),
        time_span: None,
    };
    for outcome in outcomes {
        merged.store.merge(outcome.store);
        merged.results.extend(outcome.results);
        merged.time_span = TimeSpan::union(merged.time_span, outcome.time_span);
    }
    merged
}

/// Reads files one after another with one engine and store, on the calling thread.
fn read_files(rules: &Arc<RuleSet>, paths: &[PathBuf], reading: &Reading) -> Outcome {
    let mut store = Store::new(rules);
    let mut engine = Engine::new(rules.clone());
    if let Some(fields) = &reading.time_fields {
        engine.track_time(fields.clone());
    }
    let results = paths
        .iter()
        .map(|path| read_file(path, reading, &mut engine, &mut store))
        .collect();
    Outcome {
        store,
        results,
        time_span: engine.time_span(),
    }
}

/// Warns that `files` does not select rule files here: with several rule files that each name
/// their logs (a front and an egress proxy), every input goes through all of them.
fn note_ignored_globs(rules: &RuleSet) {
    let with_globs = rules
        .files
        .iter()
        .filter(|file| !file.log_globs.is_empty())
        .count();
    if rules.files.len() > 1 && with_globs > 0 {
        eprintln!(
            "logtally: note: once applies every rule file to every input and does not select \
             them by `files`; give it only the rule files for these logs"
        );
    }
}

/// Reads one file to its end through the engine and returns what the line splitter counted.
fn read_file(
    path: &Path,
    reading: &Reading,
    engine: &mut Engine,
    store: &mut Store,
) -> io::Result<SplitStats> {
    let mut file = open_input(path, reading.counters)?;
    let named = (path.as_os_str() != "-").then_some(path);
    let mut sources = attach_sources(engine.rules(), store, named, false);
    let mut splitter = LineSplitter::new(reading.max_line_bytes);
    let mut buffer = vec![0u8; READ_CHUNK_BYTES];
    let mut emit = |line: &[u8]| engine.apply_sources(&mut sources, line, store);
    let mut counted_lines = 0;

    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        splitter.push(&buffer[..read], &mut emit);
        let lines = splitter.stats().lines;
        reading
            .counters
            .lines
            .fetch_add(lines - counted_lines, Ordering::Relaxed);
        counted_lines = lines;
    }
    splitter.finish(&mut emit);
    Ok(splitter.stats())
}

/// Opens an input: `-` is standard input, a `.gz` file is decompressed, anything else is read
/// as it is. Bytes are counted in `counters` as they are read, before decompression.
fn open_input<'a>(path: &Path, counters: &'a Counters) -> io::Result<Box<dyn Read + 'a>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(CountingReader::new(io::stdin(), counters)));
    }
    let file = CountingReader::new(File::open(path)?, counters);
    if path.extension().is_some_and(|extension| extension == "gz") {
        return Ok(Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::new(file),
        )));
    }
    Ok(Box::new(file))
}

/// A reader that adds the bytes it reads to [`Counters::bytes`].
struct CountingReader<'a, R> {
    inner: R,
    counters: &'a Counters,
}

impl<'a, R> CountingReader<'a, R> {
    fn new(inner: R, counters: &'a Counters) -> Self {
        CountingReader { inner, counters }
    }
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.counters
            .bytes
            .fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }
}

/// Returns the size of all inputs in bytes, or `None` when one is standard input, is not a
/// regular file (a pipe has no size) or cannot be read.
fn total_bytes(files: &[PathBuf]) -> Option<u64> {
    files.iter().try_fold(0u64, |total, path| {
        if path.as_os_str() == "-" {
            return None;
        }
        let metadata = std::fs::metadata(path)
            .ok()
            .filter(|metadata| metadata.is_file())?;
        Some(total + metadata.len())
    })
}

/// Reports cut lines and dropped NUL bytes of one file.
fn report_cleanup(path: &Path, stats: &SplitStats, max_line_bytes: usize) {
    if stats.truncated_lines > 0 {
        eprintln!(
            "logtally: {}: cut {} line(s) longer than {max_line_bytes} bytes",
            path.display(),
            stats.truncated_lines
        );
    }
    if stats.nul_bytes > 0 {
        eprintln!(
            "logtally: {}: skipped {} NUL byte(s)",
            path.display(),
            stats.nul_bytes
        );
    }
}

fn exposition_text(rules: &RuleSet, store: &Store) -> String {
    let mut families: Vec<_> = rules.families.iter().zip(&store.families).collect();
    let mut text = String::with_capacity(64 * 1024);
    exposition::encode(&mut text, &mut families);
    text
}

fn print(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// Reports lines no rule matched and values skipped, once per rule file and metric.
fn report_unmatched_and_skipped(rules: &RuleSet, store: &Store, lines: u64) {
    for (file, unmatched) in rules.files.iter().zip(&store.unmatched) {
        if *unmatched > 0 {
            let path = file.path.display();
            eprintln!(
                "logtally: {path}: {unmatched} of {lines} line(s) matched no pattern of the rule \
                 file"
            );
        }
    }
    for (name, counts) in rules.metrics.iter().zip(&store.skipped) {
        for (reason, count) in SkipReason::ALL.iter().zip(counts) {
            if *count > 0 {
                eprintln!(
                    "logtally: metric {name}: skipped {count} update(s), value {}",
                    reason.as_str()
                );
            }
        }
    }
}
