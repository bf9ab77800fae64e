//! The values found for the keys, read by key, and their conversion from the layers' raw
//! `Value` to what `Config` holds, each failure naming the key and where its value came from.
//! Used by every part of the configuration (`mod.rs`, `notify.rs`, `publish.rs`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::layers::{Source, Value};
use super::schema;

/// A value with its source.
#[derive(Debug, Clone)]
pub struct Sourced<T> {
    /// The resolved value.
    pub value: T,
    /// Where the value came from: flag, environment, file or default.
    pub source: Source,
}

impl<T> Sourced<Option<T>> {
    /// `None` when the value is; else the value with its source.
    pub fn transpose(self) -> Option<Sourced<T>> {
        let source = self.source;
        self.value.map(|value| Sourced { value, source })
    }
}

/// Every key's resolved value, read by key.
pub(super) struct Found<'a> {
    pub(super) entries: &'a [Entry],
}

pub(super) type Entry = (&'static schema::KeyDef, Option<(Value, Source)>);

impl Found<'_> {
    pub(super) fn required<T>(
        &self,
        key: &schema::KeyDef,
        convert: impl FnOnce(Value) -> Result<T>,
    ) -> Result<Sourced<T>> {
        self.optional(key, convert)?
            .with_context(|| format!("{} has no value", key.dotted()))
    }

    pub(super) fn optional<T>(
        &self,
        key: &schema::KeyDef,
        convert: impl FnOnce(Value) -> Result<T>,
    ) -> Result<Option<Sourced<T>>> {
        let found = self
            .entries
            .iter()
            .find(|(k, _)| k.is(key))
            .and_then(|(_, v)| v.clone());
        let Some((value, source)) = found else {
            return Ok(None);
        };
        let value = convert(value)
            .with_context(|| format!("bad value for {} from {source}", key.dotted()))?;
        Ok(Some(Sourced { value, source }))
    }
}

pub(super) fn text(value: Value) -> String {
    match value {
        Value::Text(s) => s,
        other => format!("{other:?}"),
    }
}

pub(super) fn text_path(value: Value) -> Result<PathBuf> {
    let text = text(value);
    if text.is_empty() {
        bail!("expected a path, got an empty string");
    }
    Ok(PathBuf::from(text))
}

pub(super) fn list(value: Value) -> Vec<String> {
    match value {
        Value::List(items) => items,
        Value::Text(s) => vec![s],
        _ => Vec::new(),
    }
}

pub(super) fn positive_duration(value: Value) -> Result<Duration> {
    let d = duration(value)?;
    if d.is_zero() {
        bail!("must be more than zero");
    }
    Ok(d)
}

pub(super) fn at_least_one(value: Value) -> Result<u32> {
    let n = small_count(value)?;
    if n == 0 {
        bail!("must be at least 1");
    }
    Ok(n)
}

pub(super) fn duration(value: Value) -> Result<Duration> {
    match value {
        Value::Duration(d) => Ok(d),
        _ => bail!("expected a duration"),
    }
}

pub(super) fn small_count(value: Value) -> Result<u32> {
    match value {
        Value::Count(n) => u32::try_from(n).context("number too large"),
        _ => bail!("expected a whole number"),
    }
}
