//! The rule language's building blocks, checked through the library: named sub-patterns,
//! `[[derive]]` fields, generated buckets, timestamps as values, metric-level regexes and
//! the labels a log's source adds. Each test gives a rule file and lines and compares the
//! exposition, or the load error, exactly.

use std::path::Path;
use std::sync::Arc;

use logtally::engine::{Engine, attach_sources};
use logtally::exposition;
use logtally::metrics::Store;
use logtally::rules::RuleSet;

/// Loads `rules`, applies them to `lines` and returns the samples, without comment lines.
fn samples(rules: &str, lines: &[&str]) -> String {
    let rules = match RuleSet::from_source(Path::new("r.toml"), rules) {
        Ok(rules) => Arc::new(rules),
        Err(errors) => panic!("rules failed to load:\n{errors}"),
    };
    let mut store = Store::new(&rules);
    let mut engine = Engine::new(rules.clone());
    for line in lines {
        engine.apply(line.as_bytes(), &mut store);
    }
    encode(&rules, &store)
}

fn encode(rules: &RuleSet, store: &Store) -> String {
    let mut families: Vec<_> = rules.families.iter().zip(&store.families).collect();
    let mut text = String::new();
    exposition::encode(&mut text, &mut families);
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Loads `rules` and returns its load errors, one per line.
fn load_errors(rules: &str) -> String {
    match RuleSet::from_source(Path::new("r.toml"), rules) {
        Ok(_) => panic!("rules loaded, but an error was expected"),
        Err(errors) => errors.to_string(),
    }
}

const COUNTER: &str = r#"
[[metric]]
name = "requests_total"
type = "counter"
help = "Requests."
"#;

#[test]
fn built_in_sub_patterns_split_an_access_log() {
    let rules = format!(
        r#"
[parse]
regex = '^%{{IP:client}} \[%{{TIME_LOCAL}}\] "%{{METHOD:method}} \S+" %{{STATUS:status}} "%{{QUOTED:agent}}" %{{NUMBER_LIST:upstream}}$'
{COUNTER}labels = ["method", "status", "agent"]

[[metric]]
name = "upstream_seconds_total"
type = "counter"
help = "Upstream time."
value = "upstream"
"#
    );
    let lines = [
        r#"10.0.0.1 [04/Dec/2026:10:00:00 +0000] "GET /a" 200 "curl/8.0" 0.010"#,
        r#"2001:db8::1 [04/Dec/2026:10:00:01 +0000] "GET /b" 200 "curl/8.0" -, 0.020"#,
        r#"::ffff:10.0.0.2 [04/Dec/2026:10:00:02 +0000] "POST /c" 502 "say \"hi\"" 0.5 : -"#,
        r#"not-an-ip [04/Dec/2026:10:00:03 +0000] "GET /d" 200 "curl/8.0" 0.1"#,
    ];
    assert_eq!(
        samples(&rules, &lines),
        concat!(
            "requests_total{method=\"GET\",status=\"200\",agent=\"curl/8.0\"} 2\n",
            "requests_total{method=\"POST\",status=\"502\",agent=\"say \\\\\\\"hi\\\\\\\"\"} 1\n",
            "upstream_seconds_total 0.53\n",
        )
    );
}

#[test]
fn file_sub_patterns_build_on_each_other() {
    let rules = format!(
        r#"
[patterns]
SERVICE = '[a-z]+(?:-[a-z]+)*'
TARGET = '%{{SERVICE}}:%{{INT}}'

[parse]
regex = '^%{{TARGET:target}} %{{SERVICE:caller}}$'
{COUNTER}labels = ["target", "caller"]
"#
    );
    let lines = [
        "user-db:5432 web",
        "user-db:5432 web",
        "Cache:1 web",
        "cache:x web",
    ];
    assert_eq!(
        samples(&rules, &lines),
        "requests_total{target=\"user-db:5432\",caller=\"web\"} 2\n"
    );
}

#[test]
fn sub_pattern_errors_name_the_place() {
    let cases = [
        (
            "[parse]\nregex = '^%{IPV5:client}$'\n",
            "r.toml:2:11: unknown sub-pattern %{IPV5}; did you mean %{IPV4}?",
        ),
        (
            "[patterns]\nIP = '\\d+'\n[parse]\nregex = 'x'\n",
            "r.toml:2:6: sub-pattern IP is built in; choose another name for this one",
        ),
        (
            "[patterns]\nA = 'a%{B}'\nB = 'b%{A}'\n[parse]\nregex = 'x'\n",
            "r.toml:2:5: sub-pattern A contains itself: it uses %{B}, which leads back to \
             A\nr.toml:3:5: sub-pattern B contains itself: it uses %{A}, which leads back to B",
        ),
        (
            "[patterns]\nA = '%{B}x'\nB = '%{NOPE}y'\n[parse]\nregex = '%{A}'\n",
            "r.toml:2:5: sub-pattern A uses %{B}, which has an error of its own\nr.toml:3:5: \
             unknown sub-pattern %{NOPE}; the sub-patterns are DURATION, INT, IP, IPV4, IPV6, \
             ISO8601, METHOD, NOTSPACE, NUMBER, NUMBER_LIST, NUMBER_OR_DASH, QUOTED, STATUS, \
             TIME_LOCAL",
        ),
        (
            "[patterns]\nPAIR = '(?P<key>\\w+)=\\w+'\n[parse]\nregex = 'x'\n",
            "r.toml:2:8: a sub-pattern cannot define the field \"key\"; name fields where the \
             sub-pattern is used: %{NAME:key}",
        ),
        (
            "[patterns]\nBAD = 'a(b'\n[parse]\nregex = '%{BAD}'\n",
            "r.toml:2:9: invalid regex: unclosed group",
        ),
        (
            "[parse]\nregex = '%{INT:n} (x'\n",
            "r.toml:2:19: invalid regex: unclosed group",
        ),
        (
            "[patterns]\n\"not-a-name\" = 'x'\n[parse]\nregex = 'x'\n",
            "r.toml:2:16: invalid sub-pattern name \"not-a-name\": use letters, digits and \
             underscores, starting with a letter",
        ),
    ];
    for (source, expected) in cases {
        assert_eq!(
            load_errors(&format!("{source}{COUNTER}")),
            expected,
            "{source}"
        );
    }
}

#[test]
fn derive_steps_run_in_order() {
    let rules = format!(
        r#"
[parse]
regex = '^(?P<method>\S+) (?P<path>\S+) (?P<status>\d+) (?P<agent>\S+)$'

[[derive]]
name = "path"
from = "path"
replace = [
  {{ regex = '\?.*', with = '' }},
  {{ regex = '/\d+', with = '/:id' }},
]

[[derive]]
name = "class"
from = "status"
status_class = true

[[derive]]
name = "verb"
from = "method"
lowercase = true
allow = ["get", "post"]

[[derive]]
name = "client"
from = "agent"
replace = [{{ regex = '^([^/]+)/.*', with = '${{1}}' }}]
map = {{ curl = "tool", Mozilla = "browser" }}
default = "unknown"

[[derive]]
name = "tier"
from = "client"
map = {{ tool = "automation" }}
{COUNTER}labels = ["verb", "path", "class", "client", "tier"]
"#
    );
    let lines = [
        "GET /users/12?page=2 200 curl/8.4",
        "Get /users/7 204 curl/7.0",
        "DELETE /users/7/keys/99 503 Mozilla/5.0",
        "POST /login 0 python-requests",
    ];
    assert_eq!(
        samples(&rules, &lines),
        concat!(
            "requests_total{verb=\"get\",path=\"/users/:id\",class=\"2xx\",client=\"tool\",",
            "tier=\"automation\"} 2\n",
            "requests_total{verb=\"other\",path=\"/users/:id/keys/:id\",class=\"5xx\",",
            "client=\"browser\",tier=\"browser\"} 1\n",
            "requests_total{verb=\"post\",path=\"/login\",class=\"0\",client=\"unknown\",",
            "tier=\"unknown\"} 1\n",
        )
    );
}

#[test]
fn derived_fields_feed_values_and_filters() {
    let rules = r#"
[parse]
format = "logfmt"

[[derive]]
name = "seconds"
from = "took"
replace = [{ regex = '^(\d+)ms$', with = '0.${1}' }]

[[derive]]
name = "class"
from = "status"
status_class = true

[[metric]]
name = "request_seconds_total"
type = "counter"
help = "Time spent."
value = "seconds"
match = { class = '^5xx$' }
"#;
    let lines = [
        "status=500 took=250ms",
        "status=503 took=100ms",
        "status=200 took=900ms",
    ];
    assert_eq!(samples(rules, &lines), "request_seconds_total 0.35\n");
}

#[test]
fn derive_errors_name_the_place() {
    let parse = "[parse]\nregex = '(?P<status>\\d+) (?P<path>\\S+)'\n";
    let cases = [
        (
            "[[derive]]\nname = \"class\"\nfrom = \"status\"\n",
            "r.toml:4:8: this [[derive]] table copies the field unchanged; give at least one of \
             lowercase, replace, status_class, map or allow",
        ),
        (
            "[[derive]]\nname = \"class\"\nfrom = \"stauts\"\nstatus_class = true\n",
            "r.toml:5:8: field \"stauts\" is not a named group of the [parse] regex; did you \
             mean \"status\"?",
        ),
        (
            "[[derive]]\nname = \"c\"\nfrom = \"status\"\nlowercase = true\ndefault = \"x\"\n",
            "r.toml:7:11: `default` is the value for keys `map` does not list, so it needs `map`",
        ),
        (
            "[[derive]]\nname = \"c\"\nfrom = \"status\"\nlowercase = true\nother = \"x\"\n",
            "r.toml:7:9: `other` replaces values `allow` does not list, so it needs `allow`",
        ),
        (
            "[[derive]]\nname = \"route\"\nfrom = \"path\"\nreplace = [{ regex = '/(\\d+', with = '' }]\n",
            "r.toml:6:24: invalid regex: unclosed group",
        ),
        (
            "[[derive]]\nname = \"a-b\"\nfrom = \"path\"\nlowercase = true\n",
            "r.toml:4:8: invalid field name \"a-b\": use letters, digits and underscores, not \
             starting with a digit",
        ),
        (
            "[[derive]]\nname = \"c\"\nfrom = \"path\"\nlowercase = true\ncase = \"upper\"\n",
            "r.toml:7:1: unknown field `case`, expected one of `name`, `from`, `lowercase`, \
             `replace`, `status_class`, `map`, `default`, `allow`, `other`",
        ),
    ];
    for (derive, expected) in cases {
        assert_eq!(
            load_errors(&format!("{parse}{derive}{COUNTER}")),
            expected,
            "{derive}"
        );
    }
}

const HISTOGRAM: &str = r#"
[parse]
regex = '^(?P<seconds>\S+)$'

[[metric]]
name = "request_seconds"
type = "histogram"
help = "Request time."
value = "seconds"
"#;

#[test]
fn linear_buckets_have_exact_bounds() {
    let rules = format!("{HISTOGRAM}buckets = {{ start = 0.1, width = 0.1, count = 3 }}\n");
    assert_eq!(
        samples(&rules, &["0.1", "0.3", "0.25", "7"]),
        concat!(
            "request_seconds_bucket{le=\"0.1\"} 1\n",
            "request_seconds_bucket{le=\"0.2\"} 1\n",
            "request_seconds_bucket{le=\"0.3\"} 3\n",
            "request_seconds_bucket{le=\"+Inf\"} 4\n",
            "request_seconds_sum 7.65\n",
            "request_seconds_count 4\n",
        )
    );
}

#[test]
fn exponential_buckets_grow_by_factor() {
    let rules = format!("{HISTOGRAM}buckets = {{ start = 0.005, factor = 2.5, count = 4 }}\n");
    assert_eq!(
        samples(&rules, &["0.01", "0.0125", "0.078125", "0.08"]),
        concat!(
            "request_seconds_bucket{le=\"0.005\"} 0\n",
            "request_seconds_bucket{le=\"0.0125\"} 2\n",
            "request_seconds_bucket{le=\"0.03125\"} 2\n",
            "request_seconds_bucket{le=\"0.078125\"} 3\n",
            "request_seconds_bucket{le=\"+Inf\"} 4\n",
            "request_seconds_sum 0.180625\n",
            "request_seconds_count 4\n",
        )
    );
}

#[test]
fn generated_bucket_errors_name_the_place() {
    let cases = [
        (
            "buckets = { start = 0.1, count = 3 }",
            "r.toml:10:21: generated buckets need `width` (evenly spaced bounds) or `factor` \
             (growing bounds)",
        ),
        (
            "buckets = { start = 0.1, width = 0.1, factor = 2, count = 3 }",
            "r.toml:10:48: give `width` (evenly spaced bounds) or `factor` (growing bounds), \
             not both",
        ),
        (
            "buckets = { start = 0, factor = 2, count = 3 }",
            "r.toml:10:33: growing buckets need a positive start, not 0; multiplying it never \
             increases it",
        ),
        (
            "buckets = { start = 1, factor = 1, count = 3 }",
            "r.toml:10:33: invalid factor 1: use a number greater than 1",
        ),
        (
            "buckets = { start = 1, width = -1, count = 3 }",
            "r.toml:10:32: invalid width -1: use a positive number",
        ),
        (
            "buckets = { start = 1, width = 1, count = 0 }",
            "r.toml:10:43: invalid count 0: generate between 1 and 100 buckets",
        ),
        (
            "buckets = { start = 1e300, factor = 1e10, count = 3 }",
            "r.toml:10:51: the generated bounds reach +Inf; use fewer buckets",
        ),
        (
            "buckets = { start = 1, step = 1, count = 3 }",
            "r.toml:10:24: unknown field `step`, expected one of `start`, `width`, `factor`, \
             `count`",
        ),
    ];
    for (buckets, expected) in cases {
        assert_eq!(
            load_errors(&format!("{HISTOGRAM}{buckets}\n")),
            expected,
            "{buckets}"
        );
    }
}

#[test]
fn timestamps_become_epoch_seconds() {
    let rules = r#"
[[parse]]
regex = '^\[%{TIME_LOCAL:time}\] (?P<proxy>\S+)$'

[[parse]]
regex = '^%{ISO8601:time} (?P<proxy>\S+)$'

[[metric]]
name = "last_request_timestamp_seconds"
type = "gauge"
help = "Time of the last request seen."
labels = ["proxy"]
value = "time"
"#;
    let lines = [
        "[04/Dec/2026:11:00:00 +0100] nginx",
        "2026-12-04T10:00:00.250Z envoy",
        "2026-12-04T10:00:01.5+00:00 envoy",
        "[31/Feb/2026:11:00:00 +0100] nginx",
    ];
    assert_eq!(
        samples(rules, &lines),
        concat!(
            "last_request_timestamp_seconds{proxy=\"envoy\"} 1796378401.5\n",
            "last_request_timestamp_seconds{proxy=\"nginx\"} 1796378400\n",
        )
    );
}

#[test]
fn metric_regexes_count_raw_lines() {
    let rules = r#"
[parse]
regex = '^(?P<status>\d{3}) (?P<path>\S+)$'

[[metric]]
name = "requests_total"
type = "counter"
help = "Requests."
labels = ["status"]

[[metric]]
name = "upstream_timeouts_total"
type = "counter"
help = "Lines reporting an upstream timeout."
regex = 'upstream timed out'

[[metric]]
name = "upstream_errors_total"
type = "counter"
help = "Upstream errors by kind and upstream."
regex = 'upstream (?P<kind>timed out|prematurely closed)\S* .*upstream: "(?P<upstream>[^"]*)"'
labels = ["kind", "upstream"]
unless = { upstream = '^http://canary' }

[[metric]]
name = "retry_wait_seconds_total"
type = "counter"
help = "Waits before retries."
regex = 'retrying in (?P<wait>\S+)'
value = "wait"
"#;
    let lines = [
        "200 /a",
        r#"upstream timed out (110) upstream: "http://10.0.0.1:80/""#,
        r#"upstream timed out (110) upstream: "http://canary:80/""#,
        r#"upstream prematurely closed connection upstream: "http://10.0.0.2:80/""#,
        "retrying in 250ms",
        "retrying in 1.5s after upstream timed out",
        "502 /b",
        "nothing to see",
    ];
    assert_eq!(
        samples(rules, &lines),
        concat!(
            "requests_total{status=\"200\"} 1\n",
            "requests_total{status=\"502\"} 1\n",
            "retry_wait_seconds_total 1.75\n",
            "upstream_errors_total{kind=\"prematurely closed\",upstream=\"http://10.0.0.2:80/\"} 1\n",
            "upstream_errors_total{kind=\"timed out\",upstream=\"http://10.0.0.1:80/\"} 1\n",
            "upstream_timeouts_total 3\n",
        )
    );
}

#[test]
fn many_metric_regexes_each_match_their_lines() {
    let mut rules = String::new();
    for index in 0..40 {
        rules.push_str(&format!(
            "[[metric]]\nname = \"event_{index}_total\"\ntype = \"counter\"\nhelp = \"h\"\n\
             regex = '\\bevent-{index}\\b'\n"
        ));
    }
    let lines: Vec<String> = (0..40)
        .flat_map(|index| (0..=index % 3).map(move |_| format!("at 10:00 event-{index} seen")))
        .chain(["event-40".to_owned(), "event-1 and event-2".to_owned()])
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();

    let expected: String = {
        let mut samples: Vec<String> = (0..40)
            .map(|index| {
                let extra = u32::from(index == 1 || index == 2);
                format!("event_{index}_total {}\n", index % 3 + 1 + extra)
            })
            .collect();
        samples.sort();
        samples.concat()
    };
    assert_eq!(samples(&rules, &lines), expected);
}

#[test]
fn metric_regex_errors_name_the_place() {
    let cases = [
        (
            "[[metric]]\nname = \"a_total\"\ntype = \"counter\"\nhelp = \"h\"\n",
            "r.toml:2:8: metric \"a_total\" has no `regex` and the file has no [parse] table, so \
             it has no fields; add one of them",
        ),
        (
            "[[metric]]\nname = \"a_total\"\ntype = \"counter\"\nhelp = \"h\"\n\
             regex = 'x(?P<code>\\d+)'\nlabels = [\"cod\"]\n",
            "r.toml:6:11: field \"cod\" is not a named group of this metric's regex; did you \
             mean \"code\"?",
        ),
        (
            "[[metric]]\nname = \"a_total\"\ntype = \"counter\"\nhelp = \"h\"\nregex = 'x('\n",
            "r.toml:5:11: invalid regex: unclosed group",
        ),
    ];
    for (source, expected) in cases {
        assert_eq!(load_errors(source), expected, "{source}");
    }
}

#[test]
fn initial_label_sets_start_at_zero() {
    let rules = r#"
const_labels = { proxy = "front" }

[parse]
regex = '^(?P<method>\S+) (?P<status>\d+) (?P<seconds>\S+)$'

[[metric]]
name = "requests_total"
type = "counter"
help = "Requests."
labels = ["method", "status"]
initial = [
  { method = "GET", status = "500" },
  { method = "GET", status = "200" },
]

[[metric]]
name = "request_seconds"
type = "histogram"
help = "Request time."
labels = ["status"]
value = "seconds"
buckets = [0.5]
initial = [{ status = "500" }]

[[metric]]
name = "last_request_seconds"
type = "gauge"
help = "Time of the last request."
labels = ["status"]
value = "seconds"
initial = [{ status = "500" }]

[[metric]]
name = "lines_total"
type = "counter"
help = "Lines."
"#;
    assert_eq!(
        samples(rules, &[]),
        concat!(
            "last_request_seconds{status=\"500\",proxy=\"front\"} 0\n",
            "lines_total{proxy=\"front\"} 0\n",
            "request_seconds_bucket{status=\"500\",proxy=\"front\",le=\"0.5\"} 0\n",
            "request_seconds_bucket{status=\"500\",proxy=\"front\",le=\"+Inf\"} 0\n",
            "request_seconds_sum{status=\"500\",proxy=\"front\"} 0\n",
            "request_seconds_count{status=\"500\",proxy=\"front\"} 0\n",
            "requests_total{method=\"GET\",status=\"200\",proxy=\"front\"} 0\n",
            "requests_total{method=\"GET\",status=\"500\",proxy=\"front\"} 0\n",
        )
    );
    assert_eq!(
        samples(rules, &["GET 200 0.25"]),
        concat!(
            "last_request_seconds{status=\"200\",proxy=\"front\"} 0.25\n",
            "last_request_seconds{status=\"500\",proxy=\"front\"} 0\n",
            "lines_total{proxy=\"front\"} 1\n",
            "request_seconds_bucket{status=\"200\",proxy=\"front\",le=\"0.5\"} 1\n",
            "request_seconds_bucket{status=\"200\",proxy=\"front\",le=\"+Inf\"} 1\n",
            "request_seconds_sum{status=\"200\",proxy=\"front\"} 0.25\n",
            "request_seconds_count{status=\"200\",proxy=\"front\"} 1\n",
            "request_seconds_bucket{status=\"500\",proxy=\"front\",le=\"0.5\"} 0\n",
            "request_seconds_bucket{status=\"500\",proxy=\"front\",le=\"+Inf\"} 0\n",
            "request_seconds_sum{status=\"500\",proxy=\"front\"} 0\n",
            "request_seconds_count{status=\"500\",proxy=\"front\"} 0\n",
            "requests_total{method=\"GET\",status=\"200\",proxy=\"front\"} 1\n",
            "requests_total{method=\"GET\",status=\"500\",proxy=\"front\"} 0\n",
        )
    );
}

#[test]
fn initial_errors_name_the_place() {
    let parse = "[parse]\nregex = '(?P<status>\\d+) (?P<method>\\S+)'\n";
    let metric = "[[metric]]\nname = \"a_total\"\ntype = \"counter\"\nhelp = \"h\"\n";
    let cases = [
        (
            "labels = [\"status\"]\ninitial = [{ code = \"500\" }]\n",
            "r.toml:8:12: \"code\" is not a label of this metric; its labels are status",
        ),
        (
            "labels = [\"status\", \"method\"]\ninitial = [{ status = \"500\" }]\n",
            "r.toml:8:12: this label set lacks \"method\"; give a value for each of status, \
             method",
        ),
        (
            "initial = [{}]\n",
            "r.toml:7:11: `initial` lists label sets, but this metric has no labels of its own; \
             a metric without labels starts at zero anyway",
        ),
        (
            "labels = [\"status\"]\nmax_series = 1\ninitial = [{ status = \"1\" }, { status = \"2\" }]\n",
            "r.toml:9:11: `initial` lists 2 label sets, more than max_series (1)",
        ),
    ];
    for (keys, expected) in cases {
        assert_eq!(
            load_errors(&format!("{parse}{metric}{keys}")),
            expected,
            "{keys}"
        );
    }
}

/// Applies `rules` to lines of several logs, in order, as the daemon does: each log gets the
/// rule files its path selects and the labels its path gives.
fn samples_by_log(rules: &str, logs: &[(&str, &[&str])]) -> String {
    let rules = Arc::new(RuleSet::from_source(Path::new("r.toml"), rules).unwrap());
    let mut store = Store::new(&rules);
    let mut engine = Engine::new(rules.clone());
    for (path, lines) in logs {
        let mut sources = attach_sources(&rules, &mut store, Some(Path::new(path)), true);
        for line in *lines {
            engine.apply_sources(&mut sources, line.as_bytes(), &mut store);
        }
    }
    encode(&rules, &store)
}

#[test]
fn two_proxies_share_one_rule_file() {
    let rules = r#"
files = [
  { glob = "/logs/front/*.log", labels = { proxy = "front", tier = "edge" } },
  { glob = "/logs/egress/*.log", labels = { proxy = "egress" } },
]

[parse]
regex = '^(?P<status>\d{3})$'

[[metric]]
name = "requests_total"
type = "counter"
help = "Requests."
labels = ["status"]

[[metric]]
name = "lines_total"
type = "counter"
help = "Lines."
"#;
    let logs: [(&str, &[&str]); 3] = [
        ("/logs/front/access.log", &["200", "200", "503"]),
        ("/logs/egress/access.log", &["200"]),
        ("/logs/other/access.log", &["200"]),
    ];
    assert_eq!(
        samples_by_log(rules, &logs),
        concat!(
            "lines_total{proxy=\"egress\",tier=\"\"} 1\n",
            "lines_total{proxy=\"front\",tier=\"edge\"} 3\n",
            "requests_total{status=\"200\",proxy=\"egress\",tier=\"\"} 1\n",
            "requests_total{status=\"200\",proxy=\"front\",tier=\"edge\"} 2\n",
            "requests_total{status=\"503\",proxy=\"front\",tier=\"edge\"} 1\n",
        )
    );
}

#[test]
fn path_labels_name_pods() {
    let rules = r#"
path_labels = '/(?P<pod>[^_/]+)_(?P<namespace>[^_/]+)_(?P<container>[^/]+)-[0-9a-f]{8,64}\.log$'

[parse]
regex = '^(?P<status>\d{3})$'

[[metric]]
name = "requests_total"
type = "counter"
help = "Requests."
labels = ["status"]
initial = [{ status = "500" }]
"#;
    let logs: [(&str, &[&str]); 3] = [
        (
            "/var/log/containers/web-7d9f_shop_nginx-0123abcd.log",
            &["200", "200"],
        ),
        (
            "/var/log/containers/api-5c2e_shop_envoy-89abcdef.log",
            &["500"],
        ),
        ("/var/log/other.log", &["200"]),
    ];
    assert_eq!(
        samples_by_log(rules, &logs),
        concat!(
            "requests_total{status=\"200\",pod=\"\",namespace=\"\",container=\"\"} 1\n",
            "requests_total{status=\"200\",pod=\"web-7d9f\",namespace=\"shop\",",
            "container=\"nginx\"} 2\n",
            "requests_total{status=\"500\",pod=\"\",namespace=\"\",container=\"\"} 0\n",
            "requests_total{status=\"500\",pod=\"api-5c2e\",namespace=\"shop\",",
            "container=\"envoy\"} 1\n",
            "requests_total{status=\"500\",pod=\"web-7d9f\",namespace=\"shop\",",
            "container=\"nginx\"} 0\n",
        )
    );
}

#[test]
fn source_label_errors_name_the_place() {
    let parse = "[parse]\nregex = '(?P<status>\\d+)'\n";
    let metric = "[[metric]]\nname = \"a_total\"\ntype = \"counter\"\nhelp = \"h\"\n";
    let cases = [
        (
            "files = [{ glob = \"/a/*.log\", labels = { Proxy = \"a\" } }]\n",
            "r.toml:1:10: invalid label name \"Proxy\": write it in snake_case (\"proxy\")",
        ),
        (
            "files = [{ glob = \"/a/*.log\", labels = { proxy = \"a\" } }]\n\
             path_labels = '/(?P<proxy>\\w+)\\.log$'\n",
            "r.toml:2:15: label \"proxy\" is given both by a `files` entry and by path_labels; \
             rename one",
        ),
        (
            "path_labels = '/\\w+\\.log$'\n",
            "r.toml:1:15: path_labels has no named groups, so it gives no labels; name them \
             (?P<label>...)",
        ),
        (
            "const_labels = { pod = \"x\" }\npath_labels = '/(?P<pod>\\w+)\\.log$'\n",
            "r.toml:2:15: label \"pod\" is both a constant label and a label from the log's \
             source; rename one",
        ),
        (
            "files = [{ glob = \"/a/*.log\", label = { proxy = \"a\" } }]\n",
            "r.toml:1:31: unknown field `label`, expected `glob` or `labels`",
        ),
    ];
    for (keys, expected) in cases {
        assert_eq!(
            load_errors(&format!("{keys}{parse}{metric}")),
            expected,
            "{keys}"
        );
    }
    assert_eq!(
        load_errors(&format!(
            "path_labels = '/(?P<status>\\w+)\\.log$'\n{parse}{metric}labels = [\"status\"]\n"
        )),
        "r.toml:5:8: label \"status\" is also a label this file takes from its logs (`files` or \
         path_labels); rename one of them"
    );
}

/// Request lines by path and status, after the wrapper the test puts first.
const WRAPPED: &str = r#"
[parse]
regex = '^(?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3})$'

[[metric]]
name = "requests_total"
type = "counter"
help = "Requests."
labels = ["path", "status"]
"#;

#[test]
fn cri_lines_unwrapped_and_joined() {
    let rules = format!("wrapper = \"cri\"\n{WRAPPED}");
    let lines = [
        "2026-12-04T10:00:00.000000001Z stdout F GET /a 200",
        "2026-12-04T10:00:00.000000002Z stdout P GET /very",
        "2026-12-04T10:00:00.000000003Z stdout P /long",
        "2026-12-04T10:00:00.000000004Z stdout F /path 503",
        "2026-12-04T10:00:00.000000005Z stderr F GET /a 200",
        "GET /a 200",
    ];
    assert_eq!(
        samples(&rules, &lines),
        concat!(
            "requests_total{path=\"/a\",status=\"200\"} 2\n",
            "requests_total{path=\"/very/long/path\",status=\"503\"} 1\n",
        )
    );
}

#[test]
fn docker_lines_unwrapped_and_joined() {
    let rules = format!("wrapper = \"docker\"\n{WRAPPED}");
    let lines = [
        r#"{"log":"GET /a 200\n","stream":"stdout","time":"2026-12-04T10:00:00.1Z"}"#,
        r#"{"log":"GET /\"q\" 404\n","stream":"stdout","time":"2026-12-04T10:00:00.2Z"}"#,
        r#"{"log":"GET /very/lo","stream":"stdout","time":"2026-12-04T10:00:00.3Z"}"#,
        r#"{"log":"ng 503\n","stream":"stdout","time":"2026-12-04T10:00:00.4Z"}"#,
        "GET /a 200",
    ];
    assert_eq!(
        samples(&rules, &lines),
        concat!(
            "requests_total{path=\"/\\\"q\\\"\",status=\"404\"} 1\n",
            "requests_total{path=\"/a\",status=\"200\"} 1\n",
            "requests_total{path=\"/very/long\",status=\"503\"} 1\n",
        )
    );
}

#[test]
fn expiry_keeps_initial_label_sets() {
    let rules = r#"
[parse]
regex = '^(?P<status>\d{3})$'

[[metric]]
name = "requests_total"
type = "counter"
help = "Requests."
labels = ["status"]
initial = [{ status = "500" }]
expire = "1m"
"#;
    let rules = Arc::new(RuleSet::from_source(Path::new("r.toml"), rules).unwrap());
    let mut store = Store::new(&rules);
    let mut engine = Engine::new(rules.clone());
    engine.apply(b"200", &mut store);
    engine.apply(b"500", &mut store);

    // Two minutes later neither series was updated: the declared one stays.
    store.expire(&rules, logtally::metrics::now_ms() + 120_000, None);
    assert_eq!(encode(&rules, &store), "requests_total{status=\"500\"} 1\n");
    assert_eq!(store.expired, [1]);
}

#[test]
fn oversized_metric_regex_set_is_a_load_error() {
    let rules: String = (0..16)
        .map(|index| {
            format!(
                "[[metric]]\nname = \"m{index}_total\"\ntype = \"counter\"\nhelp = \"h\"\n\
                 regex = '''user=(?u:\\w{{1,100}}) x{index}'''\n\n"
            )
        })
        .collect();
    assert_eq!(
        load_errors(&rules),
        "r.toml:5:9: the metric regexes of this file are too large to run together (Compiled \
         regex exceeds size limit of 67108864 bytes.); simplify them, for example without \
         (?u:...) classes, or split them across rule files"
    );
}

#[test]
fn generated_buckets_must_stay_distinct() {
    let rules = format!("{HISTOGRAM}buckets = {{ start = 1e12, width = 0.25, count = 4 }}\n");
    assert_eq!(
        load_errors(&rules),
        "r.toml:10:21: the generated bounds repeat 1000000000000: the step is too small for the start \
         at 12 significant digits"
    );
}

#[test]
fn rule_file_given_twice_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.toml");
    std::fs::write(&file, format!("[parse]\nregex = 'x'\n{COUNTER}")).unwrap();
    std::os::unix::fs::symlink(&file, dir.path().join("b.toml")).unwrap();

    let errors = RuleSet::load(&[dir.path().to_path_buf()]).unwrap_err();
    assert_eq!(
        errors.to_string(),
        format!(
            "{}: the same rule file as {}, so every line would count twice; give it once",
            dir.path().join("b.toml").display(),
            file.display()
        )
    );
    let errors = RuleSet::load(&[file.clone(), file.clone()]).unwrap_err();
    assert_eq!(errors.0.len(), 1);
}

