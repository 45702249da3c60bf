//! Basic auth against the bcrypt hashes of the web config's `basic_auth_users`.
//!
//! bcrypt is slow on purpose, so a flood of wrong passwords must not take every core from the
//! tailer, nor stall the single-threaded runtime that serves scrapes. Verification runs on tokio's blocking threads, one at a time, and
//! waiting requests use no CPU. A successful verification is cached, keyed by a SHA-256 digest
//! of user, password and hash, so Prometheus scraping with the right password pays for bcrypt
//! once and does not queue behind a flood. Failures are not cached.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hyper::header::HeaderValue;
use ring::digest::{SHA256, digest};
use tokio::sync::Semaphore;
use tracing::warn;

use crate::throttle::{Throttle, WARNING_INTERVAL};

/// Cached successful verifications kept before the cache is cleared. Only right passwords
/// enter it, so it stays at one entry per user and password in normal use.
const MAX_CACHED: usize = 1024;

/// Checks basic auth credentials; one instance is shared by every connection.
pub struct Authenticator {
    /// One permit: at most one bcrypt verification runs at a time.
    verifier: Arc<Semaphore>,
    /// SHA-256 digests of user, password and hash of verifications that succeeded.
    verified: Mutex<HashSet<[u8; 32]>>,
    /// Limits the warnings about failed checks, which every request could repeat.
    failure_warnings: Mutex<Throttle>,
}

impl Default for Authenticator {
    fn default() -> Self {
        Authenticator {
            verifier: Arc::new(Semaphore::new(1)),
            verified: Mutex::new(HashSet::new()),
            failure_warnings: Mutex::new(Throttle::new(WARNING_INTERVAL)),
        }
    }
}

impl Authenticator {
    /// Returns true when `authorization` contains basic auth credentials of one of `users`.
    pub async fn check(
        &self,
        users: &BTreeMap<String, String>,
        authorization: Option<&HeaderValue>,
    ) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let (hash, known) = match users.get(&user) {
            Some(hash) => (hash.clone(), true),
            // An unknown user still costs one verification, so that response times do not
            // tell which user names exist.
            None => match users.values().next() {
                Some(hash) => (hash.clone(), false),
                None => return false,
            },
        };
        let key = cache_key(&user, &password, &hash);
        if known && self.lock().contains(&key) {
            return true;
        }
        let matched = self.verify(password, hash).await;
        if matched && known {
            let mut verified = self.lock();
            if verified.len() >= MAX_CACHED {
                verified.clear();
            }
            verified.insert(key);
        }
        matched && known
    }

    /// Runs bcrypt on a blocking thread once the single permit is free. The permit moves into
    /// the blocking task, so a client that disconnects while it runs does not free it early.
    async fn verify(&self, password: Vec<u8>, hash: String) -> bool {
        let Ok(permit) = self.verifier.clone().acquire_owned().await else {
            return false;
        };
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            bcrypt::verify(&password, &hash).unwrap_or(false)
        });
        match task.await {
            Ok(matched) => matched,
            Err(error) => {
                let suppressed = self
                    .failure_warnings
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .allow(Instant::now());
                if let Some(suppressed) = suppressed {
                    warn!(%error, suppressed, "The password check failed.");
                }
                false
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.verified
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Splits `Basic base64(user:password)` into user and password. The user must be UTF-8; the
/// password is kept as bytes, as bcrypt takes them.
fn parse_basic(authorization: &HeaderValue) -> Option<(String, Vec<u8>)> {
    use base64::Engine;

    let value = authorization.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|byte| *byte == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

/// A digest that identifies a user, password and hash, so the cache stores no password.
fn cache_key(user: &str, password: &[u8], hash: &str) -> [u8; 32] {
    let mut input = Vec::with_capacity(user.len() + password.len() + hash.len() + 2);
    input.extend_from_slice(user.as_bytes());
    input.push(0);
    input.extend_from_slice(hash.as_bytes());
    input.push(0);
    input.extend_from_slice(password);
    let mut key = [0u8; 32];
    key.copy_from_slice(digest(&SHA256, &input).as_ref());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user_password: &str) -> HeaderValue {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_password);
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    #[test]
    fn basic_credentials_parsed() {
        assert_eq!(
            parse_basic(&header("alice:pa:ss")),
            Some(("alice".to_owned(), b"pa:ss".to_vec()))
        );
        assert_eq!(
            parse_basic(&HeaderValue::from_static("basic YTpi")),
            Some(("a".to_owned(), b"b".to_vec()))
        );
        assert_eq!(parse_basic(&header("no colon")), None);
        assert_eq!(parse_basic(&HeaderValue::from_static("Bearer YTpi")), None);
        assert_eq!(parse_basic(&HeaderValue::from_static("Basic !!!")), None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn right_password_cached() {
        let users = BTreeMap::from([("alice".to_owned(), bcrypt::hash("right", 4).unwrap())]);
        let authenticator = Authenticator::default();
        assert!(!authenticator.check(&users, None).await);
        assert!(
            !authenticator
                .check(&users, Some(&header("alice:wrong")))
                .await
        );
        assert!(
            !authenticator
                .check(&users, Some(&header("bob:right")))
                .await
        );
        assert_eq!(authenticator.lock().len(), 0);

        assert!(
            authenticator
                .check(&users, Some(&header("alice:right")))
                .await
        );
        assert_eq!(authenticator.lock().len(), 1);
        assert!(
            authenticator
                .check(&users, Some(&header("alice:right")))
                .await
        );
        assert_eq!(authenticator.lock().len(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn changed_hash_not_cached() {
        let mut users = BTreeMap::from([("alice".to_owned(), bcrypt::hash("old", 4).unwrap())]);
        let authenticator = Authenticator::default();
        assert!(
            authenticator
                .check(&users, Some(&header("alice:old")))
                .await
        );

        users.insert("alice".to_owned(), bcrypt::hash("new", 4).unwrap());
        assert!(
            !authenticator
                .check(&users, Some(&header("alice:old")))
                .await
        );
        assert!(
            authenticator
                .check(&users, Some(&header("alice:new")))
                .await
        );
    }
}
