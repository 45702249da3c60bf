//! The HTTP server: the last stage, serving the exposition to Prometheus.
//!
//! Serves the telemetry path (default `/metrics`), `/healthz`, `/ready`, `/-/reload` (when
//! enabled), the status pages `/status` (HTML) and `/status.json`, and a landing page at `/`.
//! Every other path returns 404, and methods other than GET and HEAD return 405. The server
//! does not depend on rules or files: it calls a [`Scrape`] function for the metrics and a
//! [`StatusReport`] function for the status pages.
//!
//! With a web config (`--web.config.file`) it speaks TLS and requires basic auth on every path
//! but `/healthz` and `/ready`, which report only that the process is alive and has caught
//! up, so that container and Kubernetes probes work without the password.
//!
//! Limits against clients that hold connections open: the request headers (and the TLS
//! handshake) must arrive within [`HEADER_READ_TIMEOUT`], the header section may be at most
//! [`MAX_HEADER_BYTES`] (larger gets 431), a response write may wait at most
//! [`stall::WRITE_STALL_TIMEOUT`] for a client that reads nothing, and at most
//! [`Site::max_connections`] connections are served at once; further ones wait in the
//! kernel's accept queue.

mod auth;
mod stall;
mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    ACCEPT, ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue,
    VARY, WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, warn};

use self::auth::Authenticator;
use self::stall::{StallGuard, WRITE_STALL_TIMEOUT};
use crate::exposition::Format;
use crate::status::{self, Status};
use crate::throttle::{Throttle, WARNING_INTERVAL};
use crate::web_config::WatchedWebConfig;

/// Time a client has to complete the TLS handshake and to send its request headers, each.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request header section accepted, in bytes.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Largest read buffer of a connection, in bytes. It is larger than [`MAX_HEADER_BYTES`] so
/// that an oversized header section is read whole and rejected with 431 before the connection
/// closes. Closing with unread input would reset the connection and lose that response.
const MAX_BUFFER_BYTES: usize = 2 * MAX_HEADER_BYTES;

/// Limits the warnings about failed reload tasks, which each `POST /-/reload` could repeat.
static RELOAD_TASK_WARNINGS: Mutex<Throttle> = Mutex::new(Throttle::new(WARNING_INTERVAL));

/// Produces the exposition text for one scrape, in the given format.
pub type Scrape = Arc<dyn Fn(Format) -> Vec<u8> + Send + Sync>;

/// Takes the status that `/status` and `/status.json` show.
pub type StatusReport = Arc<dyn Fn() -> Status + Send + Sync>;

/// Reloads the rules, returning the error text when they fail to load.
pub type Reload = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// The content the server serves, its telemetry path, and how it is protected.
#[derive(Clone)]
pub struct Site {
    pub telemetry_path: String,
    pub scrape: Scrape,
    pub status: StatusReport,
    /// True once every file found at start has been read to its end.
    pub ready: Arc<dyn Fn() -> bool + Send + Sync>,
    /// Serves `POST /-/reload` when set (`--web.enable-lifecycle`).
    pub reload: Option<Reload>,
    /// TLS, basic auth and extra headers (`--web.config.file`); `None` serves plain HTTP to
    /// anyone.
    pub web_config: Option<Arc<WatchedWebConfig>>,
    /// Connections served at once (`--web.max-connections`).
    pub max_connections: usize,
}

/// Resolves a listen address. `:PORT` means every interface; it tries the IPv6 wildcard first
/// (which also accepts IPv4 on Linux) and falls back to IPv4 where IPv6 is unavailable.
pub async fn bind(address: &str) -> io::Result<TcpListener> {
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err(invalid_address(address, "expected HOST:PORT or :PORT"));
    };
    let port: u16 = port.parse().map_err(|_| {
        invalid_address(
            address,
            &format!("the port {port:?} is not a number from 0 to 65535"),
        )
    })?;
    if host.is_empty() {
        return match TcpListener::bind(SocketAddr::from(([0u16; 8], port))).await {
            Ok(listener) => Ok(listener),
            Err(_) => TcpListener::bind(SocketAddr::from(([0u8; 4], port))).await,
        };
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|error| invalid_address(address, &format!("cannot resolve the host: {error}")))?
        .collect();
    TcpListener::bind(addresses.as_slice()).await
}

