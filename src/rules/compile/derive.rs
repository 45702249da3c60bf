//! `[[derive]]` tables: fields computed from other fields, for labels that keep cardinality
//! low (a route instead of every URL, a status class instead of every status).

use std::collections::{HashMap, HashSet};

use toml::Spanned;

use super::{FieldTable, FileContext, compile_regex, resolve_field};
use crate::rules::Derive;
use crate::rules::schema::DeriveSpec;

/// The value of `other` when an `allow` list gives none.
const DEFAULT_OTHER: &str = "other";

/// Compiles the `[[derive]]` tables in order, adding each result to the field table so later
/// tables and metrics can use it.
pub fn compile_derives(
    context: &mut FileContext,
    fields: &mut FieldTable,
    specs: &[Spanned<DeriveSpec>],
) -> Vec<Derive> {
    let mut derives = Vec::new();
    for spec in specs {
        if let Some(derive) = compile_derive(context, fields, spec.get_ref()) {
            derives.push(derive);
        }
    }
    derives
}

fn compile_derive(
    context: &mut FileContext,
    fields: &mut FieldTable,
    spec: &DeriveSpec,
) -> Option<Derive> {
    let errors_before = context.errors.len();
    check_field_name(context, &spec.name);
    check_has_step(context, spec);
    check_pairs(context, spec);

    // The input is resolved before the result is defined, so a table that rewrites a field in
    // place (`name = "path"`, `from = "path"`) reads the field as parsed.
    let from = resolve_field(context, fields, &spec.from);
    let replace = compile_replacements(context, spec);
    if context.errors.len() > errors_before {
        return None;
    }

    let map = spec.map.as_ref().map(|map| {
        map.get_ref()
            .iter()
            .map(|(key, value)| (bytes(key), bytes(value)))
            .collect::<HashMap<_, _>>()
    });
    let allow = spec.allow.as_ref().map(|allow| {
        allow
            .get_ref()
            .iter()
            .map(|value| bytes(value))
            .collect::<HashSet<_>>()
    });
    let other = spec
        .other
        .as_ref()
        .map_or(DEFAULT_OTHER, |other| other.get_ref().as_str());
    Some(Derive {
        field: fields.define(spec.name.get_ref()),
        from: from?,
        lowercase: is_set(spec.lowercase.as_ref()),
        replace,
        status_class: is_set(spec.status_class.as_ref()),
        map,
        map_default: spec.default.as_ref().map(|value| bytes(value.get_ref())),
        allow,
        other: bytes(other),
    })
}

fn bytes(text: &str) -> Box<[u8]> {
    text.as_bytes().into()
}

fn is_set(flag: Option<&Spanned<bool>>) -> bool {
    flag.is_some_and(|flag| *flag.get_ref())
}

/// Checks that a derived field is named like a regex group, so the same name works in every
/// place.
fn check_field_name(context: &mut FileContext, name: &Spanned<String>) {
    let text = name.get_ref();
    let mut chars = text.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        let message = format!(
            "invalid field name {text:?}: use letters, digits and underscores, not starting \
             with a digit"
        );
        context.error(name.span(), message);
    }
}

fn check_has_step(context: &mut FileContext, spec: &DeriveSpec) {
    let has_step = is_set(spec.lowercase.as_ref())
        || spec.replace.is_some()
        || is_set(spec.status_class.as_ref())
        || spec.map.is_some()
        || spec.allow.is_some();
    if !has_step {
        let message = "this [[derive]] table copies the field unchanged; give at least one of \
                       lowercase, replace, status_class, map or allow";
        context.error(spec.name.span(), message);
    }
}

/// `default` belongs to `map` and `other` to `allow`.
fn check_pairs(context: &mut FileContext, spec: &DeriveSpec) {
    if let (Some(default), None) = (&spec.default, &spec.map) {
        let message = "`default` is the value for keys `map` does not list, so it needs `map`";
        context.error(default.span(), message);
    }
    if let (Some(other), None) = (&spec.other, &spec.allow) {
        let message = "`other` replaces values `allow` does not list, so it needs `allow`";
        context.error(other.span(), message);
    }
}

fn compile_replacements(
    context: &mut FileContext,
    spec: &DeriveSpec,
) -> Vec<(regex::bytes::Regex, Vec<u8>)> {
    let Some(replace) = &spec.replace else {
        return Vec::new();
    };
    if replace.get_ref().is_empty() {
        let message = "`replace` is empty; list { regex = '...', with = '...' } tables";
        context.error(replace.span(), message);
    }
    replace
        .get_ref()
        .iter()
        .filter_map(|step| {
            let regex = compile_regex(context, &step.regex)?;
            Some((regex, step.with.clone().into_bytes()))
        })
        .collect()
}
