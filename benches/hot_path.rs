//! Microbenchmarks of the hot path: applying each shipped rule file to its sample lines,
//! splitting a buffer into lines, and writing the exposition of 100,000 series.
//!
//! Run with `cargo bench --bench hot_path`. The per-line figures divide by the number of lines
//! in each sample, which divan reports as items.

use std::path::Path;
use std::sync::Arc;

use divan::{Bencher, black_box, counter::ItemsCount};
use logtally::engine::Engine;
use logtally::exposition;
use logtally::lines::LineSplitter;
use logtally::metrics::Store;
use logtally::rules::RuleSet;

fn main() {
    divan::main();
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Lines of a sample log, repeated to about 10,000 lines so a run is long enough to time.
fn sample_lines(path: &str) -> Vec<Vec<u8>> {
    let text = std::fs::read(root().join(path)).expect("a sample log");
    let lines: Vec<Vec<u8>> = text
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let copies = (10_000 / lines.len()).max(1);
    lines
        .iter()
        .cycle()
        .take(lines.len() * copies)
        .cloned()
        .collect()
}

fn rules(path: &str) -> Arc<RuleSet> {
    Arc::new(RuleSet::load(&[root().join(path)]).expect("shipped rules load"))
}

/// Parses every sample line and records its updates, as `once` and the daemon do.
#[divan::bench(args = [
    ("rules/envoy.toml", "testdata/envoy/access.log"),
    ("rules/nginx.toml", "testdata/nginx/access.log"),
    ("rules/nginx-timed.toml", "testdata/nginx/timed.log"),
    ("rules/nginx-json.toml", "testdata/nginx/json.log"),
    ("rules/envoy-grpc.toml", "testdata/envoy-grpc/access.log"),
    ("rules/envoy-json.toml", "testdata/envoy-json/access.log"),
    ("rules/istio.toml", "testdata/istio/access.log"),
    ("rules/apache.toml", "testdata/apache/access.log"),
    ("rules/haproxy.toml", "testdata/haproxy/haproxy.log"),
])]
fn parse_and_update(bencher: Bencher, (rule_file, log): (&str, &str)) {
    let rules = rules(rule_file);
    let lines = sample_lines(log);
    let mut store = Store::new(&rules);
    let mut engine = Engine::new(rules.clone());
    bencher
        .counter(ItemsCount::new(lines.len()))
        .bench_local(|| {
            for line in &lines {
                engine.apply(black_box(line), &mut store);
            }
        });
}

/// Splits 16 MiB of 200-byte lines arriving in 256 KiB reads.
#[divan::bench]
fn split_lines(bencher: Bencher) {
    let line = [b"x".repeat(199), b"\n".to_vec()].concat();
    let data = line.repeat(16 * 1024 * 1024 / line.len());
    let lines = data.len() / line.len();
    bencher.counter(ItemsCount::new(lines)).bench_local(|| {
        let mut splitter = LineSplitter::new(1024 * 1024);
        let mut count = 0u64;
        for chunk in data.chunks(256 * 1024) {
            splitter.push(chunk, &mut |line| count += line.len() as u64);
        }
        black_box(count)
    });
}

/// A store with one counter of 100,000 label sets, as a large scrape sees.
fn store_100k_series() -> (Arc<RuleSet>, Store) {
    let source = "[parse]\nregex = '^(?P<path>\\S+)$'\n\n[[metric]]\nname = \"requests_total\"\ntype = \"counter\"\nhelp = \"Requests.\"\nlabels = [\"path\"]\nmax_series = 200000\n";
    let rules = Arc::new(RuleSet::from_source(Path::new("bench.toml"), source).unwrap());
    let mut store = Store::new(&rules);
    let mut engine = Engine::new(rules.clone());
    for index in 0..100_000 {
        engine.apply(format!("/api/items/{index}").as_bytes(), &mut store);
    }
    (rules, store)
}

/// Writes the exposition of a counter with 100,000 label sets, as one scrape does.
#[divan::bench(sample_count = 20)]
fn exposition_100k_series(bencher: Bencher) {
    let (rules, store) = store_100k_series();
    bencher
        .counter(ItemsCount::new(100_000usize))
        .bench_local(|| {
            let mut families: Vec<_> = rules.families.iter().zip(&store.families).collect();
            let mut text = String::with_capacity(8 * 1024 * 1024);
            exposition::encode(&mut text, &mut families);
            black_box(text.len())
        });
}

/// Copies the series of 100,000 label sets, the part of a scrape that holds the store lock.
#[divan::bench(sample_count = 20)]
fn copy_100k_series(bencher: Bencher) {
    let (_, store) = store_100k_series();
    bencher
        .counter(ItemsCount::new(100_000usize))
        .bench_local(|| black_box(store.families.clone()));
}
