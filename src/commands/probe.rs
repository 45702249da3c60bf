//! `logtally probe`: a health check for containers whose image has no shell or curl. It requests
//! `/healthz` (or any `http://` URL) from a running logtally and exits 0 on status 200.
//!
//! With `--web.config.file` (or `LOGTALLY_WEB_CONFIG_FILE`, which `logtally run` reads too, so
//! that one variable in a container covers both) naming a config with TLS, it also requests
//! `https://` URLs, and does so by default. It
//! trusts exactly the certificate in that config's `cert_file` instead of checking a chain and
//! a host name. The probe runs beside the server and reads the same file, and a certificate
//! issued for a service name would not match `127.0.0.1` anyway.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme,
};

use crate::cli::ProbeArgs;
use crate::web_config::{self, TlsSettings};

/// Returns the URL probed when none is given: `/healthz` on the default port, over TLS when
/// the web config has it.
pub fn default_url(tls: bool) -> &'static str {
    if tls {
        "https://127.0.0.1:3904/healthz"
    } else {
        "http://127.0.0.1:3904/healthz"
    }
}

/// Runs the command: exit status 0 when the URL responds with status 200 within the timeout,
/// 1 otherwise.
pub fn run(args: &ProbeArgs) -> ExitCode {
    let tls = match &args.web_config_file {
        Some(path) => match tls_client(path) {
            Ok(tls) => tls,
            Err(message) => {
                eprintln!("logtally: {message}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let url = args
        .url
        .as_deref()
        .unwrap_or_else(|| default_url(tls.is_some()));
    match probe(url, args.timeout, tls) {
        Ok(200) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("logtally: {url} responded with status {status}");
            ExitCode::FAILURE
        }
        Err(message) => {
            eprintln!("logtally: probe of {url} failed: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Builds the TLS client for the web config at `path`, or `None` when it has no TLS.
fn tls_client(path: &Path) -> Result<Option<Arc<ClientConfig>>, String> {
    let config = web_config::load(path).map_err(|error| error.to_string())?;
    let Some(tls) = config.tls else {
        return Ok(None);
    };
    if tls.client_certificate_required {
        return Err(format!(
            "cannot probe with {}: its client_auth_type requires a client certificate, and \
             the probe has none",
            path.display()
        ));
    }
    Ok(Some(Arc::new(pinned_client(&tls))))
}

fn pinned_client(tls: &TlsSettings) -> ClientConfig {
    let provider = web_config::provider();
    let verifier = PinnedCertificate {
        certificate: tls.certificate.clone(),
        provider: provider.clone(),
    };
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth()
}

/// Sends one GET and returns the status code.
fn probe(url: &str, timeout: Duration, tls: Option<Arc<ClientConfig>>) -> Result<u16, String> {
    let (rest, tls) = match (url.strip_prefix("https://"), tls) {
        (Some(rest), Some(tls)) => (rest, Some(tls)),
        (Some(_), None) => {
            return Err("https:// needs --web.config.file naming a config with \
                        tls_server_config"
                .to_owned());
        }
        (None, _) => (
            url.strip_prefix("http://")
                .ok_or("only http:// and https:// URLs are supported")?,
            None,
        ),
    };
    let (authority, path) = match rest.find('/') {
        Some(index) => (&rest[..index], &rest[index..]),
        None => (rest, "/"),
    };
    let stream = connect(authority, timeout)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    match tls {
        Some(tls) => {
            let host = authority
                .rsplit_once(':')
                .map_or(authority, |(host, _)| host)
                .trim_start_matches('[')
                .trim_end_matches(']');
            let name = ServerName::try_from(host.to_owned())
                .map_err(|error| format!("invalid host {host:?}: {error}"))?;
            let connection = ClientConnection::new(tls, name).map_err(|error| error.to_string())?;
            exchange(rustls::StreamOwned::new(connection, stream), &request)
        }
        None => exchange(stream, &request),
    }
}

fn connect(authority: &str, timeout: Duration) -> Result<TcpStream, String> {
    let address = authority
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve {authority:?}: {error}"))?
        .next()
        .ok_or_else(|| format!("{authority:?} has no address"))?;
    let stream =
        TcpStream::connect_timeout(&address, timeout).map_err(|error| error.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|error| error.to_string())?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|error| error.to_string())?;
    Ok(stream)
}

/// Writes the request and reads the status code from the start of the response.
fn exchange(mut stream: impl Read + Write, request: &str) -> Result<u16, String> {
    stream.write_all(request.as_bytes()).map_err(describe)?;
    let mut head = [0u8; 64];
    let read = stream.read(&mut head).map_err(describe)?;
    let status_line = String::from_utf8_lossy(&head[..read]);
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            format!(
                "not an HTTP response: {:?}",
                status_line.lines().next().unwrap_or("")
            )
        })
}

/// The error that [`PinnedCertificate`] returns for a server with another certificate.
const NOT_PINNED: rustls::Error =
    rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure);

/// Describes an I/O error, naming the pinned certificate when that is what failed.
fn describe(error: io::Error) -> String {
    let tls = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    if tls == Some(&NOT_PINNED) {
        return "the server's certificate is not the one in the web config's cert_file".to_owned();
    }
    error.to_string()
}

/// Accepts a server whose first certificate is exactly `certificate`, and checks its
/// handshake signatures as any client does.
#[derive(Debug)]
struct PinnedCertificate {
    certificate: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.certificate.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(NOT_PINNED)
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, certificate, signature, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, certificate, signature, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
