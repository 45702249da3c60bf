//! One queue of snapshots per remote-write URL, and the task that sends it in order, retrying
//! failures with exponential backoff and jitter.
//!
//! The queue is bounded and drops its oldest snapshot when full. Each snapshot contains every
//! series' value at its time, and counters and histograms are cumulative, so the next snapshot
//! sent carries every count that a dropped one had: only the samples in between are lost,
//! which thins the history of gauges and the resolution of rates.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use super::client::{Client, Failure, FailureKind};
use super::config::{Auth, Endpoint};
use super::encode::Snapshot;
use crate::metrics::now_ms;

/// The first wait after a failure.
const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// Maximum wait between two attempts, also when a `Retry-After` asks for longer.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A remote-write URL with its queue and counts.
#[derive(Debug)]
pub struct Destination {
    pub endpoint: Endpoint,
    /// Snapshots not sent yet, oldest first. The front one is the one being sent.
    queue: Mutex<VecDeque<Arc<Snapshot>>>,
    max_pending: usize,
    /// Wakes the sending task when a snapshot arrives.
    wake: Notify,
    samples_sent: AtomicU64,
    /// Failed requests, indexed as [`FailureKind::ALL`].
    failures: [AtomicU64; 5],
    last_success_ms: AtomicU64,
    dropped: AtomicU64,
    /// Whether a dropped snapshot was logged since the last success, so an outage logs once.
    drop_logged: AtomicBool,
}

/// The counts of one destination at one moment, for logtally's own metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationStats {
    pub url: String,
    pub samples_sent: u64,
    /// Failed requests by kind, in the order of [`FailureKind::ALL`].
    pub failures: [u64; 5],
    /// Time of the last accepted request in milliseconds since the Unix epoch, 0 before one.
    pub last_success_ms: u64,
    pub dropped: u64,
    pub pending: u64,
}

impl Destination {
    /// Creates the destination with an empty queue of at most `max_pending` snapshots.
    pub fn new(endpoint: Endpoint, max_pending: usize) -> Destination {
        Destination {
            endpoint,
            queue: Mutex::new(VecDeque::new()),
            max_pending: max_pending.max(1),
            wake: Notify::new(),
            samples_sent: AtomicU64::new(0),
            failures: Default::default(),
            last_success_ms: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            drop_logged: AtomicBool::new(false),
        }
    }

    /// Appends a snapshot, dropping the oldest when the queue is full.
    pub fn enqueue(&self, snapshot: Arc<Snapshot>) {
        let mut queue = self.lock();
        if queue.len() >= self.max_pending {
            queue.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
            if !self.drop_logged.swap(true, Ordering::Relaxed) {
                warn!(
                    url = %self.endpoint.url,
                    max_pending = self.max_pending,
                    "The remote-write queue is full; dropping its oldest snapshot. Newer \
                     snapshots carry its counts."
                );
            }
        }
        queue.push_back(snapshot);
        drop(queue);
        self.wake.notify_one();
    }

