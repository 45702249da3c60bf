//! `logtally once`: reads whole files through the rules and prints the resulting metrics.
//!
//! This is how users try rules on real logs and what the benchmarks run. Every rule file is
//! applied to every file given. Standard output carries only the exposition; a summary of
//! unmatched lines and skipped values goes to standard error.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;

use crate::cli::OnceArgs;
use crate::engine::{Engine, sources_for};
use crate::exposition;
use crate::lines::{LineSplitter, SplitStats};
use crate::metrics::{SkipReason, Store};
use crate::rules::RuleSet;

/// Size of each read from a file.
const READ_CHUNK_BYTES: usize = 256 * 1024;

/// Runs the command: exit status 0 when every file was read, 1 otherwise.
pub fn run(args: &OnceArgs) -> ExitCode {
    let Some(rules) = super::load_rules(&args.rules) else {
        return ExitCode::FAILURE;
    };
    let (store, results) = read_in_parallel(&rules, &args.files, args.max_line_bytes);

    let mut failed = false;
    let mut lines = 0;
    for (path, result) in args.files.iter().zip(results) {
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

    if let Err(error) = print_exposition(&rules, &store) {
        if error.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("logtally: failed to write the metrics: {error}");
        }
        return ExitCode::FAILURE;
    }
    print_summary(&rules, &store, lines);
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Reads the files on up to one thread per core, each thread taking a contiguous run of files
/// in order with its own engine and store. Merging the stores in thread order gives the
/// result of reading the files one after another (a gauge keeps the value it had last).
fn read_in_parallel(
    rules: &Arc<RuleSet>,
    files: &[PathBuf],
    max_line_bytes: usize,
) -> (Store, Vec<io::Result<SplitStats>>) {
    let threads = thread::available_parallelism()
        .map_or(1, usize::from)
        .min(files.len())
        .max(1);
    let chunk = files.len().div_ceil(threads).max(1);
    let outcomes: Vec<(Store, Vec<io::Result<SplitStats>>)> = thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|paths| {
                scope.spawn(move || {
                    let mut store = Store::new(rules);
                    let mut engine = Engine::new(rules.clone());
                    let results = paths
                        .iter()
                        .map(|path| read_file(path, max_line_bytes, &mut engine, &mut store))
                        .collect();
                    (store, results)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a reader thread panicked"))
            .collect()
    });

    let mut merged = Store::new(rules);
    let mut results = Vec::with_capacity(files.len());
    for (store, file_results) in outcomes {
        merged.merge(store);
        results.extend(file_results);
    }
    (merged, results)
}

/// Reads one file to its end through the engine and returns what the line splitter counted.
pub fn read_file(
    path: &Path,
    max_line_bytes: usize,
    engine: &mut Engine,
    store: &mut Store,
) -> io::Result<SplitStats> {
    let mut file = open_input(path)?;
    let named = (path.as_os_str() != "-").then_some(path);
    let mut sources = sources_for(engine.rules(), named, false);
    for source in &sources {
        store.attach(engine.rules(), source.file, &source.key);
    }
    let mut splitter = LineSplitter::new(max_line_bytes);
    let mut buffer = vec![0u8; READ_CHUNK_BYTES];
    let mut emit = |line: &[u8]| engine.apply_sources(&mut sources, line, store);

    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        splitter.push(&buffer[..read], &mut emit);
    }
    splitter.finish(&mut emit);
    Ok(splitter.stats())
}

/// Opens an input: `-` is standard input, a `.gz` file is decompressed, anything else is read
/// as it is.
fn open_input(path: &Path) -> io::Result<Box<dyn Read>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(io::stdin()));
    }
    let file = File::open(path)?;
    if path.extension().is_some_and(|extension| extension == "gz") {
        return Ok(Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::new(file),
        )));
    }
    Ok(Box::new(file))
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

fn print_exposition(rules: &RuleSet, store: &Store) -> io::Result<()> {
    let mut families: Vec<_> = rules.families.iter().zip(&store.families).collect();
    let mut text = String::with_capacity(64 * 1024);
    exposition::encode(&mut text, &mut families);
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// Reports lines no rule matched and values skipped, once per rule file and metric.
fn print_summary(rules: &RuleSet, store: &Store, lines: u64) {
    for (file, unmatched) in rules.files.iter().zip(&store.unmatched) {
        if *unmatched > 0 {
            let path = file.path.display();
            eprintln!(
                "logtally: {path}: {unmatched} of {lines} line(s) matched no pattern of the rule file"
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
