//! The web config file as written: the YAML keys of the Prometheus exporter toolkit's web
//! configuration, before any file it names is read.
//!
//! Every table denies unknown keys, so a misspelt key is an error naming it. Keys that the
//! toolkit defines but logtally does not implement are accepted by the parser and rejected by
//! [`super::load`] with a message that names them, instead of being ignored.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_yaml_ng::Value;

/// The whole file. Every section is optional, and an empty file changes nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebConfig {
    pub tls_server_config: Option<RawTls>,
    pub http_server_config: Option<RawHttp>,
    /// User names and their bcrypt hashes.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
    /// The toolkit's request rate limit, which logtally does not implement.
    pub rate_limit: Option<Value>,
}

/// `tls_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// The certificate chain inline, as PEM text.
    pub cert: Option<String>,
    /// The private key inline, as PEM text.
    pub key: Option<String>,
    pub client_auth_type: Option<String>,
    pub client_ca_file: Option<PathBuf>,
    /// The client CA certificates inline, as PEM text.
    pub client_ca: Option<String>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    pub prefer_server_cipher_suites: Option<bool>,
    pub cipher_suites: Option<Value>,
    pub curve_preferences: Option<Value>,
    pub client_allowed_sans: Option<Value>,
}

/// `http_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub http2: Option<bool>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}
