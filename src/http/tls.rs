//! The TLS handshake for one accepted connection, bounded in time, and a plain HTTP 400
//! response for a client that sends plain HTTP to the TLS port.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// The body of the response to a plain HTTP request on the TLS port.
const PLAIN_HTTP_BODY: &str = "This server expects TLS; the request was plain HTTP. Use https.\n";

/// The whole response to a plain HTTP request on the TLS port.
fn plain_http_response() -> String {
    format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{PLAIN_HTTP_BODY}",
        PLAIN_HTTP_BODY.len()
    )
}

/// Completes the TLS handshake within `timeout`, so a client that connects and sends nothing,
/// or sends its handshake slowly, keeps the connection open no longer than the header timeout.
pub async fn accept(
    stream: TcpStream,
    config: Arc<rustls::ServerConfig>,
    timeout: Duration,
) -> io::Result<TlsStream<TcpStream>> {
    tokio::time::timeout(timeout, handshake(stream, config))
        .await
        .unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the TLS handshake timed out",
            ))
        })
}

async fn handshake(
    mut stream: TcpStream,
    config: Arc<rustls::ServerConfig>,
) -> io::Result<TlsStream<TcpStream>> {
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 1 && first[0] != TLS_HANDSHAKE {
        if first[0].is_ascii_uppercase() {
            // Most likely a request method, such as GET. Respond in plain HTTP so the user
            // sees why it failed, instead of a TLS alert their client cannot show.
            stream.write_all(plain_http_response().as_bytes()).await?;
            stream.shutdown().await?;
            drain(&mut stream).await?;
        }
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the client did not start a TLS handshake",
        ));
    }
    TlsAcceptor::from(config).accept(stream).await
}

/// Reads what the client sent until it closes, at most 64 KiB: closing a socket with unread
/// input makes the kernel send a reset, which can discard the response before it is read.
async fn drain(stream: &mut TcpStream) -> io::Result<()> {
    let mut buffer = [0u8; 4096];
    for _ in 0..16 {
        if stream.read(&mut buffer).await? == 0 {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_matches_body() {
        let text = plain_http_response();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(body, PLAIN_HTTP_BODY);
        assert!(head.ends_with("\r\nContent-Length: 64"), "{head}");
    }
}
