//! Checks the `--remote-write.*` flags at start and turns them into [`Settings`]: parsed URLs,
//! external labels, credentials and the TLS client configuration.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use hyper::Uri;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use thiserror::Error;
use tracing::warn;

use crate::cli::RemoteWriteArgs;
use crate::rules::names::check_label_name;

/// An invalid `--remote-write.*` flag, found at start.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A URL that does not parse, or has no host.
    #[error("invalid --remote-write.url {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// A URL given twice.
    #[error("--remote-write.url {url:?} is given twice")]
    DuplicateUrl { url: String },
    /// An external label that is not `NAME=VALUE` with a valid name, or a name given twice.
    #[error("invalid --remote-write.external-label {text:?}: {reason}")]
    InvalidExternalLabel { text: String, reason: String },
    /// A credentials file that cannot be read.
    #[error("cannot read {flag} {}: {source}", path.display())]
    ReadCredentials {
        flag: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A credentials file with nothing in it.
    #[error("{flag} {} is empty", path.display())]
    EmptyCredentials { flag: &'static str, path: PathBuf },
    /// A credentials file with a control character, such as a line break inside the value,
    /// which an HTTP header cannot carry.
    #[error(
        "{flag} {} contains a control character, such as a second line, which an HTTP \
         header cannot carry",
        path.display()
    )]
    ControlCharacter { flag: &'static str, path: PathBuf },
    /// A CA file that cannot be read or contains no certificate.
    #[error("invalid --remote-write.ca-file {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    /// `--remote-write.ca-file` without an `https://` URL to use it for.
    #[error("--remote-write.ca-file is set, but no --remote-write.url is https://")]
    CaFileUnused,
    /// No CA certificate found in the system's store for `https://` URLs.
    #[error(
        "no CA certificates found in the system's certificate store for https:// URLs \
         ({details}); install them (Debian package ca-certificates) or give \
         --remote-write.ca-file"
    )]
    NoSystemRoots { details: String },
}

/// Remote-write settings: the `--remote-write.*` flags, checked.
#[derive(Debug)]
pub struct Settings {
    pub endpoints: Vec<Endpoint>,
    pub interval: Duration,
    pub timeout: Duration,
    /// Pushes kept for each endpoint while it fails; at least 1.
    pub max_pending: usize,
    /// Labels added to each series that lacks them, sorted by name, none with an empty value.
    pub external_labels: Vec<(String, String)>,
    pub auth: Auth,
    /// The TLS client for `https://` endpoints, present when there is one.
    pub tls: Option<Arc<ClientConfig>>,
}

/// One `--remote-write.url`, split into what a connection and a request need.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The URL as given, for logs and the `url` label of the self-metrics.
    pub url: String,
    /// The host for DNS and TLS: a name or an IP address, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// The `Host` header: the URL's authority.
    pub authority: String,
    /// The request target: path and query.
    pub target: String,
    /// The name to verify the server's certificate for, present for `https://` URLs.
    pub server_name: Option<ServerName<'static>>,
}

/// Credentials sent with every request.
#[derive(Debug)]
pub enum Auth {
    None,
    Basic {
        username: String,
        password: SecretFile,
    },
    Bearer(SecretFile),
}

impl Auth {
    /// Returns the `Authorization` header value for the next request, reading the credentials
    /// file again.
    pub fn header(&self) -> Option<String> {
        match self {
            Auth::None => None,
            Auth::Basic { username, password } => {
                let pair = format!("{username}:{}", password.read());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                Some(format!("Basic {encoded}"))
            }
            Auth::Bearer(token) => Some(format!("Bearer {}", token.read())),
        }
    }

    /// Returns whether requests carry credentials.
    pub fn is_some(&self) -> bool {
        !matches!(self, Auth::None)
    }
}

/// A password or token file, read before every request so that a rotated secret applies
/// without a restart. When a read fails, the last value read stays in use.
pub struct SecretFile {
    flag: &'static str,
    path: PathBuf,
    /// The last value read, and whether the last read failed, so a failure is logged once.
    last: Mutex<(String, bool)>,
}

