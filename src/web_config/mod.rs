//! The web config file (`--web.config.file`): TLS, basic auth and response headers for the
//! HTTP server, in the YAML format of the Prometheus exporter toolkit that node_exporter and
//! the other official exporters read.
//!
//! [`load`] reads the file and every file it names and checks them all, so that a mistake is
//! reported at start. [`WatchedWebConfig`] loads it again when one of those files changes, so
//! a renewed certificate or a changed password is used without a restart.

mod schema;
mod tls;
mod watch;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use hyper::header::{HeaderName, HeaderValue};
use rustls::pki_types::CertificateDer;

use self::schema::{RawHttp, RawWebConfig};
pub use self::tls::provider;
pub use self::watch::WatchedWebConfig;

/// An error in the web config file or in a file it names.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The web config file itself cannot be read.
    #[error("failed to read the web config file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    /// The file, or a certificate, key or hash it contains or names, is invalid.
    #[error("invalid web config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// A loaded and checked web config.
pub struct WebConfig {
    /// TLS settings; `None` serves plain HTTP.
    pub tls: Option<TlsSettings>,
    /// User names and their bcrypt hashes; empty when basic auth is off.
    pub users: BTreeMap<String, String>,
    /// Headers added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The web config file and every file it names, in the order they were read.
    pub files: Vec<PathBuf>,
}

/// The TLS side of a web config.
pub struct TlsSettings {
    /// The rustls server configuration built from `tls_server_config`.
    pub server: Arc<rustls::ServerConfig>,
    /// The first certificate of the server's chain, which `logtally probe` trusts.
    pub certificate: CertificateDer<'static>,
    /// True when the server rejects clients that present no certificate.
    pub client_certificate_required: bool,
}

impl WebConfig {
    /// True when requests to protected paths need a user name and password.
    pub fn basic_auth(&self) -> bool {
        !self.users.is_empty()
    }
}

/// Headers that `http_server_config.headers` may set, as the exporter toolkit allows them.
const ALLOWED_HEADERS: [&str; 5] = [
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Strict-Transport-Security",
];

/// Reads and checks the web config file at `path`. Relative paths inside it are relative to
/// the directory of the file, as in the exporter toolkit.
pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |message: String| WebConfigError::Invalid {
        path: path.to_owned(),
        message,
    };
    let raw = parse(&text).map_err(invalid)?;
    reject_unsupported(&raw).map_err(invalid)?;

    let base = path.parent().unwrap_or(Path::new("."));
    let mut files = vec![path.to_owned()];
    let tls = match &raw.tls_server_config {
        Some(raw_tls) => Some(tls::build(raw_tls, base, &mut files).map_err(invalid)?),
        None => None,
    };
    check_users(&raw.basic_auth_users).map_err(invalid)?;
    let headers = match &raw.http_server_config {
        Some(http) => headers(http).map_err(invalid)?,
        None => Vec::new(),
    };
    Ok(WebConfig {
        tls,
        users: raw.basic_auth_users,
        headers,
        files,
    })
}

/// Parses the YAML. An empty file, or one holding only comments, is an empty config.
fn parse(text: &str) -> Result<RawWebConfig, String> {
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|error| error.to_string())?;
    if value.is_null() {
        return Ok(RawWebConfig::default());
    }
    serde_yaml_ng::from_str(text).map_err(|error| error.to_string())
}

/// Rejects the exporter toolkit's keys that logtally recognises but does not implement.
fn reject_unsupported(raw: &RawWebConfig) -> Result<(), String> {
    let unsupported = |key: &str, reason: &str| {
        Err(format!(
            "{key} is not supported by logtally: {reason}; remove the key"
        ))
    };
    if raw.rate_limit.is_some() {
        return unsupported("rate_limit", "it has no request rate limit");
    }
    if let Some(http) = &raw.http_server_config
        && http.http2 == Some(true)
    {
        return Err(
            "http_server_config.http2: true is not supported: logtally serves \
                    HTTP/1.1 only; set it to false or remove it"
                .to_owned(),
        );
    }
    let Some(tls) = &raw.tls_server_config else {
        return Ok(());
    };
    if tls.cipher_suites.is_some() {
        return unsupported(
            "tls_server_config.cipher_suites",
            "rustls offers only its own set of modern cipher suites",
        );
    }
    if tls.curve_preferences.is_some() {
        return unsupported(
            "tls_server_config.curve_preferences",
            "rustls offers X25519, P-256 and P-384 in its own order",
        );
    }
    if tls.client_allowed_sans.is_some() {
        return unsupported(
            "tls_server_config.client_allowed_sans",
            "client certificates are checked against client_ca_file only",
        );
    }
    Ok(())
}

/// Checks that every user can log in with basic auth and has a bcrypt hash.
fn check_users(users: &BTreeMap<String, String>) -> Result<(), String> {
    for (user, hash) in users {
        if user.contains(':') {
            return Err(format!(
                "basic_auth_users: the user name {user:?} contains ':', which basic auth \
                 cannot send"
            ));
        }
        if let Err(error) = bcrypt::HashParts::from_str(hash) {
            return Err(format!(
                "basic_auth_users: the password hash of user {user:?} is not a bcrypt hash \
                 ({error}); generate one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
            ));
        }
    }
    Ok(())
}