    /// Returns the counts for the self-metrics.
    pub fn stats(&self) -> DestinationStats {
        DestinationStats {
            url: self.endpoint.url.clone(),
            samples_sent: self.samples_sent.load(Ordering::Relaxed),
            failures: self
                .failures
                .each_ref()
                .map(|count| count.load(Ordering::Relaxed)),
            last_success_ms: self.last_success_ms.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            pending: self.lock().len() as u64,
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Arc<Snapshot>>> {
        self.queue
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn front(&self) -> Option<Arc<Snapshot>> {
        self.lock().front().cloned()
    }

    /// Removes `snapshot` from the front, unless a full queue dropped it meanwhile.
    fn remove(&self, snapshot: &Arc<Snapshot>) {
        let mut queue = self.lock();
        if queue
            .front()
            .is_some_and(|front| Arc::ptr_eq(front, snapshot))
        {
            queue.pop_front();
        }
    }

    /// Records an accepted request and removes its snapshot.
    fn sent(&self, snapshot: &Arc<Snapshot>) {
        self.samples_sent
            .fetch_add(snapshot.samples, Ordering::Relaxed);
        self.last_success_ms.store(now_ms(), Ordering::Relaxed);
        self.drop_logged.store(false, Ordering::Relaxed);
        self.remove(snapshot);
    }

    /// Counts a failed request, and removes its snapshot when no retry can succeed.
    fn failed(&self, snapshot: &Arc<Snapshot>, failure: &Failure) {
        let index = FailureKind::ALL
            .iter()
            .position(|kind| *kind == failure.kind)
            .expect("every kind is in ALL");
        self.failures[index].fetch_add(1, Ordering::Relaxed);
        if !failure.kind.is_retryable() {
            self.remove(snapshot);
        }
    }
}

/// Sends the destination's snapshots in order, for as long as the task runs. The owner
/// aborts it on shutdown and then calls [`flush`].
pub async fn run(destination: Arc<Destination>, client: Arc<Client>, auth: Arc<Auth>) {
    let mut backoff = Backoff::new();
    let mut failing = FailureLog::default();
    loop {
        let Some(snapshot) = destination.front() else {
            destination.wake.notified().await;
            continue;
        };
        let authorization = auth.header();
        let body = snapshot.body.clone();
        let result = client
            .push(&destination.endpoint, authorization.as_deref(), body)
            .await;
        match result {
            Ok(()) => {
                destination.sent(&snapshot);
                backoff.reset();
                failing.recovered(&destination.endpoint.url);
            }
            Err(failure) => {
                destination.failed(&snapshot, &failure);
                if failure.kind.is_retryable() {
                    let delay = backoff.next(failure.retry_after);
                    failing.retrying(&destination.endpoint.url, &failure, delay);
                    tokio::time::sleep(delay).await;
                } else {
                    failing.rejected(&destination.endpoint.url, &failure);
                }
            }
        }
    }
}

/// Sends what is left in the queue, once each, in order, until one fails in a way worth
/// retrying. Returns the number of snapshots left unsent.
pub async fn flush(destination: Arc<Destination>, client: Arc<Client>, auth: Arc<Auth>) -> usize {
    while let Some(snapshot) = destination.front() {
        let authorization = auth.header();
        let result = client
            .push(
                &destination.endpoint,
                authorization.as_deref(),
                snapshot.body.clone(),
            )
            .await;
        match result {
            Ok(()) => destination.sent(&snapshot),
            Err(failure) => {
                destination.failed(&snapshot, &failure);
                warn!(
                    url = %destination.endpoint.url,
                    error = %failure,
                    "The last remote-write push before shutdown failed."
                );
                if failure.kind.is_retryable() {
                    break;
                }
            }
        }
    }
    destination.lock().len()
}

/// Exponential backoff with jitter: each wait is drawn between half and all of a bound that
/// doubles after every failure, from [`MIN_BACKOFF`] up to [`MAX_BACKOFF`]. The jitter keeps a
/// fleet that lost its receiver at once from retrying in step.
struct Backoff {
    bound: Duration,
    random: SystemRandom,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff {
            bound: MIN_BACKOFF,
            random: SystemRandom::new(),
        }
    }

    fn reset(&mut self) {
        self.bound = MIN_BACKOFF;
    }

    /// Returns the wait before the next attempt. A `Retry-After` from the server is honoured
    /// up to [`MAX_BACKOFF`].
    fn next(&mut self, requested: Option<Duration>) -> Duration {
        let bound = self.bound;
        self.bound = (bound * 2).min(MAX_BACKOFF);
        let mut bytes = [0u8; 8];
        // SystemRandom fails only when the kernel's random source does; then no jitter.
        let _ = self.random.fill(&mut bytes);
        let fraction = u64::from_le_bytes(bytes) as f64 / u64::MAX as f64;
        let jittered = bound.mul_f64(0.5 + fraction / 2.0);
        match requested {
            Some(wait) => wait.min(MAX_BACKOFF).max(jittered),
            None => jittered,
        }
    }
}

/// Logs failures once per run of the same kind and status, and the recovery after them, so
/// an unreachable receiver does not fill the log.
#[derive(Default)]
struct FailureLog {
    /// The kind and status of the last failure logged at warning level.
    last: Option<(FailureKind, Option<u16>)>,
    /// Failed attempts since the last success.
    attempts: u64,
}

impl FailureLog {
    fn is_new(&mut self, failure: &Failure) -> bool {
        self.attempts += 1;
        let key = (failure.kind, failure.status);
        self.last.replace(key) != Some(key)
    }

    fn retrying(&mut self, url: &str, failure: &Failure, delay: Duration) {
        if self.is_new(failure) {
            warn!(
                url,
                reason = failure.kind.as_str(),
                error = %failure,
                retry_in = ?delay,
                "Remote-write push failed; retrying with backoff."
            );
        } else {
            debug!(
                url,
                reason = failure.kind.as_str(),
                error = %failure,
                retry_in = ?delay,
                "Remote-write push failed again."
            );
        }
    }

    fn rejected(&mut self, url: &str, failure: &Failure) {
        if self.is_new(failure) {
            warn!(
                url,
                error = %failure,
                "Remote-write push rejected; the snapshot is dropped, not retried. Later \
                 snapshots are still sent."
            );
        } else {
            debug!(url, error = %failure, "Remote-write push rejected again.");
        }
    }

    fn recovered(&mut self, url: &str) {
        if self.last.take().is_some() {
            info!(
                url,
                failed_attempts = self.attempts,
                "Remote-write push succeeded again."
            );
        }
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn snapshot(samples: u64) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            body: Bytes::new(),
            samples,
            timestamp_ms: 0,
        })
    }