impl std::fmt::Debug for SecretFile {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret itself stays out of debug output.
        formatter
            .debug_struct("SecretFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SecretFile {
    /// Reads the file for the first time; it must exist and not be empty.
    fn open(flag: &'static str, path: &Path) -> Result<SecretFile, ConfigError> {
        let value = read_secret(path).map_err(|source| ConfigError::ReadCredentials {
            flag,
            path: path.to_owned(),
            source,
        })?;
        if value.is_empty() {
            return Err(ConfigError::EmptyCredentials {
                flag,
                path: path.to_owned(),
            });
        }
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(ConfigError::ControlCharacter {
                flag,
                path: path.to_owned(),
            });
        }
        Ok(SecretFile {
            flag,
            path: path.to_owned(),
            last: Mutex::new((value, false)),
        })
    }

    /// Returns the file's current contents, or the last value read when it cannot be read now
    /// or is empty, as it may be for a moment while a secret is being replaced.
    fn read(&self) -> String {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        match read_secret(&self.path) {
            Ok(value) if !value.is_empty() => {
                *last = (value, false);
            }
            outcome => {
                if !last.1 {
                    let error = match outcome {
                        Ok(_) => "the file is empty".to_owned(),
                        Err(error) => error.to_string(),
                    };
                    warn!(
                        flag = self.flag,
                        path = %self.path.display(),
                        %error,
                        "Failed to read the credentials file; using the value read before."
                    );
                }
                last.1 = true;
            }
        }
        last.0.clone()
    }
}

/// Reads a secret file without its final line ending, which editors and `echo` add.
fn read_secret(path: &Path) -> io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    let value = text
        .strip_suffix('\n')
        .map(|rest| rest.strip_suffix('\r').unwrap_or(rest))
        .unwrap_or(&text);
    Ok(value.to_owned())
}

impl Settings {
    /// Checks the flags; returns `None` when no `--remote-write.url` is given.
    pub fn from_args(args: &RemoteWriteArgs) -> Result<Option<Settings>, ConfigError> {
        if args.urls.is_empty() {
            return Ok(None);
        }
        let mut endpoints: Vec<Endpoint> = Vec::new();
        for url in &args.urls {
            if endpoints.iter().any(|endpoint| endpoint.url == *url) {
                return Err(ConfigError::DuplicateUrl { url: url.clone() });
            }
            endpoints.push(parse_endpoint(url)?);
        }
        let any_https = endpoints
            .iter()
            .any(|endpoint| endpoint.server_name.is_some());
        let tls = match (any_https, &args.ca_file) {
            (false, None) => None,
            (false, Some(_)) => return Err(ConfigError::CaFileUnused),
            (true, ca_file) => Some(tls_client(ca_file.as_deref())?),
        };
        let auth = auth(args)?;
        let plain = endpoints
            .iter()
            .filter(|endpoint| endpoint.server_name.is_none());
        for endpoint in plain.filter(|_| auth.is_some()) {
            warn!(
                url = %endpoint.url,
                "Remote-write credentials are sent unencrypted, over http://."
            );
        }
        Ok(Some(Settings {
            endpoints,
            interval: args.interval,
            timeout: args.timeout,
            max_pending: usize::from(args.max_pending.max(1)),
            external_labels: external_labels(&args.external_labels, host_name())?,
            auth,
            tls,
        }))
    }
}

