//! Sends one remote-write request over HTTP/1.1, or HTTPS with rustls, and sorts the outcome
//! into success, a failure worth retrying, or a rejection.
//!
//! Each request opens a new connection. A push is one request per interval, so a handshake
//! per push costs little, and a new connection cannot be one that the server closed while it
//! was idle.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue, RETRY_AFTER,
    USER_AGENT,
};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::config::Endpoint;

/// The `User-Agent` of every request.
pub const USER_AGENT_VALUE: &str = concat!("logtally/", env!("CARGO_PKG_VERSION"));

/// The remote-write protocol version that requests declare.
pub const PROTOCOL_VERSION: &str = "0.1.0";

/// Bytes of an error response's body kept for the log.
const BODY_EXCERPT_BYTES: usize = 512;

/// Kind of request failure, as the `reason` label of the failure counter names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Connecting, the TLS handshake or the HTTP exchange failed.
    Connection,
    /// The request did not complete within the timeout.
    Timeout,
    /// The server responded with a 5xx status.
    ServerError,
    /// The server responded with 429 Too Many Requests.
    Throttled,
    /// The server responded with another status that is not 2xx; not retried.
    Rejected,
}

impl FailureKind {
    /// Every kind, in the order of the failure counters.
    pub const ALL: [FailureKind; 5] = [
        FailureKind::Connection,
        FailureKind::Timeout,
        FailureKind::ServerError,
        FailureKind::Throttled,
        FailureKind::Rejected,
    ];

    /// Returns the `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Connection => "connection",
            FailureKind::Timeout => "timeout",
            FailureKind::ServerError => "server_error",
            FailureKind::Throttled => "throttled",
            FailureKind::Rejected => "rejected",
        }
    }

    /// Returns whether the same request may succeed later. Remote write 1.0 requires retrying
    /// 5xx responses and forbids retrying other 4xx ones, while 429 may be retried.
    pub fn is_retryable(self) -> bool {
        self != FailureKind::Rejected
    }
}

/// A failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    /// The response status, when there was a response.
    pub status: Option<u16>,
    /// Description of the failure: the error, or the start of the response body.
    pub detail: String,
    /// The wait that a 429 or 503 response asked for in `Retry-After`, in whole seconds.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for Failure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(formatter, "status {status}: {:?}", self.detail),
            None => formatter.write_str(&self.detail),
        }
    }
}

/// Sends requests to remote-write endpoints.
pub struct Client {
    tls: Option<TlsConnector>,
    timeout: Duration,
}

impl Client {
    /// Creates a client whose requests each take at most `timeout`.
    pub fn new(tls: Option<Arc<ClientConfig>>, timeout: Duration) -> Client {
        Client {
            tls: tls.map(TlsConnector::from),
            timeout,
        }
    }

    /// POSTs `body` (a compressed `WriteRequest`) to `endpoint` with the `authorization`
    /// header value, if any.
    pub async fn push(
        &self,
        endpoint: &Endpoint,
        authorization: Option<&str>,
        body: Bytes,
    ) -> Result<(), Failure> {
        let request = build_request(endpoint, authorization, body)?;
        let exchange = self.exchange(endpoint, request);
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure {
                kind: FailureKind::Timeout,
                status: None,
                detail: format!("no response within {:?}", self.timeout),
                retry_after: None,
            }),
        }
    }

    async fn exchange(
        &self,
        endpoint: &Endpoint,
        request: Request<Full<Bytes>>,
    ) -> Result<(), Failure> {
        let address = format!("{}:{}", endpoint.host, endpoint.port);
        let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(|error| connection(format!("failed to connect to {address}: {error}")))?;
        // A push is one write; waiting to coalesce it with more only adds latency.
        let _ = tcp.set_nodelay(true);
        let (response, _connection) = match (&endpoint.server_name, &self.tls) {
            (Some(name), Some(tls)) => {
                let stream = tls.connect(name.clone(), tcp).await.map_err(|error| {
                    connection(format!("TLS handshake with {address} failed: {error}"))
                })?;
                send(TokioIo::new(stream), request).await?
            }
            _ => send(TokioIo::new(tcp), request).await?,
        };
        outcome(response).await
    }
}

/// Builds the POST with the headers that remote write 1.0 requires.
fn build_request(
    endpoint: &Endpoint,
    authorization: Option<&str>,
    body: Bytes,
) -> Result<Request<Full<Bytes>>, Failure> {
    let mut builder = Request::post(endpoint.target.as_str())
        .header(HOST, endpoint.authority.as_str())
        .header(CONTENT_ENCODING, "snappy")
        .header(CONTENT_TYPE, "application/x-protobuf")
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header("X-Prometheus-Remote-Write-Version", PROTOCOL_VERSION)
        .header(CONTENT_LENGTH, body.len());
    if let Some(value) = authorization {
        // The files were checked at start; a secret rotated since then may still be invalid,
        // and no retry can send it.
        let mut value = HeaderValue::from_str(value).map_err(|_| Failure {
            kind: FailureKind::Rejected,
            status: None,
            detail: "the credentials file now contains a control character, which an HTTP \
                     header cannot carry"
                .to_owned(),
            retry_after: None,
        })?;
        value.set_sensitive(true);
        builder = builder.header(AUTHORIZATION, value);
    }
    let request = builder.body(Full::new(body));
    Ok(request.expect("the endpoint and headers were checked at start"))
}

/// Sends the request on a new HTTP/1.1 connection over `io` and returns the response, with
/// the task that drives the connection.
async fn send<T>(
    io: T,
    request: Request<Full<Bytes>>,
) -> Result<(Response<Incoming>, ConnectionTask), Failure>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection_future) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|error| connection(format!("HTTP handshake failed: {error}")))?;
    let task = ConnectionTask(tokio::spawn(async move {
        let _ = connection_future.await;
    }));
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| connection(format!("the request failed: {error}")))?;
    Ok((response, task))
}

/// The task that moves a connection's bytes. Dropping it closes the connection, so a push
/// that times out or is cancelled at shutdown stops sending, and the queue's next attempt
/// is the only copy on its way.
struct ConnectionTask(tokio::task::JoinHandle<()>);

impl Drop for ConnectionTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sorts a response by its status; for a failure, keeps the start of its body.
async fn outcome(response: Response<Incoming>) -> Result<(), Failure> {
    let status = response.status();
    if status.is_success() {
        // Remote write 1.0 reserves the body of a success, and senders ignore it.
        return Ok(());
    }
    let kind = match status.as_u16() {
        429 => FailureKind::Throttled,
        500..=599 => FailureKind::ServerError,
        _ => FailureKind::Rejected,
    };
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let detail = body_excerpt(response.into_body()).await;
    Err(Failure {
        kind,
        status: Some(status.as_u16()),
        detail,
        retry_after,
    })
}

/// Reads the start of a body, at most [`BODY_EXCERPT_BYTES`], as text.
async fn body_excerpt(mut body: Incoming) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < BODY_EXCERPT_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    bytes.extend_from_slice(data);
                }
            }
            _ => break,
        }
    }
    bytes.truncate(BODY_EXCERPT_BYTES);
    String::from_utf8_lossy(&bytes).trim_end().to_owned()
}

fn connection(detail: String) -> Failure {
    Failure {
        kind: FailureKind::Connection,
        status: None,
        detail,
        retry_after: None,
    }
}
