//! Helpers shared by the integration tests: running the built binary, starting the daemon on
//! a loopback port, scraping it over real HTTP and reading the exposition.

#![allow(dead_code)]

pub mod receiver;
pub mod tls;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Rules for lines `METHOD MILLISECONDS`: a request counter by method and a duration
/// histogram in seconds, for the tests of serving, reloading and negotiating formats.
pub const METHOD_DURATION_RULES: &str = r#"
[parse]
regex = '''^(?P<method>\S+) (?P<ms>\d+)$'''

[[metric]]
name = "requests_total"
type = "counter"
help = "Requests."
labels = ["method"]

[[metric]]
name = "duration_seconds"
type = "histogram"
help = "Duration."
value = "ms"
scale = 0.001
buckets = [0.1, 1]
"#;

/// The `logtally` binary built for these tests.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_logtally")
}

/// The repository root, where `rules/` and `testdata/` are.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `logtally` with `args` from the repository root and waits for it.
pub fn logtally(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .current_dir(root())
        .output()
        .expect("running logtally")
}

/// Standard output of a run as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

/// Standard error of a run as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Parses exposition text into `sample name with labels -> value text`, skipping `#` lines.
pub fn samples(exposition: &str) -> BTreeMap<String, String> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line has a value");
            (series.to_owned(), value.to_owned())
        })
        .collect()
}

/// Returns the value of one sample, failing the test with the whole exposition if absent.
pub fn value(exposition: &str, series: &str) -> String {
    samples(exposition)
        .remove(series)
        .unwrap_or_else(|| panic!("no sample {series} in:\n{exposition}"))
}

/// A rule file written into a temporary directory.
pub fn write_file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("writing a test file");
    path
}

/// A running `logtally run`, killed when dropped.
pub struct Daemon {
    child: Child,
    pub address: SocketAddr,
    telemetry_path: String,
    /// Standard error lines after the listening line, collected in the background.
    log_lines: mpsc::Receiver<String>,
    /// Standard error lines up to the listening line.
    early_lines: Vec<String>,
}

impl Daemon {
    /// Starts `logtally run` with `args`, listening on an ephemeral 127.0.0.1 port.
    pub fn start(args: &[&str]) -> Daemon {
        let mut child = Command::new(binary())
            .arg("run")
            .args(args)
            .args([
                "--web.listen-address",
                "127.0.0.1:0",
                "--log.level",
                "debug",
            ])
            .current_dir(root())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting logtally run");

        let stderr = child.stderr.take().expect("piped stderr");
        let (sender, log_lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });

        let mut early_lines = Vec::new();
        let address = wait_for_address(&log_lines, &mut early_lines);
        let telemetry_path = args
            .iter()
            .position(|arg| *arg == "--web.telemetry-path")
            .map_or("/metrics", |index| args[index + 1])
            .to_owned();
        Daemon {
            child,
            address,
            telemetry_path,
            log_lines,
            early_lines,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// GETs `path` and returns the status code and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.address, path)
    }

    /// Scrapes the telemetry path and returns the body, failing on any status but 200.
    pub fn scrape(&self) -> String {
        let (status, body) = self.get(&self.telemetry_path);
        assert_eq!(status, 200, "scrape failed: {body}");
        body
    }