/// Parses an `http://` or `https://` URL. User information in the URL is rejected, since the
/// URL appears in logs and metric labels: credentials have flags of their own.
fn parse_endpoint(url: &str) -> Result<Endpoint, ConfigError> {
    let invalid = |reason: &str| ConfigError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = url
        .parse()
        .map_err(|error: hyper::http::uri::InvalidUri| invalid(&error.to_string()))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(invalid("the scheme must be http:// or https://")),
    };
    let Some(authority) = uri.authority() else {
        return Err(invalid("it has no host"));
    };
    if authority.as_str().contains('@') {
        return Err(invalid(
            "credentials in the URL are not supported; use \
             --remote-write.basic-auth.username and --remote-write.basic-auth.password-file",
        ));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if host.is_empty() {
        return Err(invalid("it has no host"));
    }
    let server_name = if https {
        let name = ServerName::try_from(host.clone())
            .map_err(|error| invalid(&format!("invalid host name for TLS: {error}")))?;
        Some(name)
    } else {
        None
    };
    let target = uri
        .path_and_query()
        .map_or("/", |target| target.as_str())
        .to_owned();
    Ok(Endpoint {
        url: url.to_owned(),
        host,
        port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
        authority: authority.as_str().to_owned(),
        target: if target.is_empty() {
            "/".into()
        } else {
            target
        },
        server_name,
    })
}

/// Reads the credentials flags.
fn auth(args: &RemoteWriteArgs) -> Result<Auth, ConfigError> {
    if let (Some(username), Some(path)) = (&args.username, &args.password_file) {
        let password = SecretFile::open("--remote-write.basic-auth.password-file", path)?;
        return Ok(Auth::Basic {
            username: username.clone(),
            password,
        });
    }
    if let Some(path) = &args.bearer_token_file {
        let token = SecretFile::open("--remote-write.bearer-token-file", path)?;
        return Ok(Auth::Bearer(token));
    }
    Ok(Auth::None)
}

/// Builds the external labels: `job="logtally"` and `instance` set to `host`, then the
/// `NAME=VALUE` flags, which replace them. An empty value removes the label.
fn external_labels(
    flags: &[String],
    host: Option<String>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut given: Vec<(String, String)> = Vec::new();
    for text in flags {
        let invalid = |reason: String| ConfigError::InvalidExternalLabel {
            text: text.clone(),
            reason,
        };
        let Some((name, value)) = text.split_once('=') else {
            return Err(invalid("write it as NAME=VALUE".to_owned()));
        };
        check_label_name(name).map_err(invalid)?;
        if given.iter().any(|(seen, _)| seen == name) {
            return Err(invalid(format!("the label {name:?} is given twice")));
        }
        given.push((name.to_owned(), value.to_owned()));
    }

    let defaults = [("job", Some("logtally".to_owned())), ("instance", host)];
    for (name, value) in defaults {
        if let Some(value) = value
            && !given.iter().any(|(seen, _)| seen == name)
        {
            given.push((name.to_owned(), value));
        }
    }
    given.retain(|(_, value)| !value.is_empty());
    given.sort();
    Ok(given)
}

/// Returns the machine's host name, or `None` when it cannot be read.
fn host_name() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `buffer.len()` bytes into the buffer passed to it.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if status != 0 {
        return None;
    }
    let length = buffer.iter().position(|&byte| byte == 0)?;
    let name = String::from_utf8_lossy(&buffer[..length]).into_owned();
    (!name.is_empty()).then_some(name)
}

