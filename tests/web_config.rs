//! `--web.config.file` over real TLS on 127.0.0.1, with a CA and certificates made for each
//! test: HTTPS scrapes by a rustls client and by curl, basic auth, client certificates,
//! errors at start, changes to the file, `logtally probe`, and a real Prometheus scraping over
//! TLS with basic auth.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::tls::{HttpsResponse, Pki, client_config, https_get, tls_error};
use common::{Daemon, Prometheus, stderr, write_file};
use rustls::{AlertDescription, ClientConfig};

const RULES: &str = r#"
[parse]
regex = '''^(?P<method>\S+) (?P<code>\d{3})$'''

[[metric]]
name = "http_requests_total"
type = "counter"
help = "Requests seen in the access log."
labels = ["method", { status = "code" }]
"#;

/// Read with `--from-start`: two GET 200 and one POST 500.
const LOG: &str = "GET 200\nGET 200\nPOST 500\n";

const GET_200: &str = "http_requests_total{method=\"GET\",status=\"200\"}";

const USER: &str = "prometheus";
const PASSWORD: &str = "correct horse battery staple";

/// The body of a 401 response.
const UNAUTHORIZED: &str = "Unauthorized: give a user name and password (basic auth).\n";

/// Returns a bcrypt hash of `password` at the lowest cost, so the tests stay fast.
fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

/// A test directory with certificates, rules and a log.
struct Setup {
    dir: tempfile::TempDir,
    pki: Pki,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::create(dir.path());
        write_file(dir.path(), "rules.toml", RULES);
        write_file(dir.path(), "access.log", LOG);
        Setup { dir, pki }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the web config as `web.yml`, replacing any earlier one by a rename, as
    /// configuration tools do.
    fn write_web_config(&self, yaml: &str) -> PathBuf {
        let temporary = write_file(self.dir.path(), "web.yml.tmp", yaml);
        let path = self.path("web.yml");
        std::fs::rename(temporary, &path).unwrap();
        path
    }

    /// Starts `logtally run` with the web config and any `extra` flags.
    fn start(&self, web_config: &Path, extra: &[&str]) -> Daemon {
        let rules = self.path("rules.toml");
        let log = self.path("access.log");
        let mut args = vec![
            "--rules",
            rules.to_str().unwrap(),
            "--logs",
            log.to_str().unwrap(),
            "--from-start",
            "--web.config.file",
            web_config.to_str().unwrap(),
        ];
        args.extend(extra);
        Daemon::start(&args)
    }

    /// Returns a client that trusts the test CA and presents no certificate.
    fn client(&self) -> Arc<ClientConfig> {
        client_config(&self.pki.ca, None)
    }
}

/// TLS with the certificate files named relative to the web config, and one user.
fn tls_and_auth_config() -> String {
    format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
         basic_auth_users:\n  {USER}: '{}'\n\
         http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n",
        hash(PASSWORD)
    )
}