/// Checks `http_server_config.headers`. A header with an empty value is not sent, as in the
/// exporter toolkit.
fn headers(http: &RawHttp) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let mut headers = Vec::new();
    for (name, value) in &http.headers {
        let Some(allowed) = ALLOWED_HEADERS
            .iter()
            .find(|allowed| allowed.eq_ignore_ascii_case(name))
        else {
            return Err(format!(
                "http_server_config.headers: {name} cannot be set; the headers that can are {}",
                ALLOWED_HEADERS.join(", ")
            ));
        };
        if value.is_empty() {
            continue;
        }
        check_header_value(allowed, value)?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            format!("http_server_config.headers: {allowed}: {value:?} is not a valid header value")
        })?;
        headers.push((HeaderName::from_static(lowercase(allowed)), value));
    }
    Ok(headers)
}

/// Checks the values the exporter toolkit restricts.
fn check_header_value(name: &str, value: &str) -> Result<(), String> {
    let allowed: &[&str] = match name {
        "X-Frame-Options" => &["deny", "sameorigin"],
        "X-Content-Type-Options" => &["nosniff"],
        _ => return Ok(()),
    };
    if allowed.iter().any(|word| word.eq_ignore_ascii_case(value)) {
        return Ok(());
    }
    Err(format!(
        "http_server_config.headers: {name} must be {}, not {value:?}",
        allowed.join(" or ")
    ))
}

/// Returns the lowercase form of an allowed header name, as `HeaderName::from_static`
/// requires it.
fn lowercase(name: &str) -> &'static str {
    match name {
        "Content-Security-Policy" => "content-security-policy",
        "X-Frame-Options" => "x-frame-options",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-XSS-Protection" => "x-xss-protection",
        _ => "strict-transport-security",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<WebConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(&path, text).unwrap();
        load(&path).map_err(|error| {
            let prefix = format!("invalid web config file {}: ", path.display());
            error.to_string().replacen(&prefix, "", 1)
        })
    }

    #[test]
    fn empty_file_changes_nothing() {
        let config = load_text("# nothing yet\n").unwrap();
        assert!(config.tls.is_none());
        assert!(!config.basic_auth());
        assert!(config.headers.is_empty());
    }

    #[test]
    fn unknown_key_named() {
        let error = load_text("tls_server_config:\n  certfile: a.crt\n")
            .err()
            .unwrap();
        assert!(
            error.starts_with("tls_server_config: unknown field `certfile`, expected one of"),
            "{error}"
        );
        let error = load_text("basic_auth:\n  alice: x\n").err().unwrap();
        assert!(
            error.starts_with("unknown field `basic_auth`, expected one of"),
            "{error}"
        );
    }

    #[test]
    fn unsupported_keys_named() {
        let cases = [
            (
                "rate_limit:\n  interval: 1s\n",
                "rate_limit is not supported by logtally: it has no request rate limit; \
                 remove the key",
            ),
            (
                "http_server_config:\n  http2: true\n",
                "http_server_config.http2: true is not supported: logtally serves HTTP/1.1 \
                 only; set it to false or remove it",
            ),
            (
                "tls_server_config:\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
                "tls_server_config.cipher_suites is not supported by logtally: rustls offers \
                 only its own set of modern cipher suites; remove the key",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(load_text(text).err().unwrap(), expected);
        }
    }

    #[test]
    fn invalid_hash_rejected() {
        let error = load_text("basic_auth_users:\n  alice: secret\n")
            .err()
            .unwrap();
        assert!(
            error.starts_with(
                "basic_auth_users: the password hash of user \"alice\" is not a bcrypt hash"
            ),
            "{error}"
        );
    }

    #[test]
    fn colon_in_user_rejected() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let error = load_text(&format!("basic_auth_users:\n  'a:b': '{hash}'\n"))
            .err()
            .unwrap();
        assert_eq!(
            error,
            "basic_auth_users: the user name \"a:b\" contains ':', which basic auth cannot send"
        );
    }

    #[test]
    fn headers_checked() {
        let config = load_text(
            "http_server_config:\n  http2: false\n  headers:\n    x-frame-options: DENY\n    \
             Strict-Transport-Security: max-age=31536000\n    X-XSS-Protection: ''\n",
        )
        .unwrap();
        let headers: Vec<(&str, &str)> = config
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.to_str().unwrap()))
            .collect();
        assert_eq!(
            headers,
            [
                ("strict-transport-security", "max-age=31536000"),
                ("x-frame-options", "DENY"),
            ]
        );

        let error = load_text("http_server_config:\n  headers:\n    Server: x\n")
            .err()
            .unwrap();
        assert_eq!(
            error,
            "http_server_config.headers: Server cannot be set; the headers that can are \
             Content-Security-Policy, X-Frame-Options, X-Content-Type-Options, \
             X-XSS-Protection, Strict-Transport-Security"
        );
        let error = load_text("http_server_config:\n  headers:\n    X-Frame-Options: allow\n")
            .err()
            .unwrap();
        assert_eq!(
            error,
            "http_server_config.headers: X-Frame-Options must be deny or sameorigin, not \"allow\""
        );
    }

    #[test]
    fn missing_file_reported() {
        let error = load(Path::new("/nonexistent/web.yml")).err().unwrap();
        assert_eq!(
            error.to_string(),
            "failed to read the web config file /nonexistent/web.yml: No such file or \
             directory (os error 2)"
        );
    }
}
