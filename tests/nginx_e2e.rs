//! End to end with a real nginx and a real Prometheus, all on 127.0.0.1: nginx proxies a
//! bounded number of requests to a backend, some of which fail upstream, and writes its access
//! log in the timed format; the log is rotated by rename and `nginx -s reopen` (SIGUSR1) in
//! the middle; logtally follows it; Prometheus scrapes logtally. Prometheus must then report
//! exactly the requests the client got answers to, by status.
//!
//! Skips (printing `skipped: <reason>`) when nginx or Prometheus is absent, unless
//! `LOGTALLY_REQUIRE_PROMETHEUS=1`, which makes their absence a failure.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, Prometheus, free_loopback_port, write_file};

const WAIT: Duration = Duration::from_secs(60);

/// A real nginx started in the foreground, stopped when dropped.
struct Nginx {
    child: Child,
}

impl Nginx {
    fn start(program: &Path, prefix: &Path, config: &Path) -> Nginx {
        let child = Command::new(program)
            .arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(config)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting nginx");
        Nginx { child }
    }

    /// Asks nginx to reopen its log files, as logrotate's postrotate does.
    fn reopen_logs(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-USR1", &pid]).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for Nginx {
    /// Stops nginx with SIGTERM, which stops its workers too; SIGKILL would leave them running.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Returns `status -> value` of an instant query grouped by status, or `None` before
/// Prometheus responds.
fn by_status(prometheus: &Prometheus, query: &str) -> Option<BTreeMap<String, String>> {
    let results = prometheus.query(query)?;
    let pairs = results.iter().map(|result| {
        let status = result["metric"]["status"].as_str().unwrap_or("").to_owned();
        (status, result["value"][1].as_str().unwrap_or("").to_owned())
    });
    Some(pairs.collect())
}

/// Sends one GET and returns the response status, or `None` if no response arrived.
fn request(address: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace().nth(1)?.parse().ok()
}

/// Sends a fixed mix of requests and adds each answer's status to `sent`.
fn send_mix(front: SocketAddr, round: usize, sent: &mut BTreeMap<String, u64>) {
    let paths = [
        "/api/ok",
        "/api/ok",
        "/api/err",
        "/missing",
        "/down/x",
        "/api/ok?q=1",
    ];
    for index in 0..60 {
        let path = paths[(index + round) % paths.len()];
        let status = request(front, path).expect("nginx answers every request");
        *sent.entry(status.to_string()).or_default() += 1;
    }
}

fn nginx_config(prefix: &Path, front: SocketAddr, backend: SocketAddr, dead: SocketAddr) -> String {
    let logs = prefix.join("logs");
    format!(
        r#"worker_processes 1;
pid {pid};
error_log {logs}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  log_format timed '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" rt=$request_time uct="$upstream_connect_time" uht="$upstream_header_time" urt="$upstream_response_time" us="$upstream_status"';
  upstream app {{ server {backend}; }}
  upstream dead {{ server {dead}; }}
  server {{
    listen {backend};
    location /api/err {{ return 500 "boom\n"; }}
    location / {{ return 200 "ok\n"; }}
  }}
  server {{
    listen {front};
    access_log {logs}/access.log timed;
    location /api/ {{ proxy_pass http://app; }}
    location /down/ {{ proxy_pass http://dead; }}
    location / {{ return 404; }}
  }}
}}
"#,
        pid = prefix.join("nginx.pid").display(),
        logs = logs.display(),
    )
}

#[test]
fn nginx_requests_reach_prometheus_exactly() {
    let Some(nginx) = common::require_program("nginx") else {
        return;
    };
    let Some(prometheus) = common::require_program("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path();
    std::fs::create_dir(prefix.join("logs")).unwrap();
    let (front, backend, dead) = (
        free_loopback_port(),
        free_loopback_port(),
        free_loopback_port(),
    );
    let config = write_file(
        prefix,
        "nginx.conf",
        &nginx_config(prefix, front, backend, dead),
    );
    let log = prefix.join("logs/access.log");

    let rules = common::root().join("rules/nginx-timed.toml");
    let daemon = Daemon::start(&[
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        log.to_str().unwrap(),
    ]);
    daemon.wait_for_log("Initial glob expansion done.", WAIT);
    let server = Nginx::start(&nginx, prefix, &config);
    let deadline = Instant::now() + WAIT;
    while request(front, "/api/ok").is_none() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start listening on {front}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The readiness probe above is logged too.
    let mut sent = BTreeMap::from([("200".to_owned(), 1)]);
    let prometheus = Prometheus::start(&prometheus, prefix, daemon.address);

    send_mix(front, 0, &mut sent);
    // Rotation as logrotate does it: rename, then have nginx reopen its log.
    std::fs::rename(&log, prefix.join("logs/access.log.1")).unwrap();
    send_mix(front, 1, &mut sent);
    server.reopen_logs();
    let reopened = Instant::now() + WAIT;
    while !log.exists() {
        assert!(Instant::now() < reopened, "nginx did not reopen its log");
        std::thread::sleep(Duration::from_millis(20));
    }
    send_mix(front, 2, &mut sent);

    let expected: BTreeMap<String, String> = sent
        .iter()
        .map(|(status, count)| (status.clone(), count.to_string()))
        .collect();
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        ["200", "404", "500", "502"],
        "the mix covers each status"
    );
    let query = "sum by (status) (nginx_http_requests_total)";
    let deadline = Instant::now() + WAIT;
    let mut last = None;
    while Instant::now() < deadline {
        last = by_status(&prometheus, query);
        if last.as_ref() == Some(&expected) {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("Prometheus reported {last:?} for {query}, expected {expected:?}");
}