/// Builds the TLS client that verifies servers against the CA file, or against the system's
/// CA certificates without one.
fn tls_client(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, ConfigError> {
    let roots = match ca_file {
        Some(path) => file_roots(path)?,
        None => system_roots()?,
    };
    let mut config = ClientConfig::builder_with_provider(crate::web_config::provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn file_roots(path: &Path) -> Result<RootCertStore, ConfigError> {
    let invalid = |reason: String| ConfigError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|error| invalid(error.to_string()))?;
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&bytes) {
        let certificate = certificate.map_err(|error| invalid(error.to_string()))?;
        roots
            .add(certificate)
            .map_err(|error| invalid(error.to_string()))?;
    }
    if roots.is_empty() {
        return Err(invalid(
            "it contains no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned(),
        ));
    }
    Ok(roots)
}

/// Loads the system's CA certificates (`/etc/ssl/certs` and the like, or the files that
/// `SSL_CERT_FILE` and `SSL_CERT_DIR` name). Certificates that fail to parse are skipped, as
/// a system store often has a few that rustls rejects.
fn system_roots() -> Result<RootCertStore, ConfigError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let details = match found.errors.first() {
            Some(error) => error.to_string(),
            None => "the store is empty".to_owned(),
        };
        return Err(ConfigError::NoSystemRoots { details });
    }
    for error in &found.errors {
        warn!(%error, "Failed to load some of the system's CA certificates.");
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_parts() {
        let endpoint = parse_endpoint("https://[::1]:9443/api/v1/write?tenant=a").unwrap();
        assert_eq!(endpoint.host, "::1");
        assert_eq!(endpoint.port, 9443);
        assert_eq!(endpoint.authority, "[::1]:9443");
        assert_eq!(endpoint.target, "/api/v1/write?tenant=a");
        assert!(endpoint.server_name.is_some());

        let plain = parse_endpoint("http://prometheus").unwrap();
        assert_eq!(plain.port, 80);
        assert_eq!(plain.target, "/");
        assert!(plain.server_name.is_none());
    }

    #[test]
    fn endpoint_errors() {
        let cases = [
            (
                "ftp://host/x",
                "invalid --remote-write.url \"ftp://host/x\": the scheme must be http:// or \
                 https://",
            ),
            (
                "/api/v1/write",
                "invalid --remote-write.url \"/api/v1/write\": the scheme must be http:// or \
                 https://",
            ),
            (
                "http://user:secret@host/",
                "invalid --remote-write.url \"http://user:secret@host/\": credentials in the \
                 URL are not supported; use --remote-write.basic-auth.username and \
                 --remote-write.basic-auth.password-file",
            ),
        ];
        for (url, message) in cases {
            let error = parse_endpoint(url).unwrap_err();
            assert_eq!(error.to_string(), message, "{url}");
        }
    }

    #[test]
    fn external_labels_defaults_and_overrides() {
        let host = Some("node-1".to_owned());
        assert_eq!(
            external_labels(&[], host.clone()).unwrap(),
            [
                ("instance".to_owned(), "node-1".to_owned()),
                ("job".to_owned(), "logtally".to_owned()),
            ]
        );
        let flags = ["region=eu".to_owned(), "instance=".to_owned()];
        assert_eq!(
            external_labels(&flags, host.clone()).unwrap(),
            [
                ("job".to_owned(), "logtally".to_owned()),
                ("region".to_owned(), "eu".to_owned()),
            ]
        );
        let job = ["job=edge".to_owned()];
        assert_eq!(
            external_labels(&job, None).unwrap(),
            [("job".to_owned(), "edge".to_owned())]
        );
    }

    #[test]
    fn external_label_errors() {
        let cases = [
            (
                "region",
                "invalid --remote-write.external-label \"region\": write it as NAME=VALUE",
            ),
            (
                "__name__=x",
                "invalid --remote-write.external-label \"__name__=x\": invalid label name \
                 \"__name__\": names starting with \"__\" are reserved",
            ),
        ];
        for (flag, message) in cases {
            let error = external_labels(&[flag.to_owned()], None).unwrap_err();
            assert_eq!(error.to_string(), message, "{flag}");
        }
        let twice = ["a=1".to_owned(), "a=2".to_owned()];
        assert_eq!(
            external_labels(&twice, None).unwrap_err().to_string(),
            "invalid --remote-write.external-label \"a=2\": the label \"a\" is given twice"
        );
    }

    #[test]
    fn secret_without_final_line_feed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret \r\n").unwrap();
        let secret = SecretFile::open("--remote-write.bearer-token-file", &path).unwrap();
        assert_eq!(secret.read(), "s3cret ");

        std::fs::write(&path, "rotated\n").unwrap();
        assert_eq!(secret.read(), "rotated");

        std::fs::remove_file(&path).unwrap();
        assert_eq!(secret.read(), "rotated");
    }

    #[test]
    fn empty_secret_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        std::fs::write(&path, "\n").unwrap();
        let error = SecretFile::open("--remote-write.basic-auth.password-file", &path)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            format!(
                "--remote-write.basic-auth.password-file {} is empty",
                path.display()
            )
        );
    }
}
