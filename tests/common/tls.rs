//! TLS for the tests: a throw-away CA with server and client certificates written as PEM
//! files, and a small HTTPS client built on rustls that reports TLS errors as they are.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

/// PEM files of one test PKI, in one directory.
pub struct Pki {
    /// The CA that issued the server and client certificates.
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A client certificate issued by `ca`.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A client certificate issued by another CA, which the server must reject.
    pub stranger_cert: PathBuf,
    pub stranger_key: PathBuf,
}

impl Pki {
    /// Creates the CA and certificates in `dir`. The server certificate is valid for
    /// `127.0.0.1` and `localhost`.
    pub fn create(dir: &Path) -> Pki {
        let ca = issuer("logtally test CA");
        let other_ca = issuer("another test CA");
        let write = |name: &str, contents: &str| {
            let path = dir.join(name);
            std::fs::write(&path, contents).expect("writing a PEM file");
            path
        };
        let (server_cert, server_key) = leaf(
            &ca,
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) =
            leaf(&ca, &["scraper"], ExtendedKeyUsagePurpose::ClientAuth);
        let (stranger_cert, stranger_key) = leaf(
            &other_ca,
            &["stranger"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        Pki {
            ca: write("ca.crt", &ca.pem()),
            server_cert: write("server.crt", &server_cert),
            server_key: write("server.key", &server_key),
            client_cert: write("client.crt", &client_cert),
            client_key: write("client.key", &client_key),
            stranger_cert: write("stranger.crt", &stranger_cert),
            stranger_key: write("stranger.key", &stranger_key),
        }
    }
}

fn issuer(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("generating a CA key");
    CertifiedIssuer::self_signed(params, key).expect("self-signing the CA")
}

/// Issues a certificate for `names`; returns the certificate and key as PEM.
fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    let mut params = CertificateParams::new(names.clone()).expect("certificate parameters");
    params
        .distinguished_name
        .push(DnType::CommonName, &names[0]);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("generating a key");
    let certificate = params
        .signed_by(&key, issuer)
        .expect("signing a certificate");
    (certificate.pem(), key.serialize_pem())
}

/// Returns a rustls client configuration that trusts `ca` and presents `client` (certificate and key
/// files) when given.
pub fn client_config(ca: &Path, client: Option<(&Path, &Path)>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca).expect("reading the CA") {
        roots
            .add(certificate.expect("a CA certificate"))
            .expect("adding the CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("default versions")
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .expect("reading a client certificate")
                .collect::<Result<Vec<_>, _>>()
                .expect("a client certificate");
            let key = PrivateKeyDer::from_pem_file(key).expect("a client key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("a client certificate and key")
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// A response read over HTTPS.
#[derive(Debug)]
pub struct HttpsResponse {
    pub status: u16,
    /// The header section, without the status line.
    pub head: String,
    pub body: String,
}

impl HttpsResponse {
    /// Returns the value of the header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// GETs `path` over a new TLS connection to `address`, with basic auth when `credentials`
/// are given. TLS errors come back as the `io::Error` that rustls gave.
pub fn https_get(
    address: SocketAddr,
    config: &Arc<ClientConfig>,
    path: &str,
    credentials: Option<(&str, &str)>,
) -> io::Result<HttpsResponse> {
    use base64::Engine;

    let tcp = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let name = ServerName::try_from("127.0.0.1").expect("a server name");
    let connection =
        rustls::ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    let authorization = credentials.map_or_else(String::new, |(user, password)| {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Authorization: Basic {encoded}\r\n")
    });
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\n{authorization}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    match stream.read_to_end(&mut response) {
        Ok(_) => {}
        // A server that closes without a TLS close_notify after a complete response.
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(error) => return Err(error),
    }
    let text = String::from_utf8(response).expect("a UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a header section");
    let (status_line, head) = head.split_once("\r\n").unwrap_or((head, ""));
    let status = status_line
        .split_whitespace()
        .nth(1)
        .expect("a status code")
        .parse()
        .expect("a number");
    Ok(HttpsResponse {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    })
}

/// The rustls error inside an I/O error, if that is what it is.
pub fn tls_error(error: &io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}
