//! A scripted remote-write receiver for the tests: an HTTP (or HTTPS) server on 127.0.0.1
//! that records each request and responds with the next status of its script, and a decoder
//! for the snappy-compressed `WriteRequest` bodies it receives.
//!
//! The decoder reads the protobuf wire format itself, without logtally's encoder, so a test
//! checks the bytes against the remote-write 1.0 schema rather than against the encoder.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::tls::Pki;

/// One request as the receiver read it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub target: String,
    /// Header names in lower case, with their values, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    /// Returns the value of the header `name` (lower case), if sent once.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut values = self
            .headers
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str());
        let first = values.next();
        assert!(values.next().is_none(), "header {name} sent twice");
        first
    }
}

/// A response of the script: status and body.
pub type Scripted = (u16, &'static str);

/// A script entry that reads the request and keeps the connection open for [`HANG_TIME`]
/// without responding.
pub const HANG: Scripted = (0, "");

/// How long a [`HANG`] entry keeps the client waiting: far beyond the timeouts the tests set.
pub const HANG_TIME: Duration = Duration::from_secs(2);

/// The running receiver; its thread stops when this is dropped.
pub struct Receiver {
    pub address: SocketAddr,
    requests: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    /// Starts a plain HTTP receiver that responds with `script` in order, then with 204.
    pub fn start(script: &[Scripted]) -> Receiver {
        Receiver::start_with(script, None)
    }

    /// Starts an HTTPS receiver with the server certificate of `pki`.
    pub fn start_tls(script: &[Scripted], pki: &Pki) -> Receiver {
        Receiver::start_with(script, Some(server_config(pki)))
    }

    fn start_with(script: &[Scripted], tls: Option<Arc<ServerConfig>>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the receiver");
        let address = listener.local_addr().expect("a local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let script = script.to_vec();
        let (recorded, stopped) = (requests.clone(), stop.clone());
        thread::spawn(move || serve(listener, script, tls, recorded, stopped));
        Receiver {
            address,
            requests,
            stop,
        }
    }

    /// Returns the URL of the write endpoint, with `scheme` `http` or `https`.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}/api/v1/write", self.address)
    }

    /// Returns the requests received so far.
    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until `count` requests have arrived, or fails after `timeout`.
    pub fn wait_for_requests(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let requests = self.requests();
            if requests.len() >= count {
                return requests;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} requests arrived within {timeout:?}",
                requests.len()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept call so that the thread checks the flag.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
    }
}

fn server_config(pki: &Pki) -> Arc<ServerConfig> {
    let chain = CertificateDer::pem_file_iter(&pki.server_cert)
        .expect("reading the server certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("a server certificate");
    let key = PrivateKeyDer::from_pem_file(&pki.server_key).expect("a server key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("default versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("a certificate and key");
    Arc::new(config)
}

/// Accepts connections one at a time, reads one request from each and responds.
fn serve(
    listener: TcpListener,
    script: Vec<Scripted>,
    tls: Option<Arc<ServerConfig>>,
    requests: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
) {
    let mut script = script.into_iter();
    for stream in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(tcp) = stream else { continue };
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
        let outcome = match &tls {
            Some(config) => {
                let connection =
                    rustls::ServerConnection::new(config.clone()).expect("a TLS connection");
                exchange(rustls::StreamOwned::new(connection, tcp), &requests, || {
                    script.next()
                })
            }
            None => exchange(tcp, &requests, || script.next()),
        };
        // A client that gave up (such as one rejecting the certificate) only ends its
        // connection.
        let _ = outcome;
    }
}

/// Reads one request, records it and writes the next scripted response (204 after the end).
fn exchange(
    mut stream: impl Read + Write,
    requests: &Mutex<Vec<Received>>,
    next: impl FnOnce() -> Option<Scripted>,
) -> io::Result<()> {
    let received = read_request(&mut stream)?;
    requests.lock().unwrap().push(received);
    let (status, body) = next().unwrap_or((204, ""));
    if (status, body) == HANG {
        thread::sleep(HANG_TIME);
        return Ok(());
    }
    let response = format!(
        "HTTP/1.1 {status} Scripted\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())?;
    stream.flush()
}

fn read_request(stream: &mut impl Read) -> io::Result<Received> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end;
        }
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..read]);
    };

    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);

    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&chunk[..read]);
    }
    Ok(Received {
        method,
        target,
        headers,
        body,
    })
}

