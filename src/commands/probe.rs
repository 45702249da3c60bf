//! `logtally probe`: a health check for containers whose image has no shell or curl. It requests
//! `/healthz` (or any `http://` URL) from a running logtally and exits 0 on status 200.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::ProbeArgs;

/// Runs the command: exit status 0 when the URL responds with status 200 within the timeout,
/// 1 otherwise.
pub fn run(args: &ProbeArgs) -> ExitCode {
    match probe(&args.url, args.timeout) {
        Ok(200) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("logtally: {} responded with status {status}", args.url);
            ExitCode::FAILURE
        }
        Err(message) => {
            eprintln!("logtally: probe of {} failed: {message}", args.url);
            ExitCode::FAILURE
        }
    }
}

/// Sends one GET and returns the status code.
fn probe(url: &str, timeout: Duration) -> Result<u16, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (authority, path) = match rest.find('/') {
        Some(index) => (&rest[..index], &rest[index..]),
        None => (rest, "/"),
    };
    let address = authority
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve {authority:?}: {error}"))?
        .next()
        .ok_or_else(|| format!("{authority:?} has no address"))?;

    let mut stream =
        TcpStream::connect_timeout(&address, timeout).map_err(|error| error.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|error| error.to_string())?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|error| error.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|error| error.to_string())?;

    let mut head = [0u8; 64];
    let read = stream.read(&mut head).map_err(|error| error.to_string())?;
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
