//! No image can be built on the test machine, so the Dockerfile is checked against the CLI:
//! the entrypoint is the binary, the exposed port is the default listen port, the default
//! command parses with the real argument parser, and the paths it uses are the ones the image
//! provides.

use clap::{CommandFactory, Parser};
use logtally::cli::{Cli, Command};

/// The Dockerfile's instructions, with line continuations joined and comments dropped.
fn instructions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let joined = text.replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
            (keyword.to_ascii_uppercase(), rest.trim().to_owned())
        })
        .collect()
}

fn all(keyword: &str) -> Vec<String> {
    instructions()
        .into_iter()
        .filter(|(key, _)| key == keyword)
        .map(|(_, rest)| rest)
        .collect()
}

fn one(keyword: &str) -> String {
    let found = all(keyword);
    assert_eq!(found.len(), 1, "expected one {keyword}, found {found:?}");
    found[0].clone()
}

/// Parses a JSON-array (exec form) instruction argument.
fn exec_form(argument: &str) -> Vec<String> {
    serde_json::from_str(argument).unwrap_or_else(|error| panic!("{argument}: {error}"))
}

#[test]
fn build_is_multi_stage() {
    let stages = all("FROM");
    assert_eq!(stages.len(), 2, "{stages:?}");
    assert!(
        stages[0].starts_with("rust:") && stages[0].ends_with(" AS build"),
        "{}",
        stages[0]
    );
    assert!(
        !stages[1].starts_with("rust:"),
        "the runtime image carries no toolchain"
    );
}

#[test]
fn entrypoint_is_binary() {
    assert_eq!(exec_form(&one("ENTRYPOINT")), ["/usr/local/bin/logtally"]);
    let copies = all("COPY");
    let binary = "--from=build /src/target/x86_64-unknown-linux-musl/release/logtally \
                  /usr/local/bin/logtally";
    assert!(copies.iter().any(|copy| copy == binary), "{copies:?}");
}

#[test]
fn exposed_port_is_default() {
    let default = Cli::command()
        .find_subcommand("run")
        .unwrap()
        .get_arguments()
        .find(|argument| argument.get_long() == Some("web.listen-address"))
        .unwrap()
        .get_default_values()[0]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(default, ":3904");
    assert_eq!(one("EXPOSE"), "3904");
}

#[test]
fn runs_as_non_root() {
    let user = one("USER");
    let uid = user.split(':').next().unwrap();
    assert_ne!(uid, "0");
    assert_ne!(uid, "root");
}

#[test]
fn default_command_parses_and_uses_image_paths() {
    let mut arguments = vec!["logtally".to_owned()];
    arguments.extend(exec_form(&one("CMD")));
    let cli = Cli::try_parse_from(&arguments).unwrap_or_else(|error| panic!("{error}"));
    let Command::Run(run) = cli.command else {
        panic!("the default command is not run")
    };

    assert_eq!(run.rules, [std::path::PathBuf::from("/etc/logtally/rules")]);
    assert!(
        all("COPY")
            .iter()
            .any(|copy| copy == "rules /etc/logtally/rules")
    );
    assert_eq!(run.logs, ["/var/log/proxy/*.log"]);
    assert_eq!(
        run.positions,
        Some("/var/lib/logtally/positions.json".into())
    );
    assert_eq!(exec_form(&one("VOLUME")), ["/var/lib/logtally"]);
    assert_eq!(run.listen_address, ":3904");
}

#[test]
fn state_directory_owned_by_user() {
    let user = one("USER");
    let copies = all("COPY");
    let state = copies
        .iter()
        .find(|copy| copy.ends_with(" /var/lib/logtally"))
        .expect("a COPY of the state directory");
    assert!(state.contains(&format!("--chown={user}")), "{state}");
}

#[test]
fn health_check_uses_probe() {
    let check = one("HEALTHCHECK");
    let command = check
        .split_once("CMD ")
        .map(|(_, command)| command)
        .expect("a CMD in HEALTHCHECK");
    let arguments = exec_form(command);
    assert_eq!(arguments[0], "/usr/local/bin/logtally");
    let mut parsed = vec!["logtally".to_owned()];
    parsed.extend(arguments[1..].iter().cloned());
    let cli = Cli::try_parse_from(&parsed).unwrap_or_else(|error| panic!("{error}"));
    let Command::Probe(probe) = cli.command else {
        panic!("the health check does not run probe")
    };
    assert_eq!(probe.url, None, "the probe requests its default URL");
    assert_eq!(
        logtally::commands::probe::default_url(false),
        "http://127.0.0.1:3904/healthz"
    );
    assert_eq!(
        logtally::commands::probe::default_url(true),
        "https://127.0.0.1:3904/healthz"
    );
}

/// Largest size of the image's binary.
const MAX_STATIC_BINARY_BYTES: u64 = 15 * 1024 * 1024;

/// The static binary the image ships, built for musl by `.ci/run` into the target directory
/// this test binary was built in.
fn static_binary() -> std::path::PathBuf {
    let debug_binary = std::path::Path::new(env!("CARGO_BIN_EXE_logtally"));
    let target_dir = debug_binary.parent().unwrap().parent().unwrap();
    target_dir.join("x86_64-unknown-linux-musl/release/logtally")
}

/// Returns true when an ELF file requests a dynamic loader (has a `PT_INTERP` program
/// header), which a static binary does not.
fn asks_for_loader(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(elf[4], 2, "not a 64-bit ELF file");
    let read_u16 = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let read_u64 = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap()) as usize;
    let (table, entry_size, count) = (read_u64(0x20), read_u16(0x36), read_u16(0x38));
    (0..count).any(|index| {
        let at = table + index * entry_size;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 3
    })
}

#[test]
fn image_binary_is_static_and_small() {
    let binary = static_binary();
    if !binary.is_file() {
        let required = std::env::var("LOGTALLY_REQUIRE_STATIC_BINARY").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{} is missing; build it with `cargo build --release --locked --target \
             x86_64-unknown-linux-musl --bin logtally`",
            binary.display()
        );
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped: no static binary at {}",
            binary.display()
        );
        return;
    }

    let size = std::fs::metadata(&binary).unwrap().len();
    assert!(
        size <= MAX_STATIC_BINARY_BYTES,
        "{} is {size} bytes, over {MAX_STATIC_BINARY_BYTES}",
        binary.display()
    );
    assert!(!asks_for_loader(&std::fs::read(&binary).unwrap()));
    let output = std::process::Command::new(&binary)
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("logtally {}\n", env!("CARGO_PKG_VERSION"))
    );

    // The image builds the same binary.
    let build = all("RUN").join(" ");
    assert!(
        build.contains("--target x86_64-unknown-linux-musl"),
        "{build}"
    );
}

#[test]
fn loader_request_detected() {
    let dynamic = std::fs::read("/bin/sh").unwrap();
    assert!(asks_for_loader(&dynamic));
}
