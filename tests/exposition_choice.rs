//! Why logtally writes its own exposition instead of encoding with `prometheus-client`.
//!
//! The Prometheus project's Rust client (0.26) writes only OpenMetrics text, ending in
//! `# EOF`, while the telemetry path serves the Prometheus text format 0.0.4 by default. It
//! also sums float counters in binary floating point, so values taken from decimal log fields
//! print with binary noise. These tests pin both facts, so an upgrade that changes them shows
//! up here, and show logtally's output for the same input next to them.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use logtally::decimal::{Decimal, Sum};

#[test]
fn client_crate_sums_in_binary() {
    let mut registry = Registry::default();
    let seconds: Counter<f64, AtomicU64> = Counter::default();
    registry.register("upstream_seconds", "Upstream time.", seconds.clone());
    for _ in 0..3 {
        seconds.inc_by(0.1);
    }

    let mut text = String::new();
    encode(&mut text, &registry).unwrap();

    assert!(
        text.contains("upstream_seconds_total 0.30000000000000007\n"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn decimal_sum_prints_exactly() {
    let mut sum = Sum::default();
    for _ in 0..3 {
        sum.add(Decimal::parse(b"0.1").unwrap());
    }
    assert_eq!(sum.to_string(), "0.3");
}
