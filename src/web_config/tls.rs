//! Builds the rustls server configuration from `tls_server_config`: the certificate chain
//! and key, client certificate checks and the TLS versions.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};

use super::TlsSettings;
use super::schema::RawTls;

/// The exporter toolkit's `client_auth_type` values that logtally implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientAuth {
    NoClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

/// Returns ring's crypto provider, used for every TLS connection logtally makes or accepts.
/// ring builds with a C compiler alone.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the TLS settings, appending each file read to `files`.
pub(super) fn build(
    raw: &RawTls,
    base: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<TlsSettings, String> {
    let certificates = read_certificates(raw, base, files)?;
    let key = read_key(raw, base, files)?;
    let client_auth = client_auth(raw.client_auth_type.as_deref())?;
    let client_roots = client_roots(raw, base, files)?;
    let versions = versions(raw.min_version.as_deref(), raw.max_version.as_deref())?;

    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|error| format!("tls_server_config: {error}"))?;
    let builder = match (client_auth, client_roots) {
        (ClientAuth::NoClientCert, None) => builder.with_no_client_auth(),
        (ClientAuth::NoClientCert, Some(_)) => {
            return Err(
                "tls_server_config: client_ca_file is set but client_auth_type is \
                        NoClientCert, so no client certificate would be checked; set \
                        client_auth_type: RequireAndVerifyClientCert"
                    .to_owned(),
            );
        }
        (mode, None) => {
            return Err(format!(
                "tls_server_config: client_auth_type {mode:?} needs client_ca_file (or \
                 client_ca) to verify client certificates with"
            ));
        }
        (mode, Some(roots)) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let verifier = if mode == ClientAuth::VerifyClientCertIfGiven {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|error| format!("tls_server_config.client_ca_file: {error}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let first = certificates[0].clone();
    let mut server = builder
        .with_single_cert(certificates, key)
        .map_err(|error| match error {
            rustls::Error::InconsistentKeys(_) => {
                "tls_server_config: the private key does not belong to the certificate".to_owned()
            }
            other => format!("tls_server_config: the certificate or key is invalid: {other}"),
        })?;
    server.ignore_client_order = raw.prefer_server_cipher_suites.unwrap_or(true);
    Ok(TlsSettings {
        server: Arc::new(server),
        certificate: first,
        client_certificate_required: client_auth == ClientAuth::RequireAndVerifyClientCert,
    })
}

/// Returns the PEM text given inline under `inline_key` or read from the file under
/// `file_key`, with its source for messages. It returns `None` when neither key is set, and
/// an error when both are.
fn pem_text(
    inline: Option<&String>,
    file: Option<&PathBuf>,
    (inline_key, file_key): (&str, &str),
    base: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<Option<(Vec<u8>, String)>, String> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(format!(
            "tls_server_config: give {inline_key} or {file_key}, not both"
        )),
        (Some(text), None) => Ok(Some((
            text.as_bytes().to_vec(),
            format!("tls_server_config.{inline_key}"),
        ))),
        (None, Some(file)) => {
            let path = base.join(file);
            let bytes = std::fs::read(&path).map_err(|error| {
                format!(
                    "cannot read tls_server_config.{file_key} {}: {error}",
                    path.display()
                )
            })?;
            files.push(path.clone());
            Ok(Some((
                bytes,
                format!("tls_server_config.{file_key} {}", path.display()),
            )))
        }
        (None, None) => Ok(None),
    }
}

fn read_certificates(
    raw: &RawTls,
    base: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let keys = ("cert", "cert_file");
    let (pem, source) = pem_text(raw.cert.as_ref(), raw.cert_file.as_ref(), keys, base, files)?
        .ok_or("tls_server_config needs cert_file (or cert) and key_file (or key)")?;
    parse_certificates(&pem, &source)
}

fn parse_certificates(pem: &[u8], source: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("{source} is not valid PEM: {error}"))?;
    if certificates.is_empty() {
        return Err(format!("{source} contains no PEM certificate"));
    }
    Ok(certificates)
}

fn read_key(
    raw: &RawTls,
    base: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<PrivateKeyDer<'static>, String> {
    let keys = ("key", "key_file");
    let (pem, source) = pem_text(raw.key.as_ref(), raw.key_file.as_ref(), keys, base, files)?
        .ok_or("tls_server_config needs key_file (or key) as well as the certificate")?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|error| format!("{source} contains no PEM private key: {error}"))
}