fn invalid_address(address: &str, reason: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("invalid listen address {address:?}: {reason}"),
    )
}

/// Accepts connections until `shutdown` completes.
pub async fn serve(listener: TcpListener, site: Site, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(site.max_connections));
    let authenticator = Arc::new(Authenticator::default());
    let mut accept_failing = false;
    let mut accept_warnings = Throttle::new(WARNING_INTERVAL);
    let mut full_warnings = Throttle::new(WARNING_INTERVAL);
    loop {
        let slot = tokio::select! {
            slot = connection_slot(&slots, site.max_connections, &mut full_warnings) => slot,
            () = &mut shutdown => return,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        let (stream, peer) = match accepted {
            Ok(connection) => {
                accept_failing = false;
                connection
            }
            Err(error) => {
                // Typically out of file descriptors. Logged once until an accept works again,
                // and at most once a minute when accepts keep failing and working in turn.
                if !std::mem::replace(&mut accept_failing, true)
                    && let Some(suppressed) = accept_warnings.allow(Instant::now())
                {
                    warn!(%error, suppressed, "Failed to accept a connection; will retry.");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let site = site.clone();
        let authenticator = authenticator.clone();
        tokio::spawn(async move {
            let _slot = slot;
            connection(stream, peer, site, authenticator).await;
        });
    }
}

/// Waits for one of the `max` connection slots. When all are taken it logs a warning, at most
/// once per [`WARNING_INTERVAL`], since a flood would otherwise log one per connection.
async fn connection_slot(
    slots: &Arc<Semaphore>,
    max: usize,
    warnings: &mut Throttle,
) -> OwnedSemaphorePermit {
    if let Ok(slot) = slots.clone().try_acquire_owned() {
        return slot;
    }
    if let Some(suppressed) = warnings.allow(Instant::now()) {
        warn!(
            max_connections = max,
            suppressed,
            "Serving the maximum number of connections; new ones wait until one closes."
        );
    }
    slots
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed")
}

/// Serves one connection, over TLS when the web config in force at its start has it.
async fn connection(stream: TcpStream, peer: SocketAddr, site: Site, auth: Arc<Authenticator>) {
    let tls = site
        .web_config
        .as_ref()
        .and_then(|web| web.current().tls.as_ref().map(|tls| tls.server.clone()));
    let Some(tls) = tls else {
        let stream = StallGuard::new(stream, WRITE_STALL_TIMEOUT);
        return serve_http(TokioIo::new(stream), peer, site, auth).await;
    };
    match tls::accept(stream, tls, HEADER_READ_TIMEOUT).await {
        Ok(stream) => {
            let stream = StallGuard::new(stream, WRITE_STALL_TIMEOUT);
            serve_http(TokioIo::new(stream), peer, site, auth).await
        }
        Err(error) => debug!(%peer, %error, "TLS handshake failed."),
    }
}

/// Serves HTTP/1.1 requests on one connection until it closes.
async fn serve_http<I>(io: I, peer: SocketAddr, site: Site, auth: Arc<Authenticator>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let site = site.clone();
        let auth = auth.clone();
        async move { Ok::<_, Infallible>(guarded(&site, &auth, &request).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_header_size(MAX_HEADER_BYTES)
        .max_buf_size(MAX_BUFFER_BYTES)
        .serve_connection(io, service);
    if let Err(error) = connection.await {
        debug!(%peer, %error, "Connection ended with an error.");
    }
}

/// Logs the address actually bound, which matters when the port was 0.
pub fn log_listening(listener: &TcpListener, telemetry_path: &str) {
    if let Ok(address) = listener.local_addr() {
        info!(%address, telemetry_path, "Listening.");
    }
}

/// Requires basic auth where the web config lists users, then responds and adds the web
/// config's headers to the response.
async fn guarded(
    site: &Site,
    auth: &Authenticator,
    request: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let Some(web) = &site.web_config else {
        return respond(site, request).await;
    };
    let config = web.current();
    let open = matches!(request.uri().path(), "/healthz" | "/ready");
    let authorization = request.headers().get(AUTHORIZATION);
    let mut response =
        if open || !config.basic_auth() || auth.check(&config.users, authorization).await {
            respond(site, request).await
        } else {
            unauthorized()
        };
    for (name, value) in &config.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

fn unauthorized() -> Response<Full<Bytes>> {
    let mut response = text(
        StatusCode::UNAUTHORIZED,
        "Unauthorized: give a user name and password (basic auth).\n",
    );
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"logtally\""),
    );
    response
}

async fn respond(site: &Site, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.uri().path() == "/-/reload" {
        return reload(site, request.method()).await;
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Only GET and HEAD are allowed.\n",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }

    let path = request.uri().path();
    if path == site.telemetry_path {
        return metrics(site, request);
    }
    match path {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/ready" if (site.ready)() => text(StatusCode::OK, "ready\n"),
        "/ready" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: still reading the files found at start\n",
        ),
        "/" => landing_page(&site.telemetry_path),
        "/status" => status_page(site),
        "/status.json" => status_json(site),
        _ => text(
            StatusCode::NOT_FOUND,
            "Not found. The metrics are at the telemetry path.\n",
        ),
    }
}

/// Returns the exposition in the format the `Accept` header requests, gzip-compressed when
/// the client accepts that.
fn metrics(site: &Site, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    let format = Format::negotiate(header(ACCEPT));
    let Some(coding) = choose_coding(header(ACCEPT_ENCODING)) else {
        return text(
            StatusCode::NOT_ACCEPTABLE,
            "Accept-Encoding rejects both gzip and identity; accept one of them.\n",
        );
    };
    let exposition = (site.scrape)(format);
    let gzipped = (coding == Coding::Gzip)
        .then(|| compress(&exposition))
        .flatten();

    let compressed = gzipped.is_some();
    let body = Bytes::from(gzipped.unwrap_or(exposition));
    let mut response = with_type(Response::new(Full::new(body)), format.content_type());
    if compressed {
        response
            .headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
        .headers_mut()
        .insert(VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
    response
}

/// A content coding the metrics endpoint can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Gzip,
    Identity,
}

/// Picks the coding for an `Accept-Encoding` header. Gzip wins when listed (directly or as
/// `*`) with a quality above zero. Otherwise the body goes uncompressed, unless the header
/// rejects that too (`identity;q=0`, or `*;q=0` without `identity`), which gives `None`.
fn choose_coding(accept_encoding: Option<&str>) -> Option<Coding> {
    let Some(header) = accept_encoding else {
        return Some(Coding::Identity);
    };
    let mut gzip = None;
    let mut identity = None;
    let mut any = None;
    for choice in header.split(',') {
        let mut parts = choice.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("").to_ascii_lowercase();
        let quality = parts
            .find_map(|parameter| {
                let (name, value) = parameter.split_once('=')?;
                name.trim().eq_ignore_ascii_case("q").then_some(value)
            })
            .map_or(Some(1.0), |q| q.trim().parse::<f64>().ok());
        // An invalid quality, such as one outside 0..=1, makes the choice void.
        let Some(quality) = quality.filter(|quality| (0.0..=1.0).contains(quality)) else {
            continue;
        };
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(quality),
            "identity" => identity = Some(quality),
            "*" => any = Some(quality),
            _ => {}
        }
    }
    if gzip.or(any).is_some_and(|quality| quality > 0.0) {
        return Some(Coding::Gzip);
    }
    let identity_rejected = identity.or(any).is_some_and(|quality| quality <= 0.0);
    (!identity_rejected).then_some(Coding::Identity)
}

fn compress(body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;

    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

/// `POST` or `PUT /-/reload`, as Prometheus serves it.
async fn reload(site: &Site, method: &Method) -> Response<Full<Bytes>> {
    let Some(reload) = site.reload.clone() else {
        return text(StatusCode::FORBIDDEN, "Lifecycle API is not enabled.\n");
    };
    if method != Method::POST && method != Method::PUT {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Use POST or PUT to reload.\n",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST, PUT"));
        return response;
    }
    match tokio::task::spawn_blocking(move || reload()).await {
        Ok(Ok(())) => text(StatusCode::OK, "Reloaded.\n"),
        Ok(Err(errors)) => {
            let mut response = Response::new(Full::new(Bytes::from(format!(
                "failed to reload rules:\n{errors}\n"
            ))));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            with_type(response, "text/plain; charset=utf-8")
        }
        Err(error) => {
            let suppressed = lock_or_recover(&RELOAD_TASK_WARNINGS).allow(Instant::now());
            if let Some(suppressed) = suppressed {
                warn!(%error, suppressed, "The reload task failed.");
            }
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The reload task failed.\n",
            )
        }
    }
}

fn landing_page(telemetry_path: &str) -> Response<Full<Bytes>> {
    let escaped = status::html::escape(telemetry_path);
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>logtally</title></head>\n\
         <body>\n<h1>logtally</h1>\n<p>Metrics from proxy access logs.</p>\n<ul>\n\
         <li><a href=\"{escaped}\">Metrics</a></li>\n<li><a href=\"/status\">Status</a></li>\n\
         <li><a href=\"/healthz\">Health</a></li>\n\
         </ul>\n<p>Version {}</p>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    html(page)
}

/// Renders the status as an HTML page.
fn status_page(site: &Site) -> Response<Full<Bytes>> {
    html(status::html::render(&(site.status)(), &site.telemetry_path))
}

/// Renders the status as JSON, in the shape [`Status`] documents.
fn status_json(site: &Site) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_string_pretty(&(site.status)())
        .expect("a status has only strings, numbers and booleans");
    body.push('\n');
    with_type(
        Response::new(Full::new(Bytes::from(body))),
        "application/json",
    )
}

fn html(page: String) -> Response<Full<Bytes>> {
    with_type(
        Response::new(Full::new(Bytes::from(page))),
        "text/html; charset=utf-8",
    )
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    with_type(response, "text/plain; charset=utf-8")
}

fn with_type(
    mut response: Response<Full<Bytes>>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Locks a mutex, using the data of a poisoned one as it is: a throttle stays valid even if a
/// thread panicked while holding it.
fn lock_or_recover<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coding_follows_accept_encoding() {
        let cases = [
            (None, Some(Coding::Identity)),
            (Some("gzip"), Some(Coding::Gzip)),
            (Some("deflate, gzip;q=0.5"), Some(Coding::Gzip)),
            (Some("*"), Some(Coding::Gzip)),
            (Some("gzip;q=0"), Some(Coding::Identity)),
            (Some("br"), Some(Coding::Identity)),
            (Some("gzip;q=0, identity;q=0"), None),
            (Some("*;q=0"), None),
            (Some("*;q=0, identity"), Some(Coding::Identity)),
            (Some("gzip;q=abc"), Some(Coding::Identity)),
            (Some("gzip;Q=0"), Some(Coding::Identity)),
            (Some("gzip;q=-1"), Some(Coding::Identity)),
        ];
        for (header, expected) in cases {
            assert_eq!(choose_coding(header), expected, "{header:?}");
        }
    }
}
