//! Labels from a log's source: per-glob labels in `files` and `path_labels`, which tell apart
//! the logs of two proxies, or of many pods, that share one rule file.

use std::collections::BTreeMap;

use toml::Spanned;

use super::{FileContext, compile_regex};
use crate::rules::SourceLabels;
use crate::rules::names::check_label_name;
use crate::rules::schema::FileEntry;
use crate::tail::Glob;

/// Checks `files` and `path_labels`, and returns the globs and the labels the sources give.
pub fn compile_sources(
    context: &mut FileContext,
    files: Option<&Spanned<Vec<Spanned<FileEntry>>>>,
    path_labels: Option<&Spanned<String>>,
    const_labels: &[(String, String)],
) -> (Vec<String>, SourceLabels) {
    let entries = check_files(context, files);
    let mut names: Vec<String> = Vec::new();
    for (_, labels) in &entries {
        for name in labels.keys() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names.sort();

    let path = path_labels.and_then(|pattern| compile_path_labels(context, pattern, &names));
    let mut groups = vec![None; names.len()];
    if let Some(regex) = &path {
        for (index, name) in regex.capture_names().enumerate() {
            if let Some(name) = name {
                names.push(name.to_owned());
                groups.push(Some(index));
            }
        }
    }
    check_against_const_labels(context, files, path_labels, &names, const_labels);

    let log_globs = entries.iter().map(|(glob, _)| glob.clone()).collect();
    let globs = entries
        .into_iter()
        .filter_map(|(glob, labels)| {
            let values = names
                .iter()
                .map(|name| labels.get(name).cloned().unwrap_or_default())
                .collect();
            Some((Glob::new(&glob).ok()?, values))
        })
        .collect();
    let labels = SourceLabels {
        names,
        globs,
        path: path.map(|regex| (regex, groups)),
    };
    (log_globs, labels)
}

/// The `files` entries whose glob and label names are valid.
fn check_files(
    context: &mut FileContext,
    files: Option<&Spanned<Vec<Spanned<FileEntry>>>>,
) -> Vec<(String, BTreeMap<String, String>)> {
    let Some(files) = files else {
        return Vec::new();
    };
    if files.get_ref().is_empty() {
        context.error(
            files.span(),
            "`files` is empty; list log globs, or remove it to apply the file to every log",
        );
    }
    let mut entries = Vec::new();
    for entry in files.get_ref() {
        let FileEntry { glob, labels } = entry.get_ref();
        if let Err(message) = Glob::new(glob) {
            context.error(entry.span(), message);
            continue;
        }
        for name in labels.keys() {
            if let Err(message) = check_label_name(name) {
                context.error(entry.span(), message);
            }
        }
        entries.push((glob.clone(), labels.clone()));
    }
    entries
}

fn compile_path_labels(
    context: &mut FileContext,
    pattern: &Spanned<String>,
    glob_names: &[String],
) -> Option<regex::bytes::Regex> {
    let regex = compile_regex(context, pattern)?;
    let mut valid = true;
    let mut any = false;
    for name in regex.capture_names().flatten() {
        any = true;
        if let Err(message) = check_label_name(name) {
            context.error(pattern.span(), message);
            valid = false;
        } else if glob_names.iter().any(|known| known == name) {
            let message = format!(
                "label {name:?} is given both by a `files` entry and by path_labels; rename one"
            );
            context.error(pattern.span(), message);
            valid = false;
        }
    }
    if !any {
        let message = "path_labels has no named groups, so it gives no labels; name them \
                       (?P<label>...)";
        context.error(pattern.span(), message);
        return None;
    }
    valid.then_some(regex)
}

fn check_against_const_labels(
    context: &mut FileContext,
    files: Option<&Spanned<Vec<Spanned<FileEntry>>>>,
    path_labels: Option<&Spanned<String>>,
    names: &[String],
    const_labels: &[(String, String)],
) {
    let span = files
        .map(Spanned::span)
        .or_else(|| path_labels.map(Spanned::span))
        .unwrap_or(0..0);
    for name in names {
        if const_labels.iter().any(|(known, _)| known == name) {
            let message = format!(
                "label {name:?} is both a constant label and a label from the log's source; \
                 rename one"
            );
            context.error(span.clone(), message);
        }
    }
}