    /// Scrapes until `series` has `expected` as its value, or fails after `timeout` showing the
    /// last scrape.
    pub fn wait_for(&self, series: &str, expected: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let body = self.scrape();
            if samples(&body).get(series).map(String::as_str) == Some(expected) {
                return body;
            }
            if Instant::now() > deadline {
                panic!(
                    "{series} did not reach {expected} within {timeout:?}; last scrape:\n{body}"
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the daemon follows `path` (its lines-read series exists with no lines), so
    /// that lines written afterwards are counted even though files present at start are read
    /// from their end.
    pub fn wait_following(&self, path: &Path) {
        let series = format!("logtally_lines_read_total{{path=\"{}\"}}", path.display());
        self.wait_for(&series, "0", Duration::from_secs(10));
    }

    /// Waits until a log line containing `text` appears, returning it.
    pub fn wait_for_log(&self, text: &str, timeout: Duration) -> String {
        if let Some(line) = self.early_lines.iter().find(|line| line.contains(text)) {
            return line.clone();
        }
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.log_lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => continue,
                Err(_) => break,
            }
        }
        panic!("no log line containing {text:?} within {timeout:?}");
    }

    /// The log lines written before the listening line.
    pub fn early_log_lines(&self) -> &[String] {
        &self.early_lines
    }

    /// Returns the log lines that arrive from now until one contains `text`, that one
    /// included, or fails after `timeout`. Lines written before an event the test waited for
    /// are all in the result, so counts taken from it are exact.
    pub fn log_lines_until(&self, text: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut lines = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.log_lines.recv_timeout(left) else {
                break;
            };
            let found = line.contains(text);
            lines.push(line);
            if found {
                return lines;
            }
        }
        panic!("no log line containing {text:?} within {timeout:?}; got:\n{lines:#?}");
    }

    /// Counts the log lines containing `text` that arrive within `window`, plus those seen
    /// before the listening line.
    pub fn count_log_lines(&self, text: &str, window: Duration) -> usize {
        let early = self
            .early_lines
            .iter()
            .filter(|line| line.contains(text))
            .count();
        let deadline = Instant::now() + window;
        let mut later = 0;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.log_lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => later += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        early + later
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("running kill");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for logtally") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "logtally did not exit within 10 s of SIGTERM"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_address(log_lines: &mpsc::Receiver<String>, seen: &mut Vec<String>) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(line) = log_lines.recv_timeout(left) else {
            break;
        };
        seen.push(line.clone());
        // logfmt writes address=HOST:PORT, JSON writes "address":"HOST:PORT".
        let rest = line
            .split("address=")
            .nth(1)
            .or_else(|| line.split("\"address\":\"").nth(1));
        if let Some(rest) = rest {
            let address = rest.split([' ', '"']).next().expect("an address");
            return address.parse().expect("a socket address");
        }
    }
    panic!("logtally did not log its listening address within 20 s");
}

/// A plain HTTP/1.1 GET over a new connection; returns the status code and body.
pub fn http_get(address: SocketAddr, path: &str) -> (u16, String) {
    http_request(address, "GET", path)
}

/// A plain HTTP/1.1 request without a body over a new connection; returns the status code
/// and body.
pub fn http_request(address: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream =
        TcpStream::connect_timeout(&address, Duration::from_secs(5)).expect("connecting");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("setting a timeout");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .expect("sending the request");

    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("reading the response");
    let response = String::from_utf8(response).expect("a UTF-8 response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a header section");
    let status = head
        .split_whitespace()
        .nth(1)
        .expect("a status code")
        .parse()
        .expect("a number");
    (status, decode_chunked(head, body))
}