    fn destination(max_pending: usize) -> Destination {
        let endpoint = Endpoint {
            url: "http://127.0.0.1:9/write".into(),
            host: "127.0.0.1".into(),
            port: 9,
            authority: "127.0.0.1:9".into(),
            target: "/write".into(),
            server_name: None,
        };
        Destination::new(endpoint, max_pending)
    }

    #[test]
    fn full_queue_drops_oldest() {
        let destination = destination(2);
        for samples in 1..=3 {
            destination.enqueue(snapshot(samples));
        }
        let stats = destination.stats();
        assert_eq!(stats.pending, 2);
        assert_eq!(stats.dropped, 1);
        assert_eq!(destination.front().unwrap().samples, 2);
    }

    #[test]
    fn dropped_front_not_removed_twice() {
        let destination = destination(1);
        let first = snapshot(1);
        destination.enqueue(first.clone());
        destination.enqueue(snapshot(2));
        destination.sent(&first);
        assert_eq!(destination.front().unwrap().samples, 2);
        assert_eq!(destination.stats().samples_sent, 1);
    }

    #[test]
    fn rejection_removes_snapshot() {
        let destination = destination(4);
        let first = snapshot(1);
        destination.enqueue(first.clone());
        let failure = |kind| Failure {
            kind,
            status: Some(500),
            detail: String::new(),
            retry_after: None,
        };
        destination.failed(&first, &failure(FailureKind::ServerError));
        assert_eq!(destination.stats().pending, 1);
        destination.failed(&first, &failure(FailureKind::Rejected));
        let stats = destination.stats();
        assert_eq!(stats.pending, 0);
        assert_eq!(stats.failures, [0, 0, 1, 0, 1]);
    }

    #[test]
    fn backoff_doubles_within_jitter() {
        let mut backoff = Backoff::new();
        let mut bound = MIN_BACKOFF;
        for _ in 0..12 {
            let wait = backoff.next(None);
            assert!(wait >= bound / 2, "{wait:?} below half of {bound:?}");
            assert!(wait <= bound, "{wait:?} above {bound:?}");
            bound = (bound * 2).min(MAX_BACKOFF);
        }
        assert_eq!(backoff.bound, MAX_BACKOFF);
        backoff.reset();
        assert!(backoff.next(None) <= MIN_BACKOFF);
    }

    #[test]
    fn retry_after_honoured_up_to_max() {
        let mut backoff = Backoff::new();
        assert_eq!(
            backoff.next(Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(backoff.next(Some(Duration::from_secs(3600))), MAX_BACKOFF);
    }
}
