//! The HTML status page: plain tables that need no JavaScript, with every value from files,
//! rules and logs escaped.

use std::fmt::Write;

use super::{EventStatus, FollowedFileStatus, ReloadStatus, RuleFileStatus, Status};

/// The page's style sheet, kept small and inline so the page is one response.
const STYLE: &str = "body{font-family:sans-serif;margin:1em 2em}\
table{border-collapse:collapse;margin-bottom:1em}\
th,td{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}\
td.number{text-align:right}td.time{white-space:nowrap}\
.failed{color:#a00}pre{margin:0;white-space:pre-wrap}";

/// Renders the status page. `telemetry_path` is where the metrics are, for the links.
pub fn render(status: &Status, telemetry_path: &str) -> String {
    let mut page = String::with_capacity(8 * 1024);
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">");
    let _ = write!(
        page,
        "<title>logtally status</title><style>{STYLE}</style></head>\n<body>\n\
         <h1>logtally status</h1>\n<p>Version {}, taken at {}. {}. \
         <a href=\"/\">Home</a> | <a href=\"{}\">Metrics</a> | \
         <a href=\"/status.json\">JSON</a></p>\n",
        escape(&status.version),
        escape(&status.time),
        if status.ready {
            "Ready: every file found at start has been read to its end"
        } else {
            "Not ready: still reading the files found at start"
        },
        escape(telemetry_path),
    );
    rule_files(&mut page, &status.reload, &status.rule_files);
    followed_files(&mut page, &status.followed_files);
    recent_events(&mut page, &status.recent_events, status.recent_events_total);
    page.push_str("</body>\n</html>\n");
    page
}

fn rule_files(page: &mut String, reload: &ReloadStatus, files: &[RuleFileStatus]) {
    page.push_str("<h2>Rule files</h2>\n");
    if reload.successful {
        let _ = writeln!(
            page,
            "<p>Rules loaded at {}.</p>",
            escape(&reload.last_success_time)
        );
    } else {
        let _ = writeln!(
            page,
            "<p class=\"failed\">The last reload, at {}, failed; the rules loaded at {} stay \
             in force. Errors:</p>\n<ul class=\"failed\">",
            escape(reload.last_reload_time.as_deref().unwrap_or("")),
            escape(&reload.last_success_time)
        );
        for error in &reload.errors {
            let _ = writeln!(page, "<li><pre>{}</pre></li>", escape(&error.text));
        }
        page.push_str("</ul>\n");
    }
    page.push_str(
        "<table>\n<tr><th>Rule file</th><th>Metrics</th><th>Lines matched</th>\
         <th>Lines unmatched</th><th>Values skipped</th><th>Last reload</th></tr>\n",
    );
    for file in files {
        let _ = writeln!(
            page,
            "<tr><td>{}</td>{}{}{}<td>{}</td>{}</tr>",
            escape(&file.path),
            number(file.metrics as u64),
            number(file.lines_matched),
            number(file.lines_unmatched),
            skipped(file),
            last_reload(file),
        );
    }
    page.push_str("</table>\n");
}

/// Formats the total of skipped values, followed by the count of each reason that occurred.
fn skipped(file: &RuleFileStatus) -> String {
    let total: u64 = file.values_skipped.values().sum();
    let reasons: Vec<String> = file
        .values_skipped
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(reason, count)| format!("{reason} {count}"))
        .collect();
    if reasons.is_empty() {
        total.to_string()
    } else {
        format!("{total} ({})", reasons.join(", "))
    }
}

fn last_reload(file: &RuleFileStatus) -> String {
    match &file.last_reload_error {
        None => "<td>ok</td>".to_owned(),
        Some(error) => format!(
            "<td class=\"failed\">failed:<pre>{}</pre></td>",
            escape(error)
        ),
    }
}

fn followed_files(page: &mut String, files: &[FollowedFileStatus]) {
    page.push_str("<h2>Followed files</h2>\n");
    if files.is_empty() {
        page.push_str("<p>No file matches the globs yet.</p>\n");
        return;
    }
    page.push_str(
        "<table>\n<tr><th>Path</th><th>Open</th><th>Offset</th><th>Size</th>\
         <th>Lines read</th><th>Rotations</th><th>Truncations</th><th>Errors</th>\
         <th>Last error</th></tr>\n",
    );
    for file in files {
        let last_error = match &file.last_error {
            None => String::new(),
            Some(error) => format!(
                "{}: <span class=\"failed\">{}</span>",
                escape(&error.time),
                escape(&error.message)
            ),
        };
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td>{}{}{}{}{}{}<td>{last_error}</td></tr>",
            escape(&file.path),
            if file.followed { "yes" } else { "no" },
            number(file.offset),
            number(file.size),
            number(file.lines_read),
            number(file.rotations),
            number(file.truncations),
            number(file.errors),
        );
    }
    page.push_str("</table>\n");
}

