//! Remote write: pushes the metrics that a scrape would show to Prometheus remote-write
//! receivers, for hosts that Prometheus cannot reach to scrape.
//!
//! ```text
//! series store ─> snapshot (every interval) ─> queue per URL ─> POST, retried with backoff
//! ```
//!
//! A thread of its own takes a snapshot of every series each `--remote-write.interval` and
//! encodes it once as a snappy-compressed `WriteRequest` ([`encode`]). The snapshot goes to
//! the queue of each URL ([`sender`]), where a task sends it over HTTP or HTTPS ([`client`]).
//! Taking a snapshot holds the store lock only while it copies the series, as a scrape does,
//! and nothing else here touches the tailer or the HTTP server. A slow or unreachable receiver
//! thus delays neither the reading of logs nor scrapes.

mod client;
mod config;
mod encode;
mod sender;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

pub use client::{FailureKind, PROTOCOL_VERSION, USER_AGENT_VALUE};
pub use config::{ConfigError, Settings};
pub use encode::{STALE_NAN_BITS, SeriesValue, Snapshot, Snapshotter, series};
pub use sender::DestinationStats;

use client::Client;
use config::Auth;
use sender::Destination;

use crate::metrics::{FamilySeries, now_ms};
use crate::rules::FamilyDef;

/// How often the thread checks whether the files present at start have been read, before
/// the first snapshot.
const READY_POLL: Duration = Duration::from_millis(100);

/// A function that receives every metric family with its series.
pub type FamilyVisitor<'a> = dyn FnMut(&mut [(&FamilyDef, &FamilySeries)]) + 'a;

/// The source of snapshots: the metric families and whether the first read is done.
pub trait Source: Send + Sync + 'static {
    /// Calls `visit` once with every metric family to push, all as of one moment so that they
    /// agree with each other.
    fn visit_families(&self, visit: &mut FamilyVisitor<'_>);

    /// Returns whether the files present at start have been read to their end.
    fn ready(&self) -> bool;
}

/// The counts of every destination, readable while the pusher runs.
#[derive(Debug, Clone)]
pub struct StatsHandle(Arc<[Arc<Destination>]>);

impl StatsHandle {
    /// Returns each destination's counts, in the order of the URLs.
    pub fn read(&self) -> Vec<DestinationStats> {
        self.0
            .iter()
            .map(|destination| destination.stats())
            .collect()
    }
}

/// Remote write, configured but not started.
pub struct RemoteWrite {
    settings: Settings,
    destinations: Arc<[Arc<Destination>]>,
}

impl RemoteWrite {
    /// Creates a queue for each URL of `settings`.
    pub fn new(settings: Settings) -> RemoteWrite {
        let destinations = settings
            .endpoints
            .iter()
            .map(|endpoint| Arc::new(Destination::new(endpoint.clone(), settings.max_pending)))
            .collect();
        RemoteWrite {
            settings,
            destinations,
        }
    }

    /// Returns a handle to the counts for logtally's own metrics.
    pub fn stats(&self) -> StatsHandle {
        StatsHandle(self.destinations.clone())
    }

    /// Starts the thread that takes snapshots from `source` and pushes them.
    pub fn start(self, source: Arc<dyn Source>) -> std::io::Result<Pusher> {
        let (stop, stopped) = watch::channel(false);
        let urls: Vec<&str> = self
            .settings
            .endpoints
            .iter()
            .map(|endpoint| endpoint.url.as_str())
            .collect();
        info!(
            urls = urls.join(","),
            interval = ?self.settings.interval,
            "Pushing metrics with remote write."
        );
        let thread = thread::Builder::new()
            .name("remote-write".into())
            .spawn(move || run_thread(self, source, stopped))?;
        Ok(Pusher { stop, thread })
    }
}

/// The running remote-write thread.
pub struct Pusher {
    stop: watch::Sender<bool>,
    thread: thread::JoinHandle<()>,
}

impl Pusher {
    /// Takes a last snapshot, sends what is queued within `--remote-write.timeout`, and
    /// waits for the thread to end.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        if self.thread.join().is_err() {
            error!("The remote-write thread panicked.");
        }
    }
}