/// Scrapes over HTTPS until `series` has `expected`, then returns the body.
fn wait_for_https(
    address: SocketAddr,
    client: &Arc<ClientConfig>,
    series: &str,
    expected: &str,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = https_get(address, client, "/metrics", Some((USER, PASSWORD))).unwrap();
        assert_eq!(response.status, 200, "{}", response.body);
        if common::samples(&response.body)
            .get(series)
            .map(String::as_str)
            == Some(expected)
        {
            return response.body;
        }
        assert!(
            Instant::now() < deadline,
            "{series} did not reach {expected}; last scrape:\n{}",
            response.body
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn get(address: SocketAddr, client: &Arc<ClientConfig>, path: &str) -> HttpsResponse {
    https_get(address, client, path, None).unwrap()
}

fn get_as(
    address: SocketAddr,
    client: &Arc<ClientConfig>,
    path: &str,
    user: &str,
    password: &str,
) -> HttpsResponse {
    https_get(address, client, path, Some((user, password))).unwrap()
}

#[test]
fn https_scrape_with_basic_auth() {
    let setup = Setup::new();
    let web_config = setup.write_web_config(&tls_and_auth_config());
    let daemon = setup.start(&web_config, &[]);
    let client = setup.client();
    let address = daemon.address;

    let body = wait_for_https(address, &client, GET_200, "2");
    assert_eq!(
        common::value(&body, "http_requests_total{method=\"POST\",status=\"500\"}"),
        "1"
    );

    let wrong = get_as(address, &client, "/metrics", USER, "wrong password");
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.header("WWW-Authenticate"),
        Some("Basic realm=\"logtally\"")
    );
    assert_eq!(wrong.header("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(wrong.body, UNAUTHORIZED);

    let anonymous = get(address, &client, "/metrics");
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.header("WWW-Authenticate"),
        Some("Basic realm=\"logtally\"")
    );

    let stranger = get_as(address, &client, "/metrics", "admin", PASSWORD);
    assert_eq!(stranger.status, 401);

    let right = get_as(address, &client, "/metrics", USER, PASSWORD);
    assert_eq!(right.status, 200);
    assert_eq!(right.header("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(common::value(&right.body, GET_200), "2");
}

#[test]
fn protected_and_open_paths() {
    let setup = Setup::new();
    let web_config = setup.write_web_config(&tls_and_auth_config());
    let daemon = setup.start(&web_config, &[]);
    let client = setup.client();
    let address = daemon.address;
    wait_for_https(address, &client, GET_200, "2");

    let health = get(address, &client, "/healthz");
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    let ready = get(address, &client, "/ready");
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready\n"));

    assert_eq!(get(address, &client, "/").status, 401);
    assert_eq!(get_as(address, &client, "/", USER, PASSWORD).status, 200);

    // The status pages show paths and errors, so they need the password too.
    for (path, content_type) in [
        ("/status", "text/html; charset=utf-8"),
        ("/status.json", "application/json"),
    ] {
        let denied = get(address, &client, path);
        assert_eq!(denied.status, 401, "{path}");
        assert_eq!(denied.body, UNAUTHORIZED, "{path}");
        let page = get_as(address, &client, path, USER, PASSWORD);
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert_eq!(page.header("content-type"), Some(content_type), "{path}");
        assert_eq!(
            page.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
    }
    let status = get_as(address, &client, "/status.json", USER, PASSWORD);
    let status: serde_json::Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(status["rule_files"][0]["lines_matched"], 3);
    // An unknown path requires credentials first, so it does not tell which paths exist.
    assert_eq!(get(address, &client, "/secret").status, 401);
    assert_eq!(
        get_as(address, &client, "/secret", USER, PASSWORD).status,
        404
    );
}

#[test]
fn curl_scrapes_over_https() {
    let Some(curl) = common::find_program("curl") else {
        let _ = writeln!(std::io::stderr(), "skipped: curl is not installed");
        return;
    };
    let setup = Setup::new();
    let web_config = setup.write_web_config(&tls_and_auth_config());
    let daemon = setup.start(&web_config, &[]);
    wait_for_https(daemon.address, &setup.client(), GET_200, "2");
    let url = format!("https://127.0.0.1:{}/metrics", daemon.address.port());
    let credentials = format!("{USER}:{PASSWORD}");

    let trusted = Command::new(&curl)
        .args(["--silent", "--show-error", "--max-time", "10", "--cacert"])
        .arg(&setup.pki.ca)
        .args(["--user", &credentials, &url])
        .output()
        .unwrap();
    assert_eq!(trusted.status.code(), Some(0), "{}", stderr(&trusted));
    let body = String::from_utf8(trusted.stdout).unwrap();
    assert_eq!(common::value(&body, GET_200), "2");

    // Without the test CA, curl cannot verify the certificate: exit code 60.
    let untrusted = Command::new(&curl)
        .args(["--silent", "--max-time", "10", "--user", &credentials, &url])
        .output()
        .unwrap();
    assert_eq!(untrusted.status.code(), Some(60));
    assert!(untrusted.stdout.is_empty());
}

#[test]
fn plain_http_to_tls_port_rejected() {
    let setup = Setup::new();
    let web_config = setup.write_web_config(&tls_and_auth_config());
    let daemon = setup.start(&web_config, &[]);

    let (status, body) = common::http_get(daemon.address, "/metrics");
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "This server expects TLS; the request was plain HTTP. Use https.\n"
    );
}

#[test]
fn client_certificate_required() {
    let setup = Setup::new();
    let pki = &setup.pki;
    let web_config = setup.write_web_config(&format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  \
         min_version: TLS13\n",
        pki.server_cert.display(),
        pki.server_key.display()
    ));
    let daemon = setup.start(&web_config, &[]);
    let address = daemon.address;

    let with_certificate = client_config(&pki.ca, Some((&pki.client_cert, &pki.client_key)));
    let response = get(address, &with_certificate, "/metrics");
    assert_eq!(response.status, 200);

    let error = https_get(address, &setup.client(), "/metrics", None).unwrap_err();
    assert_eq!(
        tls_error(&error),
        Some(&rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired
        )),
        "{error}"
    );

    let stranger = client_config(&pki.ca, Some((&pki.stranger_cert, &pki.stranger_key)));
    let error = https_get(address, &stranger, "/metrics", None).unwrap_err();
    assert_eq!(
        tls_error(&error),
        Some(&rustls::Error::AlertReceived(AlertDescription::UnknownCA)),
        "{error}"
    );
}

/// Runs `logtally run` with a web config that should stop it, returning the last line of
/// standard error after checking the exit code.
fn start_error(setup: &Setup, yaml: &str) -> String {
    let web_config = setup.write_web_config(yaml);
    let rules = setup.path("rules.toml");
    let output = common::logtally(&[
        "run",
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        "/nonexistent/*.log",
        "--web.listen-address",
        "127.0.0.1:0",
        "--web.config.file",
        web_config.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    stderr(&output).lines().last().unwrap_or("").to_owned()
}

#[test]
fn invalid_configs_stop_start() {
    let setup = Setup::new();
    let web_config = setup.path("web.yml");
    let prefix = format!(
        "logtally: invalid web config file {}: ",
        web_config.display()
    );

    let message = start_error(
        &setup,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         min_versoin: TLS13\n",
    );
    assert_eq!(
        message,
        format!(
            "{prefix}tls_server_config: unknown field `min_versoin`, expected one of \
             `cert_file`, `key_file`, `cert`, `key`, `client_auth_type`, `client_ca_file`, \
             `client_ca`, `min_version`, `max_version`, `prefer_server_cipher_suites`, \
             `cipher_suites`, `curve_preferences`, `client_allowed_sans` at line 4 column 3"
        )
    );

    let message = start_error(
        &setup,
        "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n",
    );
    assert_eq!(
        message,
        format!(
            "{prefix}cannot read tls_server_config.cert_file {}: No such file or directory \
             (os error 2)",
            setup.path("missing.crt").display()
        )
    );

    let message = start_error(
        &setup,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: client.key\n",
    );
    assert_eq!(
        message,
        format!("{prefix}tls_server_config: the private key does not belong to the certificate")
    );

    let message = start_error(
        &setup,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n",
    );
    assert_eq!(
        message,
        format!(
            "{prefix}tls_server_config: client_auth_type RequireAndVerifyClientCert needs \
             client_ca_file (or client_ca) to verify client certificates with"
        )
    );

    let missing = setup.path("absent.yml");
    let rules = setup.path("rules.toml");
    let output = common::logtally(&[
        "run",
        "--rules",
        rules.to_str().unwrap(),
        "--logs",
        "/nonexistent/*.log",
        "--web.config.file",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output).lines().last().unwrap(),
        format!(
            "logtally: failed to read the web config file {}: No such file or directory \
             (os error 2)",
            missing.display()
        )
    );
}

/// A plain HTTP GET with basic auth; returns the status code.
fn plain_get_as(address: SocketAddr, path: &str, user: &str, password: &str) -> u16 {
    use base64::Engine;

    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Basic {encoded}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

#[test]
fn changed_config_used_without_restart() {
    let setup = Setup::new();
    let users = |password: &str| format!("basic_auth_users:\n  alice: '{}'\n", hash(password));
    let web_config = setup.write_web_config(&users("first"));
    let daemon = setup.start(&web_config, &[]);
    let address = daemon.address;
    assert_eq!(plain_get_as(address, "/metrics", "alice", "first"), 200);

    setup.write_web_config(&users("second"));
    assert_eq!(plain_get_as(address, "/metrics", "alice", "first"), 401);
    assert_eq!(plain_get_as(address, "/metrics", "alice", "second"), 200);
    daemon.wait_for_log("Loaded the changed web config.", Duration::from_secs(10));

    // A broken file leaves the last good config in force.
    setup.write_web_config("basic_auth_users:\n  alice: not-a-hash\n");
    assert_eq!(plain_get_as(address, "/metrics", "alice", "second"), 200);
    assert_eq!(plain_get_as(address, "/metrics", "alice", "first"), 401);
    let logged = daemon.wait_for_log(
        "Failed to load the changed web config; keeping the previous one.",
        Duration::from_secs(10),
    );
    assert!(
        logged.contains("the password hash of user \\\"alice\\\" is not a bcrypt hash"),
        "{logged}"
    );
}

#[test]
fn probe_over_tls() {
    let setup = Setup::new();
    let web_config = setup.write_web_config(&tls_and_auth_config());
    let daemon = setup.start(&web_config, &[]);
    wait_for_https(daemon.address, &setup.client(), GET_200, "2");
    let base = format!("https://127.0.0.1:{}", daemon.address.port());
    let probe = |config: &Path, path: &str| {
        let url = format!("{base}{path}");
        common::logtally(&["probe", "--web.config.file", config.to_str().unwrap(), &url])
    };

    let healthy = probe(&web_config, "/healthz");
    assert_eq!(healthy.status.code(), Some(0), "{}", stderr(&healthy));

    // The variable that `logtally run` reads too, so one setting in a container covers both.
    let from_environment = Command::new(common::binary())
        .args(["probe", &format!("{base}/healthz")])
        .env("LOGTALLY_WEB_CONFIG_FILE", &web_config)
        .output()
        .unwrap();
    assert_eq!(
        from_environment.status.code(),
        Some(0),
        "{}",
        stderr(&from_environment)
    );

    let metrics = probe(&web_config, "/metrics");
    assert_eq!(metrics.status.code(), Some(1));
    assert_eq!(
        stderr(&metrics),
        format!("logtally: {base}/metrics responded with status 401\n")
    );

    let no_config = common::logtally(&["probe", &format!("{base}/healthz")]);
    assert_eq!(no_config.status.code(), Some(1));
    assert_eq!(
        stderr(&no_config),
        format!(
            "logtally: probe of {base}/healthz failed: https:// needs --web.config.file naming \
             a config with tls_server_config\n"
        )
    );

    // A config naming another certificate: the probe rejects the server.
    let other = write_file(
        setup.dir.path(),
        "other.yml",
        "tls_server_config:\n  cert_file: stranger.crt\n  key_file: stranger.key\n",
    );
    let rejected = probe(&other, "/healthz");
    assert_eq!(rejected.status.code(), Some(1));
    assert_eq!(
        stderr(&rejected),
        format!(
            "logtally: probe of {base}/healthz failed: the server's certificate is not the one \
             in the web config's cert_file\n"
        )
    );

    let mutual = write_file(
        setup.dir.path(),
        "mutual.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
    );
    let refused = probe(&mutual, "/healthz");
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        stderr(&refused),
        format!(
            "logtally: cannot probe with {}: its client_auth_type requires a client \
             certificate, and the probe has none\n",
            mutual.display()
        )
    );
}

#[test]
fn slow_clients_disconnected() {
    let setup = Setup::new();
    let web_config = setup.write_web_config(&tls_and_auth_config());
    let tls_daemon = setup.start(&web_config, &[]);
    let plain = Setup::new();
    let plain_config = plain.write_web_config("");
    let plain_daemon = plain.start(&plain_config, &[]);

    // A client that starts a request and never finishes its headers, and one that connects
    // to the TLS port and never starts the handshake. The server closes both after its
    // header timeout; the 30-second read timeout only keeps a failing test from hanging.
    let read_until_closed = |address: SocketAddr, sent: &'static [u8]| {
        thread::spawn(move || {
            let mut stream = TcpStream::connect(address).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            stream.write_all(sent).unwrap();
            let mut buffer = [0u8; 256];
            stream.read(&mut buffer)
        })
    };
    let headers = read_until_closed(
        plain_daemon.address,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\n",
    );
    let handshake = read_until_closed(tls_daemon.address, b"");
    // A keep-alive connection that stays idle after one response is closed the same way.
    let address = plain_daemon.address;
    let idle = thread::spawn(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut response = Vec::new();
        let mut buffer = [0u8; 256];
        while !response.ends_with(b"\r\n\r\nok\n") {
            let read = stream.read(&mut buffer).unwrap();
            assert_ne!(read, 0, "closed before the whole response");
            response.extend_from_slice(&buffer[..read]);
        }
        stream.read(&mut buffer)
    });
    assert_eq!(headers.join().unwrap().unwrap(), 0);
    assert_eq!(handshake.join().unwrap().unwrap(), 0);
    assert_eq!(idle.join().unwrap().unwrap(), 0);
}

#[test]
fn oversized_headers_rejected() {
    let setup = Setup::new();
    let web_config = setup.write_web_config("");
    let daemon = setup.start(&web_config, &[]);

    let mut stream = TcpStream::connect(daemon.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let filler = "a".repeat(20 * 1024);
    let request = format!("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Filler: {filler}\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{response}"
    );
}

#[test]
fn connections_capped() {
    let setup = Setup::new();
    let web_config = setup.write_web_config("");
    let daemon = setup.start(&web_config, &["--web.max-connections", "2"]);

    let first = TcpStream::connect(daemon.address).unwrap();
    let _second = TcpStream::connect(daemon.address).unwrap();
    daemon.wait_for_log(
        "Serving the maximum number of connections; new ones wait until one closes.",
        Duration::from_secs(10),
    );
    // The third connection waits in the accept queue and is served once the first closes.
    let third = thread::spawn(move || common::http_get(daemon.address, "/healthz"));
    drop(first);
    assert_eq!(third.join().unwrap(), (200, "ok\n".to_owned()));
}

#[test]
fn prometheus_scrapes_over_tls_with_basic_auth() {
    let Some(program) = common::require_program("prometheus") else {
        return;
    };
    let setup = Setup::new();
    let web_config = setup.write_web_config(&tls_and_auth_config());
    let daemon = setup.start(&web_config, &[]);
    wait_for_https(daemon.address, &setup.client(), GET_200, "2");

    let job = format!(
        "    scheme: https\n    tls_config:\n      ca_file: {}\n    basic_auth:\n      \
         username: {USER}\n      password: '{PASSWORD}'\n",
        setup.pki.ca.display()
    );
    let prometheus = Prometheus::start_with(&program, setup.dir.path(), daemon.address, &job);
    let timeout = Duration::from_secs(60);
    common::wait_for_query(&prometheus, "up{job=\"logtally\"}", "1", timeout);
    common::wait_for_query(&prometheus, GET_200, "2", timeout);
}

#[test]
fn certificate_created_after_its_config_is_loaded() {
    let setup = Setup::new();
    let web_config = setup.write_web_config(&tls_and_auth_config());
    let daemon = setup.start(&web_config, &[]);
    wait_for_https(daemon.address, &setup.client(), GET_200, "2");

    // The new config names files that do not exist yet: the old one stays in force.
    let late = tls_and_auth_config()
        .replace("server.crt", "late.crt")
        .replace("server.key", "late.key");
    setup.write_web_config(&late);
    wait_for_https(daemon.address, &setup.client(), GET_200, "2");
    daemon.wait_for_log(
        "Failed to load the changed web config; keeping the previous one.",
        Duration::from_secs(10),
    );

    // Once they appear, the config loads without any further change to it.
    std::fs::copy(setup.path("server.crt"), setup.path("late.crt")).unwrap();
    std::fs::copy(setup.path("server.key"), setup.path("late.key")).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let loaded = std::thread::scope(|scope| {
        // Connections are what make logtally look at its web config.
        scope.spawn(|| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !done.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                let _ = https_get(daemon.address, &setup.client(), "/metrics", None);
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let line = daemon.wait_for_log("Loaded the changed web config.", Duration::from_secs(10));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        line
    });
    assert!(loaded.contains("level=info"), "{loaded}");
}
