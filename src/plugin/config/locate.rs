//! Small helpers for messages: where in the TOML text a key is (line, dotted path), how a
//! value is described, how plugin names map to environment variable names.

#[cfg(feature = "config")]
use std::ops::Range;

#[cfg(feature = "config")]
use toml::de::{DeTable, DeValue};
#[cfg(feature = "config")]
use toml::{Spanned, Value};

pub(super) fn at(path: &str, line: &Option<u32>) -> String {
    line.map_or_else(|| path.to_owned(), |l| format!("{path}, line {l}"))
}

pub(super) fn normalize(name: &str) -> String {
    name.replace(['-', '.'], "_").to_uppercase()
}

pub(super) fn parse_switch(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(feature = "config")]
pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::Table(_) => "a table".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        other => format!("{} {other}", other.type_str()),
    }
}

/// Joins keys with `.`, quoting those that are not bare TOML keys.
#[cfg(feature = "config")]
pub(crate) fn dotted<S: AsRef<str>>(keys: &[S]) -> String {
    let bare = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    let parts: Vec<String> = keys
        .iter()
        .map(|k| {
            if bare(k.as_ref()) {
                k.as_ref().to_owned()
            } else {
                format!("{:?}", k.as_ref())
            }
        })
        .collect();
    parts.join(".")
}

/// 1-based line and column (in characters) of byte offset `pos`, saturating at `u32::MAX`.
#[cfg(feature = "config")]
pub(crate) fn line_col(text: &str, pos: usize) -> (u32, u32) {
    let mut pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &text[..pos];
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    let line = before.matches('\n').count() + 1;
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    (clamp(line), clamp(column))
}

#[cfg(feature = "config")]
pub(super) fn take_table<'i>(mut table: DeTable<'i>, key: &str) -> Option<Spanned<DeTable<'i>>> {
    let value = table.remove(key)?;
    let span = value.span();
    match value.into_inner() {
        DeValue::Table(t) => Some(Spanned::new(span, t)),
        _ => None,
    }
}

#[cfg(feature = "config")]
pub(super) fn segments(path: &serde_ignored::Path<'_>) -> Vec<String> {
    use serde_ignored::Path as P;
    match path {
        P::Root => Vec::new(),
        P::Seq { parent, index } => {
            let mut keys = segments(parent);
            keys.push(index.to_string());
            keys
        }
        P::Map { parent, key } => {
            let mut keys = segments(parent);
            keys.push(key.clone());
            keys
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            segments(parent)
        }
    }
}

/// The span of the last key of `keys` (or array element) below `root`.
#[cfg(feature = "config")]
pub(super) fn key_span<S: AsRef<str>>(root: &DeTable<'_>, keys: &[S]) -> Option<Range<usize>> {
    let (first, rest) = keys.split_first()?;
    let (key, mut value) = root.get_key_value(first.as_ref())?;
    let mut span = key.span();
    for seg in rest {
        value = match value.get_ref() {
            DeValue::Table(t) => {
                let (k, v) = t.get_key_value(seg.as_ref())?;
                span = k.span();
                v
            }
            DeValue::Array(a) => {
                let v = a.get(seg.as_ref().parse::<usize>().ok()?)?;
                span = v.span();
                v
            }
            _ => return None,
        };
    }
    Some(span)
}

#[cfg(feature = "config")]
pub(crate) type Entry<'a, 'i> = (String, Range<usize>, &'a Spanned<DeValue<'i>>);

#[cfg(feature = "config")]
pub(crate) fn table_entries<'a, 'i>(table: &'a DeTable<'i>) -> Vec<Entry<'a, 'i>> {
    table
        .iter()
        .map(|(k, v)| (k.get_ref().to_string(), k.span(), v))
        .collect()
}

/// The path of the deepest key or element among `entries` whose key or value spans `pos`.
#[cfg(feature = "config")]
pub(crate) fn locate(entries: Vec<Entry<'_, '_>>, pos: usize) -> Option<Vec<String>> {
    entries.into_iter().find_map(|(seg, key, child)| {
        let below = match child.get_ref() {
            DeValue::Table(t) => table_entries(t),
            DeValue::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v.span(), v))
                .collect(),
            _ => Vec::new(),
        };
        let hit = key.contains(&pos) || child.span().contains(&pos);
        let mut path = locate(below, pos).or_else(|| hit.then(Vec::new))?;
        path.insert(0, seg);
        Some(path)
    })
}