fn run_thread(remote: RemoteWrite, source: Arc<dyn Source>, stopped: watch::Receiver<bool>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            error!(%error, "Failed to start the remote-write runtime; no metrics are pushed.");
            return;
        }
    };
    runtime.block_on(push_until_stopped(remote, source, stopped));
    // A DNS lookup still running on a blocking thread must not delay the exit.
    runtime.shutdown_background();
}

/// Everything one push task and the final flush share.
struct Shared {
    client: Arc<Client>,
    auth: Arc<Auth>,
}

async fn push_until_stopped(
    remote: RemoteWrite,
    source: Arc<dyn Source>,
    mut stopped: watch::Receiver<bool>,
) {
    let RemoteWrite {
        mut settings,
        destinations,
    } = remote;
    let shared = Shared {
        client: Arc::new(Client::new(settings.tls.take(), settings.timeout)),
        auth: Arc::new(std::mem::replace(&mut settings.auth, Auth::None)),
    };
    let mut tasks = JoinSet::new();
    for destination in destinations.iter() {
        let (client, auth) = (shared.client.clone(), shared.auth.clone());
        tasks.spawn(sender::run(destination.clone(), client, auth));
    }

    let mut snapshotter = Snapshotter::default();
    let take = |snapshotter: &mut Snapshotter| {
        take_snapshot(&*source, snapshotter, &settings, &destinations);
    };
    if wait_until_ready(&*source, settings.interval, &mut stopped).await {
        let mut ticker = tokio::time::interval(settings.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => take(&mut snapshotter),
                _ = stopped.wait_for(|stop| *stop) => break,
            }
        }
    }

    tasks.abort_all();
    take(&mut snapshotter);
    flush_all(&shared, &destinations, settings.timeout).await;
}

/// Waits until the files present at start have been read, so that the first snapshot does
/// not show a partial count, but at most one interval. Returns `false` when stopped first.
async fn wait_until_ready(
    source: &dyn Source,
    interval: Duration,
    stopped: &mut watch::Receiver<bool>,
) -> bool {
    let deadline = Instant::now() + interval;
    while !source.ready() && Instant::now() < deadline {
        tokio::select! {
            () = tokio::time::sleep(READY_POLL) => {}
            _ = stopped.wait_for(|stop| *stop) => return false,
        }
    }
    true
}

/// Encodes the current series once and queues the snapshot for every destination.
fn take_snapshot(
    source: &dyn Source,
    snapshotter: &mut Snapshotter,
    settings: &Settings,
    destinations: &[Arc<Destination>],
) {
    let mut taken = Vec::new();
    let mut timestamp_ms = 0;
    source.visit_families(&mut |families| {
        timestamp_ms = now_ms() as i64;
        taken = series(families, &settings.external_labels);
    });
    match snapshotter.encode(taken, timestamp_ms) {
        Ok(snapshot) => {
            let snapshot = Arc::new(snapshot);
            for destination in destinations {
                destination.enqueue(snapshot.clone());
            }
        }
        Err(error) => error!(%error, "Failed to compress a remote-write snapshot; skipping it."),
    }
}

/// Sends what every queue holds, all at once, within `timeout`.
async fn flush_all(shared: &Shared, destinations: &[Arc<Destination>], timeout: Duration) {
    let mut flushes = JoinSet::new();
    for destination in destinations {
        let (client, auth) = (shared.client.clone(), shared.auth.clone());
        flushes.spawn(sender::flush(destination.clone(), client, auth));
    }
    let unsent = async {
        let mut unsent = 0;
        while let Some(left) = flushes.join_next().await {
            unsent += left.unwrap_or(0);
        }
        unsent
    };
    match tokio::time::timeout(timeout, unsent).await {
        Ok(0) => info!("Pushed the last remote-write snapshot."),
        Ok(unsent) => warn!(
            unsent,
            "Some remote-write snapshots were not sent before exit."
        ),
        Err(_) => warn!(
            ?timeout,
            "The last remote-write push did not finish in time; exiting without it."
        ),
    }
}