fn client_roots(
    raw: &RawTls,
    base: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<Option<Arc<RootCertStore>>, String> {
    let keys = ("client_ca", "client_ca_file");
    let inline = raw.client_ca.as_ref();
    let Some((pem, source)) = pem_text(inline, raw.client_ca_file.as_ref(), keys, base, files)?
    else {
        return Ok(None);
    };
    let mut roots = RootCertStore::empty();
    for certificate in parse_certificates(&pem, &source)? {
        roots
            .add(certificate)
            .map_err(|error| format!("{source}: invalid CA certificate: {error}"))?;
    }
    Ok(Some(Arc::new(roots)))
}

fn client_auth(value: Option<&str>) -> Result<ClientAuth, String> {
    match value.unwrap_or("NoClientCert") {
        "NoClientCert" | "" => Ok(ClientAuth::NoClientCert),
        "VerifyClientCertIfGiven" => Ok(ClientAuth::VerifyClientCertIfGiven),
        "RequireAndVerifyClientCert" => Ok(ClientAuth::RequireAndVerifyClientCert),
        mode @ ("RequestClientCert" | "RequireAnyClientCert") => Err(format!(
            "tls_server_config.client_auth_type {mode} is not supported: logtally verifies \
             every client certificate it asks for; use RequireAndVerifyClientCert or \
             VerifyClientCertIfGiven"
        )),
        other => Err(format!(
            "tls_server_config.client_auth_type {other:?} is not one of NoClientCert, \
             VerifyClientCertIfGiven, RequireAndVerifyClientCert"
        )),
    }
}

/// Lists the protocol versions from `min_version` (default TLS12) to `max_version` (default
/// TLS13).
fn versions(
    min: Option<&str>,
    max: Option<&str>,
) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let min = version_rank("min_version", min.unwrap_or("TLS12"))?;
    let max = version_rank("max_version", max.unwrap_or("TLS13"))?;
    if min > max {
        return Err("tls_server_config: min_version is newer than max_version".to_owned());
    }
    let all = [&rustls::version::TLS12, &rustls::version::TLS13];
    Ok(all[min..=max].to_vec())
}

/// 0 for TLS 1.2 and 1 for TLS 1.3, the versions rustls implements.
fn version_rank(key: &str, value: &str) -> Result<usize, String> {
    match value {
        "TLS12" => Ok(0),
        "TLS13" => Ok(1),
        "TLS10" | "TLS11" => Err(format!(
            "tls_server_config.{key} {value} is not supported: rustls implements TLS 1.2 and \
             1.3 only; use TLS12"
        )),
        other => Err(format!(
            "tls_server_config.{key} {other:?} is not one of TLS12, TLS13"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ranges() {
        assert_eq!(versions(None, None).unwrap().len(), 2);
        assert_eq!(
            versions(Some("TLS13"), None).unwrap(),
            [&rustls::version::TLS13]
        );
        assert_eq!(
            versions(None, Some("TLS12")).unwrap(),
            [&rustls::version::TLS12]
        );
        assert_eq!(
            versions(Some("TLS13"), Some("TLS12")).unwrap_err(),
            "tls_server_config: min_version is newer than max_version"
        );
        assert_eq!(
            versions(Some("TLS10"), None).unwrap_err(),
            "tls_server_config.min_version TLS10 is not supported: rustls implements TLS 1.2 \
             and 1.3 only; use TLS12"
        );
        assert_eq!(
            versions(Some("1.2"), None).unwrap_err(),
            "tls_server_config.min_version \"1.2\" is not one of TLS12, TLS13"
        );
    }

    #[test]
    fn client_auth_types() {
        assert_eq!(client_auth(None), Ok(ClientAuth::NoClientCert));
        assert_eq!(
            client_auth(Some("RequireAndVerifyClientCert")),
            Ok(ClientAuth::RequireAndVerifyClientCert)
        );
        assert_eq!(
            client_auth(Some("RequireAnyClientCert")).unwrap_err(),
            "tls_server_config.client_auth_type RequireAnyClientCert is not supported: \
             logtally verifies every client certificate it asks for; use \
             RequireAndVerifyClientCert or VerifyClientCertIfGiven"
        );
        assert_eq!(
            client_auth(Some("Always")).unwrap_err(),
            "tls_server_config.client_auth_type \"Always\" is not one of NoClientCert, \
             VerifyClientCertIfGiven, RequireAndVerifyClientCert"
        );
    }
}