fn recent_events(page: &mut String, events: &[EventStatus], total: u64) {
    page.push_str("<h2>Recent warnings and errors</h2>\n");
    if events.is_empty() {
        page.push_str("<p>None logged.</p>\n");
        return;
    }
    let _ = writeln!(
        page,
        "<p>The last {} of {total} logged since the start, newest first.</p>",
        events.len()
    );
    page.push_str(
        "<table>\n<tr><th>Time</th><th>Level</th><th>Message</th><th>Details</th></tr>\n",
    );
    for event in events {
        let details: Vec<String> = event
            .fields
            .iter()
            .map(|(name, value)| format!("{}: {}", escape(name), escape(value)))
            .collect();
        let _ = writeln!(
            page,
            "<tr><td class=\"time\">{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>",
            escape(&event.time),
            event.level,
            escape(&event.message),
            details.join("\n"),
        );
    }
    page.push_str("</table>\n");
}

fn number(value: u64) -> String {
    format!("<td class=\"number\">{value}</td>")
}

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{FileErrorStatus, ReloadError};
    use super::*;

    #[test]
    fn markup_characters_escaped() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }

    fn status() -> Status {
        let hostile = r#"/logs/<script>alert("x")</script>&'.log"#;
        Status {
            version: "1.2.3".into(),
            time: "2026-12-04T10:00:00.000Z".into(),
            ready: true,
            reload: ReloadStatus {
                successful: false,
                last_success_time: "2026-12-04T09:00:00.000Z".into(),
                last_reload_time: Some("2026-12-04T09:30:00.000Z".into()),
                errors: vec![ReloadError {
                    path: "<r>.toml".into(),
                    line: Some(3),
                    column: Some(7),
                    message: "invalid regex <(>".into(),
                    text: "<r>.toml:3:7: invalid regex <(>".into(),
                }],
            },
            rule_files: vec![RuleFileStatus {
                path: "<r>.toml".into(),
                metrics: 2,
                lines_matched: 41,
                lines_unmatched: 5,
                values_skipped: BTreeMap::from([("dash", 2), ("invalid", 1), ("empty", 0)]),
                last_reload_successful: false,
                last_reload_error: Some("<r>.toml:3:7: invalid regex <(>".into()),
            }],
            followed_files: vec![FollowedFileStatus {
                path: hostile.into(),
                followed: true,
                offset: 1234,
                size: 2048,
                lines_read: 46,
                bytes_read: 1234,
                rotations: 1,
                truncations: 0,
                errors: 1,
                last_error: Some(FileErrorStatus {
                    time: "2026-12-04T09:59:00.000Z".into(),
                    message: "failed to read: <EIO>".into(),
                }),
            }],
            recent_events: vec![EventStatus {
                time: "2026-12-04T09:59:00.000Z".into(),
                level: "warn",
                message: "Failed to read log file; will retry.".into(),
                fields: vec![("path".into(), hostile.into())],
            }],
            recent_events_total: 3,
        }
    }

    #[test]
    fn page_shows_escaped_values() {
        let page = render(&status(), "/m\"etrics");
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains("<r>"), "{page}");
        assert!(!page.contains("<(>"), "{page}");
        let path = "/logs/&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;.log";
        assert!(
            page.contains(&format!(
                "<tr><td>{path}</td><td>yes</td><td class=\"number\">1234</td>\
                 <td class=\"number\">2048</td><td class=\"number\">46</td>\
                 <td class=\"number\">1</td><td class=\"number\">0</td>\
                 <td class=\"number\">1</td><td>2026-12-04T09:59:00.000Z: \
                 <span class=\"failed\">failed to read: &lt;EIO&gt;</span></td></tr>\n"
            )),
            "{page}"
        );
        assert!(
            page.contains(
                "<tr><td>&lt;r&gt;.toml</td><td class=\"number\">2</td>\
                 <td class=\"number\">41</td><td class=\"number\">5</td>\
                 <td>3 (dash 2, invalid 1)</td><td class=\"failed\">failed:\
                 <pre>&lt;r&gt;.toml:3:7: invalid regex &lt;(&gt;</pre></td></tr>\n"
            ),
            "{page}"
        );
        assert!(
            page.contains("<a href=\"/m&quot;etrics\">Metrics</a>"),
            "{page}"
        );
        assert!(
            page.contains(&format!(
                "<tr><td class=\"time\">2026-12-04T09:59:00.000Z</td><td>warn</td>\
                 <td>Failed to read log file; will retry.</td><td><pre>path: {path}</pre></td></tr>"
            )),
            "{page}"
        );
        assert!(
            page.contains("<p>The last 1 of 3 logged since the start, newest first.</p>"),
            "{page}"
        );
    }

    #[test]
    fn empty_sections_say_so() {
        let mut status = status();
        status.followed_files.clear();
        status.recent_events.clear();
        status.reload.successful = true;
        let page = render(&status, "/metrics");
        assert!(
            page.contains("<p>No file matches the globs yet.</p>"),
            "{page}"
        );
        assert!(page.contains("<p>None logged.</p>"), "{page}");
        assert!(
            page.contains("<p>Rules loaded at 2026-12-04T09:00:00.000Z.</p>"),
            "{page}"
        );
    }
}
