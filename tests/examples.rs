//! The deployment examples are checked here, since no container can run on the test machine:
//! YAML and JSON parse, the logtally command in each parses with the real argument parser, the
//! log volume is shared and read-only for logtally, the Grafana provisioning points at the
//! shipped dashboard, the alerting rules pass promtool, and the web config loads.

mod common;

use std::path::Path;

use clap::Parser;
use logtally::cli::{Cli, Command};
use serde_yaml_ng::Value;

fn read(path: &str) -> String {
    std::fs::read_to_string(common::root().join(path))
        .unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn yaml_documents(path: &str) -> Vec<Value> {
    let text = read(path);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| {
            serde::Deserialize::deserialize(document)
                .unwrap_or_else(|error| panic!("{path}: {error}"))
        })
        .collect()
}

/// Parses logtally arguments as the binary would and returns the `run` arguments.
fn run_args(arguments: &[String]) -> logtally::cli::RunArgs {
    let mut all = vec!["logtally".to_owned()];
    all.extend(arguments.iter().cloned());
    match Cli::try_parse_from(&all)
        .unwrap_or_else(|error| panic!("{all:?}: {error}"))
        .command
    {
        Command::Run(run) => run,
        other => panic!("expected the run command, got {other:?}"),
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .unwrap()
        .iter()
        .map(|item| item.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn compose_shares_log_volume() {
    let compose = &yaml_documents("examples/compose/docker-compose.yml")[0];
    let logtally = &compose["services"]["logtally"];
    let run = run_args(&strings(&logtally["command"]));
    assert_eq!(run.logs, ["/var/log/proxy/*.log"]);
    assert_eq!(run.listen_address, ":3904");

    let volumes = strings(&logtally["volumes"]);
    assert!(
        volumes.contains(&"proxy-logs:/var/log/proxy:ro".to_owned()),
        "{volumes:?}"
    );
    let nginx_volumes = strings(&compose["services"]["nginx"]["volumes"]);
    assert!(
        nginx_volumes.contains(&"proxy-logs:/var/log/proxy".to_owned()),
        "{nginx_volumes:?}"
    );
    assert!(
        read("examples/compose/nginx.conf")
            .contains("access_log /var/log/proxy/access.log combined;")
    );
    let rules = run.rules[0].strip_prefix("/etc/logtally/rules").unwrap();
    assert!(
        common::root().join("rules").join(rules).is_file(),
        "{rules:?} is a shipped rule file"
    );

    let prometheus = &yaml_documents("examples/compose/prometheus.yml")[0];
    let targets = strings(&prometheus["scrape_configs"][0]["static_configs"][0]["targets"]);
    assert_eq!(targets, ["logtally:3904"]);
}

#[test]
fn compose_envoy_variant_and_grafana() {
    let compose = &yaml_documents("examples/compose/docker-compose.envoy.yml")[0];
    let logtally = &compose["services"]["logtally"];
    let run = run_args(&strings(&logtally["command"]));
    assert_eq!(run.rules, [Path::new("/etc/logtally/rules/envoy.toml")]);
    assert_eq!(run.logs, ["/var/log/proxy/*.log"]);
    assert!(strings(&logtally["volumes"]).contains(&"proxy-logs:/var/log/proxy:ro".to_owned()));
    assert!(
        strings(&compose["services"]["envoy"]["volumes"])
            .contains(&"proxy-logs:/var/log/proxy".to_owned())
    );

    // Envoy logs its default format into the shared volume, the format envoy.toml reads.
    let envoy = &yaml_documents("examples/compose/envoy.yaml")[0];
    let manager = &envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0];
    let access_log = &manager["typed_config"]["access_log"][0]["typed_config"];
    assert_eq!(
        access_log["path"].as_str(),
        Some("/var/log/proxy/access.log")
    );
    assert!(access_log["log_format"].is_null(), "the default format");

    // Both compose files provision the Prometheus data source and the shipped dashboard.
    for file in ["docker-compose.yml", "docker-compose.envoy.yml"] {
        let compose = &yaml_documents(&format!("examples/compose/{file}"))[0];
        let volumes = strings(&compose["services"]["grafana"]["volumes"]);
        assert!(
            volumes.contains(&"../grafana:/var/lib/grafana/dashboards:ro".to_owned()),
            "{file}: {volumes:?}"
        );
    }
    let datasources = &yaml_documents("examples/compose/grafana/datasources/prometheus.yml")[0];
    assert_eq!(
        datasources["datasources"][0]["url"].as_str(),
        Some("http://prometheus:9090")
    );
    let providers = &yaml_documents("examples/compose/grafana/dashboards/logtally.yml")[0];
    assert_eq!(
        providers["providers"][0]["options"]["path"].as_str(),
        Some("/var/lib/grafana/dashboards")
    );
    assert!(
        common::root()
            .join("examples/grafana/logtally-dashboard.json")
            .is_file()
    );
}

#[test]
fn ecs_task_shares_log_volume() {
    let task: serde_json::Value =
        serde_json::from_str(&read("examples/ecs/task-definition.json")).unwrap();
    let containers = task["containerDefinitions"].as_array().unwrap();
    let container = |name: &str| {
        containers
            .iter()
            .find(|container| container["name"] == name)
            .unwrap()
    };
    let logtally = container("logtally");
    let arguments: Vec<String> = logtally["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|argument| argument.as_str().unwrap().to_owned())
        .collect();
    let run = run_args(&arguments);
    assert_eq!(run.logs, ["/var/log/proxy/*.log"]);
    assert_eq!(
        logtally["healthCheck"]["command"],
        serde_json::json!(["CMD", "/usr/local/bin/logtally", "probe"])
    );

    let mount = |container: &serde_json::Value| {
        container["mountPoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|mount| mount["sourceVolume"] == "proxy-logs")
            .cloned()
            .unwrap()
    };
    assert_eq!(mount(logtally)["readOnly"], true);
    assert_eq!(mount(container("envoy"))["readOnly"], false);
    assert_eq!(mount(logtally)["containerPath"], "/var/log/proxy");
    let volumes = task["volumes"].as_array().unwrap();
    assert!(volumes.iter().any(|volume| volume["name"] == "proxy-logs"));
}

#[test]
fn kubernetes_sidecar_reads_shared_volume() {
    let documents = yaml_documents("examples/kubernetes/pod.yaml");
    let kinds: Vec<&str> = documents
        .iter()
        .map(|document| document["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ConfigMap", "Pod", "Service", "ServiceMonitor"]);
    let pod = &documents[1];
    assert_eq!(
        pod["metadata"]["annotations"]["prometheus.io/port"].as_str(),
        Some("3904")
    );

    let containers = pod["spec"]["containers"].as_sequence().unwrap();
    let logtally = containers
        .iter()
        .find(|container| container["name"].as_str() == Some("logtally"))
        .unwrap();
    let run = run_args(&strings(&logtally["args"]));
    assert_eq!(run.logs, ["/var/log/proxy/*.log"]);
    assert_eq!(logtally["ports"][0]["containerPort"].as_u64(), Some(3904));
    assert_eq!(
        logtally["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/ready")
    );

    for container in containers {
        let mount = container["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|mount| mount["name"].as_str() == Some("proxy-logs"))
            .unwrap_or_else(|| panic!("{:?} does not mount the log volume", container["name"]));
        assert_eq!(mount["mountPath"].as_str(), Some("/var/log/proxy"));
        let read_only = mount["readOnly"].as_bool().unwrap_or(false);
        assert_eq!(read_only, container["name"].as_str() == Some("logtally"));
    }
    let volumes = pod["spec"]["volumes"].as_sequence().unwrap();
    let logs = volumes
        .iter()
        .find(|volume| volume["name"].as_str() == Some("proxy-logs"))
        .unwrap();
    assert!(logs["emptyDir"].is_mapping());
}

#[test]
fn kubernetes_daemonset_reads_container_logs() {
    let documents = yaml_documents("examples/kubernetes/daemonset.yaml");
    let kinds: Vec<&str> = documents
        .iter()
        .map(|document| document["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ConfigMap", "DaemonSet"]);

    // The rule file in the ConfigMap loads and passes its own test of CRI lines.
    let rules = documents[0]["data"]["nginx.toml"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = common::write_file(dir.path(), "nginx.toml", rules);
    let output = common::logtally(&["check", path.to_str().unwrap()]);
    assert_eq!(
        common::stdout(&output),
        "1 rule file(s), 2 metric(s), 1 test(s): ok\n",
        "{}",
        common::stderr(&output)
    );

    let pod = &documents[1]["spec"]["template"]["spec"];
    let logtally = &pod["containers"][0];
    let run = run_args(&strings(&logtally["args"]));
    assert!(
        run.logs.is_empty(),
        "the rule file's `files` selects the logs"
    );
    assert_eq!(
        run.positions.as_deref(),
        Some(Path::new("/var/lib/logtally/positions.json"))
    );
    let mounts = logtally["volumeMounts"].as_sequence().unwrap();
    let node_logs = mounts
        .iter()
        .find(|mount| mount["name"].as_str() == Some("node-logs"))
        .unwrap();
    assert_eq!(node_logs["mountPath"].as_str(), Some("/var/log"));
    assert_eq!(node_logs["readOnly"].as_bool(), Some(true));
    let volumes = pod["volumes"].as_sequence().unwrap();
    let host_path = |name: &str| {
        volumes
            .iter()
            .find(|volume| volume["name"].as_str() == Some(name))
            .and_then(|volume| volume["hostPath"]["path"].as_str())
            .map(str::to_owned)
    };
    assert_eq!(host_path("node-logs").as_deref(), Some("/var/log"));
    assert_eq!(
        host_path("logtally-state").as_deref(),
        Some("/var/lib/logtally")
    );
}

#[test]
fn systemd_unit_command_parses() {
    let unit = read("examples/systemd/logtally.service");
    let exec = unit
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart="))
        .unwrap();
    let words: Vec<String> = exec
        .split(' ')
        .map(|word| word.trim_matches('\'').to_owned())
        .collect();
    assert_eq!(words[0], "/usr/local/bin/logtally");
    let run = run_args(&words[1..]);
    assert_eq!(run.logs, ["/var/log/nginx/*.log"]);
    assert_eq!(
        run.positions.as_deref(),
        Some(Path::new("/var/lib/logtally/positions.json"))
    );
    assert!(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
}

#[test]
fn alert_rules_pass_promtool() {
    let Some(promtool) = common::require_program("promtool") else {
        return;
    };
    let path = common::root().join("examples/prometheus/alerts.yml");
    let output = std::process::Command::new(promtool)
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        common::stdout(&output),
        common::stderr(&output)
    );
    assert!(
        common::stdout(&output).contains("SUCCESS: 5 rules found"),
        "{}",
        common::stdout(&output)
    );
}

#[test]
fn dashboard_queries_shipped_metrics() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("examples/grafana/logtally-dashboard.json")).unwrap();
    let rules = logtally::rules::RuleSet::load(&[common::root().join("rules")]).unwrap();
    let mut known: Vec<String> = rules
        .families
        .iter()
        .map(|family| family.name.clone())
        .collect();
    known.extend(
        [
            "logtally_lines_read_total",
            "logtally_lines_unmatched_total",
        ]
        .map(String::from),
    );

    let panels = dashboard["panels"].as_array().unwrap();
    assert_eq!(panels.len(), 8);
    for panel in panels {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            // Every metric a query names is one the shipped rules or logtally itself export;
            // histogram queries name the family's _bucket series.
            let names = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|word| {
                    word.starts_with("nginx_")
                        || word.starts_with("envoy_")
                        || word.starts_with("logtally_")
                });
            for name in names {
                let family = name.strip_suffix("_bucket").unwrap_or(name);
                assert!(
                    known.iter().any(|known| known == family),
                    "{name} in {expr:?} is not exported"
                );
            }
        }
    }
}

#[test]
fn web_config_example_loads() {
    // The example names logtally.crt and logtally.key beside it; test ones take their place.
    let dir = tempfile::tempdir().unwrap();
    let pki = common::tls::Pki::create(dir.path());
    std::fs::copy(&pki.server_cert, dir.path().join("logtally.crt")).unwrap();
    std::fs::copy(&pki.server_key, dir.path().join("logtally.key")).unwrap();
    let path = dir.path().join("web-config.yml");
    std::fs::write(&path, read("examples/web-config/web-config.yml")).unwrap();

    let config = logtally::web_config::load(&path).unwrap_or_else(|error| panic!("{error}"));
    let tls = config.tls.as_ref().expect("the example has TLS");
    assert!(!tls.client_certificate_required);
    let users: Vec<&String> = config.users.keys().collect();
    assert_eq!(users, ["prometheus"]);
    assert!(bcrypt::verify("change-me", &config.users["prometheus"]).unwrap());
    let headers: Vec<(&str, &str)> = config
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.to_str().unwrap()))
        .collect();
    assert_eq!(
        headers,
        [
            ("strict-transport-security", "max-age=31536000"),
            ("x-content-type-options", "nosniff"),
        ]
    );
}