#[test]
fn growing_replacements_are_bounded() {
    // Each step inserts "ab" at every position, tripling the value: 15 steps would make a
    // 10-byte value about 143 million bytes long.
    let steps = "{ regex = '', with = 'ab' },".repeat(15);
    let rules = format!(
        "[parse]\nregex = '^(?P<path>\\S+)$'\n[[derive]]\nname = \"grown\"\nfrom = \"path\"\n\
         replace = [{steps}]\n{COUNTER}labels = [\"grown\"]\n"
    );
    let exposition = samples(&rules, &["0123456789"]);
    let value = exposition
        .strip_prefix("requests_total{grown=\"")
        .and_then(|rest| rest.strip_suffix("\"} 1\n"))
        .unwrap();
    assert_eq!(value.len(), 1024, "label values are cut to 1024 bytes");
    assert!(
        value
            .bytes()
            .all(|byte| matches!(byte, b'a' | b'b' | b'0'..=b'9')),
        "{value}"
    );
}

#[test]
fn failed_test_mentions_source_labels() {
    let rules = r#"
files = [{ glob = "/logs/front/*.log", labels = { proxy = "front" } }]

[parse]
regex = '^(?P<status>\d{3})$'

[[metric]]
name = "requests_total"
type = "counter"
help = "Requests."
labels = ["status"]

[[test]]
name = "without path"
input = ["200"]
expect = ['requests_total{status="200"} 1']
"#;
    let rules = Arc::new(RuleSet::from_source(Path::new("r.toml"), rules).unwrap());
    let (count, failures) = logtally::rules::testing::run_all(&rules);
    assert_eq!(count, 1);
    assert_eq!(
        failures[0].to_string(),
        "r.toml:13:1: test \"without path\" failed:\n  requests_total{status=\"200\"}: expected \
         1, but there is no such sample\n  note: this file's metrics also carry labels that a \
         log's `files` entry or path gives (proxy), empty here; give the test a `path` to set \
         them\n"
    );
}
