//! Rate limits for log messages that a flood of connections, lines or file events could
//! repeat: at most one message per interval for each key, and the number of messages held
//! back is reported in the next one that goes through.
//!
//! The caller passes the current time, so the limits are tested without waiting.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Minimum time between two messages about the same repeated problem.
pub const WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// Keys tracked separately by a [`Throttles`] before further keys share one limit.
pub const MAX_KEYS: usize = 1024;

/// Lets one message through per interval and counts the ones it holds back.
#[derive(Debug, Clone)]
pub struct Throttle {
    interval: Duration,
    /// When the last message went through; `None` before the first.
    last: Option<Instant>,
    /// Messages held back since the last one went through.
    suppressed: u64,
}

impl Throttle {
    /// Creates a throttle that lets one message through per `interval`.
    pub const fn new(interval: Duration) -> Throttle {
        Throttle {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// Decides whether a message may be logged at `now`. Returns the number of messages held
    /// back since the last one that went through, to be logged with this one, or `None` when
    /// this message is held back too (and counted).
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        let recent = self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < self.interval);
        if recent {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }

    /// True when the throttle has no held-back messages and would let the next message
    /// through, so forgetting it changes nothing.
    fn is_idle(&self, now: Instant) -> bool {
        self.suppressed == 0
            && self
                .last
                .is_none_or(|last| now.saturating_duration_since(last) >= self.interval)
    }
}

/// One [`Throttle`] per key, such as a file path. At most `max_keys` keys are tracked, and
/// keys beyond that share one throttle. So even a flood of distinct keys logs at most one
/// message per interval for all of them together.
#[derive(Debug)]
pub struct Throttles<K> {
    interval: Duration,
    max_keys: usize,
    per_key: HashMap<K, Throttle>,
    shared: Throttle,
}

impl<K: Eq + Hash> Throttles<K> {
    /// Creates the throttles, each letting one message through per `interval`.
    pub fn new(interval: Duration, max_keys: usize) -> Throttles<K> {
        Throttles {
            interval,
            max_keys,
            per_key: HashMap::new(),
            shared: Throttle::new(interval),
        }
    }

    /// Decides whether a message about `key` may be logged at `now`, as [`Throttle::allow`]
    /// does for that key alone.
    pub fn allow(&mut self, key: K, now: Instant) -> Option<u64> {
        if !self.per_key.contains_key(&key) && self.per_key.len() >= self.max_keys {
            // Idle throttles hold no count, so dropping them loses nothing.
            self.per_key.retain(|_, throttle| !throttle.is_idle(now));
        }
        if let Some(throttle) = self.per_key.get_mut(&key) {
            return throttle.allow(now);
        }
        if self.per_key.len() >= self.max_keys {
            return self.shared.allow(now);
        }
        self.per_key
            .entry(key)
            .or_insert_with(|| Throttle::new(self.interval))
            .allow(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn throttle_counts_held_back_messages() {
        let start = Instant::now();
        let mut throttle = Throttle::new(MINUTE);
        assert_eq!(throttle.allow(start), Some(0));
        for second in 1..=59 {
            assert_eq!(throttle.allow(start + Duration::from_secs(second)), None);
        }
        assert_eq!(throttle.allow(start + MINUTE), Some(59));
        assert_eq!(throttle.allow(start + MINUTE), None);
        assert_eq!(throttle.allow(start + 3 * MINUTE), Some(1));
        assert_eq!(throttle.allow(start + 5 * MINUTE), Some(0));
    }

    #[test]
    fn throttles_separate_keys() {
        let start = Instant::now();
        let mut throttles = Throttles::new(MINUTE, 8);
        assert_eq!(throttles.allow("a", start), Some(0));
        assert_eq!(throttles.allow("b", start), Some(0));
        assert_eq!(throttles.allow("a", start), None);
        assert_eq!(throttles.allow("a", start), None);
        assert_eq!(throttles.allow("b", start), None);
        assert_eq!(throttles.allow("a", start + MINUTE), Some(2));
        assert_eq!(throttles.allow("b", start + MINUTE), Some(1));
    }

    #[test]
    fn keys_beyond_limit_share_one_throttle() {
        let start = Instant::now();
        let mut throttles = Throttles::new(MINUTE, 2);
        assert_eq!(throttles.allow(1, start), Some(0));
        assert_eq!(throttles.allow(2, start), Some(0));
        assert_eq!(throttles.allow(3, start), Some(0));
        assert_eq!(throttles.allow(4, start), None);
        assert_eq!(throttles.allow(5, start), None);
        // A minute later keys 1 and 2 are idle and make room for new keys.
        let later = start + MINUTE;
        assert_eq!(throttles.allow(6, later), Some(0));
        assert_eq!(throttles.allow(7, later), Some(0));
        // Full again: the shared throttle reports the two messages it held back.
        assert_eq!(throttles.allow(8, later), Some(2));
    }

    #[test]
    fn held_back_counts_survive_pruning() {
        let start = Instant::now();
        let mut throttles = Throttles::new(MINUTE, 1);
        assert_eq!(throttles.allow("a", start), Some(0));
        assert_eq!(throttles.allow("a", start), None);
        // "a" has a held-back message, so it is kept and "b" goes to the shared throttle.
        assert_eq!(throttles.allow("b", start + MINUTE), Some(0));
        assert_eq!(throttles.allow("a", start + MINUTE), Some(1));
    }
}