fn decode_chunked(head: &str, body: &str) -> String {
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body.to_owned();
    }
    let mut decoded = String::new();
    let mut rest = body;
    loop {
        let (size, after) = rest.split_once("\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(size.trim(), 16).expect("a hex chunk size");
        if size == 0 {
            return decoded;
        }
        decoded.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

/// Appends bytes to a file, creating it if needed, as a log writer would.
pub fn append(path: &Path, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("opening a log for append");
    file.write_all(bytes).expect("appending to a log");
}

/// Looks for an executable on `PATH`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    // Daemons such as nginx live in sbin directories, which a non-login PATH may lack.
    let path = std::env::var_os("PATH").unwrap_or_default();
    let sbin = ["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(sbin)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Returns the program, or `None` after printing `skipped: <reason>` when it is absent and
/// skipping is allowed. With `LOGTALLY_REQUIRE_PROMETHEUS=1` an absent program fails the test.
pub fn require_program(name: &str) -> Option<PathBuf> {
    if let Some(program) = find_program(name) {
        return Some(program);
    }
    let required = std::env::var("LOGTALLY_REQUIRE_PROMETHEUS").is_ok_and(|value| value == "1");
    assert!(
        !required,
        "{name} is not installed, and LOGTALLY_REQUIRE_PROMETHEUS=1 requires it"
    );
    // Written to the real standard error, which the test harness does not capture, so the
    // skip shows in the output of a passing run.
    let package = match name {
        "nginx" | "chromium" => name,
        _ => "prometheus",
    };
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {name} is not installed (Debian package {package})"
    );
    None
}

/// Runs `promtool check metrics` on an exposition and returns its output.
pub fn promtool_check_metrics(promtool: &Path, exposition: &[u8]) -> Output {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting promtool");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(exposition)
        .expect("writing to promtool");
    child.wait_with_output().expect("waiting for promtool")
}

/// Picks a loopback port by binding to port 0 and releasing it.
pub fn free_loopback_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("binding a free port")
        .local_addr()
        .expect("a local address")
}

/// A real Prometheus server on 127.0.0.1 scraping one target every second, killed when
/// dropped.
pub struct Prometheus {
    child: Child,
    pub address: SocketAddr,
}

impl Prometheus {
    /// Starts `program` with its configuration and data in `dir`.
    pub fn start(program: &Path, dir: &Path, target: SocketAddr) -> Prometheus {
        Prometheus::start_with(program, dir, target, "")
    }

    /// Starts as [`Prometheus::start`] does, adding `job_settings` (YAML lines indented by four
    /// spaces, such as `scheme` or `basic_auth`) to the scrape job.
    pub fn start_with(
        program: &Path,
        dir: &Path,
        target: SocketAddr,
        job_settings: &str,
    ) -> Prometheus {
        Prometheus::start_with_flags(program, dir, target, job_settings, &[])
    }

    /// Starts as [`Prometheus::start_with`] does, with extra command-line flags such as
    /// `--enable-feature=native-histograms`.
    pub fn start_with_flags(
        program: &Path,
        dir: &Path,
        target: SocketAddr,
        job_settings: &str,
        flags: &[&str],
    ) -> Prometheus {
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: logtally\n{job_settings}    static_configs:\n      - targets: ['{target}']\n"
        );
        Prometheus::spawn(program, dir, &config, flags)
    }

    /// Starts `program` as a remote-write receiver that scrapes nothing, so every sample it
    /// stores was pushed to it.
    pub fn start_receiver(program: &Path, dir: &Path) -> Prometheus {
        let config = "global:\n  scrape_interval: 1m\n";
        Prometheus::spawn(
            program,
            dir,
            config,
            &["--web.enable-remote-write-receiver"],
        )
    }

    fn spawn(program: &Path, dir: &Path, config: &str, flags: &[&str]) -> Prometheus {
        let config = write_file(dir, "prometheus.yml", config);
        let address = free_loopback_port();
        let child = Command::new(program)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .args(flags)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting prometheus");
        Prometheus { child, address }
    }

    /// Runs an instant query and returns its results, or `None` before Prometheus responds.
    pub fn query(&self, query: &str) -> Option<Vec<serde_json::Value>> {
        // The server is not up until it accepts connections.
        TcpStream::connect_timeout(&self.address, Duration::from_secs(1)).ok()?;
        let encoded: String = query
            .bytes()
            .map(|byte| match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => {
                    (byte as char).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect();
        let (status, body) = http_get(self.address, &format!("/api/v1/query?query={encoded}"));
        if status != 200 {
            return None;
        }
        let json: serde_json::Value = serde_json::from_str(&body).ok()?;
        json["data"]["result"].as_array().cloned()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Queries until the one result's value equals `expected`, or fails after `timeout`.
pub fn wait_for_query(prometheus: &Prometheus, query: &str, expected: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    while Instant::now() < deadline {
        last = prometheus
            .query(query)
            .and_then(|results| match results.as_slice() {
                [only] => only["value"][1].as_str().map(str::to_owned),
                _ => None,
            });
        if last.as_deref() == Some(expected) {
            return;
        }
        thread::sleep(Duration::from_millis(250));
    }
    panic!("Prometheus query {query} gave {last:?}, expected {expected:?}, within {timeout:?}");
}