/// One sample of a decoded `WriteRequest`, with its series' labels in the order sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: i64,
}

impl Sample {
    /// Returns the series as `name{label="value",...}` with the labels sorted, as a key.
    pub fn series(&self) -> String {
        let name = self
            .labels
            .iter()
            .find(|(label, _)| label == "__name__")
            .map_or("", |(_, value)| value.as_str());
        let mut others: Vec<String> = self
            .labels
            .iter()
            .filter(|(label, _)| label != "__name__")
            .map(|(label, value)| format!("{label}=\"{value}\""))
            .collect();
        others.sort();
        format!("{name}{{{}}}", others.join(","))
    }
}

/// Decompresses (snappy block format) and decodes a `WriteRequest` body.
pub fn decode_write_request(body: &[u8]) -> Vec<Sample> {
    let request = snap::raw::Decoder::new()
        .decompress_vec(body)
        .expect("a snappy block-format body");
    let mut samples = Vec::new();
    for (field, value) in fields(&request) {
        assert_eq!(field, 1, "WriteRequest has only timeseries (field 1)");
        samples.extend(decode_time_series(value.bytes()));
    }
    samples
}

/// Decodes the samples as a map from series (see [`Sample::series`]) to value.
pub fn decode_values(body: &[u8]) -> BTreeMap<String, f64> {
    decode_write_request(body)
        .into_iter()
        .map(|sample| (sample.series(), sample.value))
        .collect()
}

fn decode_time_series(bytes: &[u8]) -> Vec<Sample> {
    let mut labels = Vec::new();
    let mut points = Vec::new();
    for (field, value) in fields(bytes) {
        match field {
            1 => labels.push(decode_label(value.bytes())),
            2 => points.push(decode_sample(value.bytes())),
            other => panic!("unexpected TimeSeries field {other}"),
        }
    }
    points
        .into_iter()
        .map(|(value, timestamp_ms)| Sample {
            labels: labels.clone(),
            value,
            timestamp_ms,
        })
        .collect()
}

fn decode_label(bytes: &[u8]) -> (String, String) {
    let mut name = String::new();
    let mut value = String::new();
    for (field, content) in fields(bytes) {
        let text = String::from_utf8(content.bytes().to_vec()).expect("a UTF-8 label");
        match field {
            1 => name = text,
            2 => value = text,
            other => panic!("unexpected Label field {other}"),
        }
    }
    (name, value)
}

fn decode_sample(bytes: &[u8]) -> (f64, i64) {
    let mut value = 0.0;
    let mut timestamp = 0;
    for (field, content) in fields(bytes) {
        match (field, content) {
            (1, Field::Fixed64(bits)) => value = f64::from_le_bytes(bits),
            (2, Field::Varint(number)) => timestamp = number as i64,
            (other, _) => panic!("unexpected Sample field {other}"),
        }
    }
    (value, timestamp)
}

/// A field's value by wire type.
#[derive(Debug, Clone, Copy)]
enum Field<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Bytes(&'a [u8]),
}

impl<'a> Field<'a> {
    fn bytes(self) -> &'a [u8] {
        match self {
            Field::Bytes(bytes) => bytes,
            other => panic!("expected a length-delimited field, found {other:?}"),
        }
    }
}

/// Splits a message into its fields.
fn fields(mut bytes: &[u8]) -> Vec<(u32, Field<'_>)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = read_varint(&mut bytes);
        let field = (key >> 3) as u32;
        let value = match key & 7 {
            0 => Field::Varint(read_varint(&mut bytes)),
            1 => {
                let (fixed, rest) = bytes.split_at(8);
                bytes = rest;
                Field::Fixed64(fixed.try_into().unwrap())
            }
            2 => {
                let length = read_varint(&mut bytes) as usize;
                let (content, rest) = bytes.split_at(length);
                bytes = rest;
                Field::Bytes(content)
            }
            other => panic!("unexpected wire type {other}"),
        };
        out.push((field, value));
    }
    out
}

fn read_varint(bytes: &mut &[u8]) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = bytes[0];
        *bytes = &bytes[1..];
        value |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return value;
        }
    }
    panic!("a varint longer than ten bytes");
}
