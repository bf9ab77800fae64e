//! Finds each key's value in its layers — flag, environment, file, built-in default — and
//! parses it by the key's kind. Every error names the key and where its value came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::schema::{self, KeyDef, Kind};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The key's built-in default.
    Default,
    /// The config file at this path.
    File(PathBuf),
    /// This environment variable.
    Env(String),
    /// This command-line flag.
    Flag(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => write!(f, "default"),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Env(var) => write!(f, "env {var}"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// A parsed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string: `Kind::Text`.
    Text(String),
    /// A whole number: `Kind::Count`.
    Count(u64),
    /// A duration: `Kind::Duration`.
    Duration(Duration),
    /// A list of strings: `Kind::List`.
    List(Vec<String>),
    /// `true` or `false`: `Kind::Bool`.
    Bool(bool),
}

/// A value given on the command line.
#[derive(Debug, Clone)]
pub enum FlagValue {
    /// A single value, parsed by the key's kind.
    One(String),
    /// Several values: the whole list of a list key.
    Many(Vec<String>),
}

/// A command-line flag that sets a key: (the key, flag name, value).
pub type Flag = (&'static KeyDef, &'static str, FlagValue);

/// The layers of one resolution.
pub(super) struct Layers<'a> {
    pub file: Option<(PathBuf, toml::Table)>,
    pub vars: &'a BTreeMap<String, String>,
    pub flags: &'a [Flag],
}

impl Layers<'_> {
    /// The value of `key` and its source, or `None` when it is set nowhere and has no default.
    pub(super) fn resolve(&self, key: &KeyDef) -> Result<Option<(Value, Source)>> {
        let dotted = key.dotted();
        if let Some((_, flag, value)) = self.flags.iter().find(|(k, _, _)| k.is(key)) {
            let source = Source::Flag(flag.to_string());
            let value = match value {
                FlagValue::One(text) => parse_text(key, text),
                FlagValue::Many(items) => Ok(Value::List(items.clone())),
            }
            .with_context(|| format!("bad value for {dotted} from {source}"))?;
            return Ok(Some((value, source)));
        }
        let short = schema::SHORT_ENV
            .iter()
            .find(|(_, k)| k.is(key))
            .map(|(v, _)| *v);
        for var in short.into_iter().map(str::to_string).chain([key.env_var()]) {
            if let Some(text) = self.vars.get(&var) {
                let source = Source::Env(var);
                let value = parse_text(key, text)
                    .with_context(|| format!("bad value for {dotted} from {source}"))?;
                return Ok(Some((value, source)));
            }
        }
        if let Some((path, table)) = &self.file {
            let found = table
                .get(key.section)
                .and_then(|s| s.as_table())
                .and_then(|s| s.get(key.name));
            if let Some(raw) = found {
                let value = parse_toml(key, raw)
                    .with_context(|| format!("bad value for {dotted} in {}", path.display()))?;
                return Ok(Some((value, Source::File(path.clone()))));
            }
        }
        match key.default {
            Some(text) => Ok(Some((parse_text(key, text)?, Source::Default))),
            None => Ok(None),
        }
    }
}

/// Reads and checks a config file: TOML, only known sections and keys.
pub(super) fn read_file(path: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read the config file {}", path.display()))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let place = e
            .span()
            .map(|span| {
                let (line, column) = line_and_column(&text, span.start);
                format!(" at line {line}, column {column}")
            })
            .unwrap_or_default();
        anyhow::anyhow!(
            "the config file {} is not valid TOML{place}: {}",
            path.display(),
            e.message()
        )
    })?;
    for (section, content) in &table {
        let Some(keys) = content.as_table() else {
            if schema::is_section(section) {
                bail!(
                    "`{section}` in {} must be a table ([{section}])",
                    path.display()
                );
            }
            bail!(
                "unknown key `{section}` in {}{}",
                path.display(),
                did_you_mean(section, schema::KEYS.iter().map(|k| k.dotted()))
            );
        };
        if !schema::is_section(section) {
            let sections = schema::KEYS.iter().map(|k| k.section.to_string());
            let hint = closest(section, sections)
                .map(|s| format!("; did you mean `[{s}]`?"))
                .unwrap_or_default();
            bail!("unknown section `[{section}]` in {}{hint}", path.display());
        }
        for name in keys.keys() {
            if schema::find(section, name).is_none() {
                let dotted = format!("{section}.{name}");
                bail!(
                    "unknown key `{dotted}` in {}{}",
                    path.display(),
                    did_you_mean(&dotted, schema::KEYS.iter().map(|k| k.dotted()))
                );
            }
        }
    }
    Ok(table)
}

/// Environment variables that look like config keys (`ATUIN_BOOTSTRAP_X__Y`) but name none.
pub(super) fn check_env(vars: &BTreeMap<String, String>) -> Result<()> {
    for var in vars.keys() {
        let Some(rest) = var.strip_prefix("ATUIN_BOOTSTRAP_") else {
            continue;
        };
        let Some((section, name)) = rest.split_once("__") else {
            continue;
        };
        let known = schema::find(&section.to_ascii_lowercase(), &name.to_ascii_lowercase())
            .is_some_and(|k| k.env_var() == *var);
        if !known {
            bail!(
                "unknown config key in the environment variable {var}{}",
                did_you_mean(var, schema::KEYS.iter().map(|k| k.env_var()))
            );
        }
    }
    Ok(())
}

/// 1-based line and column of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// `; did you mean `x`?` for the known name closest to `given`, if any is close enough.
fn did_you_mean(given: &str, known: impl Iterator<Item = String>) -> String {
    closest(given, known)
        .map(|k| format!("; did you mean `{k}`?"))
        .unwrap_or_default()
}

/// The known name closest to `given`, when it is close enough to be a typo of it (at most two
/// edits, or a third of its length; edits counted over characters, by Levenshtein).
fn closest(given: &str, known: impl Iterator<Item = String>) -> Option<String> {
    let given_lower = given.to_ascii_lowercase();
    let (distance, name) = known
        .map(|k| {
            (
                strsim::levenshtein(&given_lower, &k.to_ascii_lowercase()),
                k,
            )
        })
        .min_by_key(|(d, _)| *d)?;
    (distance > 0 && distance <= 2.max(given.len() / 3)).then_some(name)
}

fn parse_text(key: &KeyDef, text: &str) -> Result<Value> {
    Ok(match key.kind {
        Kind::Text => Value::Text(text.to_string()),
        Kind::Count => Value::Count(
            text.trim()
                .parse()
                .with_context(|| format!("expected a whole number, got {text:?}"))?,
        ),
        Kind::Duration => Value::Duration(parse_duration(text)?),
        Kind::List => Value::List(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        Kind::Bool => Value::Bool(parse_bool(text)?),
    })
}

fn parse_bool(text: &str) -> Result<bool> {
    match text.trim() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        other => bail!("expected true or false, got {other:?}"),
    }
}

fn parse_toml(key: &KeyDef, raw: &toml::Value) -> Result<Value> {
    Ok(match (key.kind, raw) {
        (Kind::Text, toml::Value::String(s)) => Value::Text(s.clone()),
        (Kind::Count, toml::Value::Integer(n)) if *n >= 0 => Value::Count(*n as u64),
        (Kind::Duration, toml::Value::Integer(n)) if *n >= 0 => {
            Value::Duration(Duration::from_secs(*n as u64))
        }
        (Kind::Duration, toml::Value::String(s)) => Value::Duration(parse_duration(s)?),
        (Kind::List, toml::Value::Array(items)) => Value::List(
            items
                .iter()
                .map(|item| item.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .context("expected a list of strings")?,
        ),
        (Kind::Bool, toml::Value::Boolean(b)) => Value::Bool(*b),
        (Kind::Bool, _) => bail!("expected true or false"),
        (Kind::Text, _) => bail!("expected a string"),
        (Kind::Count, _) => bail!("expected a whole number"),
        (Kind::Duration, _) => bail!("expected a duration such as \"90s\", \"5m\" or 60"),
        (Kind::List, _) => bail!("expected a list of strings"),
    })
}

/// `90s`, `5m`, `1h`, `1h30m` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    let parsed = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(text).with_context(|| {
            format!("expected a duration such as \"90s\", \"5m\" or \"1h\", got {text:?}")
        })?,
    };
    // Deadlines are `now + duration`: a duration past any clock would overflow them later.
    if parsed > LONGEST_DURATION {
        bail!("{text:?} is longer than any deadline can be: at most 100 years");
    }
    Ok(parsed)
}

/// The longest duration a key takes (100 years).
const LONGEST_DURATION: Duration = Duration::from_secs(100 * 365 * 86400);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_a_suggestion_and_strangers_none() {
        let keys = || schema::KEYS.iter().map(|k| k.dotted());
        assert_eq!(
            did_you_mean("client.sevrer", keys()),
            "; did you mean `client.server`?"
        );
        assert_eq!(
            closest("cilent", schema::KEYS.iter().map(|k| k.section.to_string())).as_deref(),
            Some("client")
        );
        assert_eq!(did_you_mean("totally.different", keys()), "");
        assert_eq!(line_and_column("a = 1\nb = =\n", 10), (2, 5));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("18446744073709551615").is_err());
        assert!(parse_duration("200years").is_err());
        assert!(parse_duration("99years").is_ok());
    }

    #[test]
    fn unknown_env_keys() {
        let mut vars = BTreeMap::new();
        vars.insert("ATUIN_BOOTSTRAP_SERVER".into(), "http://x".into());
        vars.insert("ATUIN_BOOTSTRAP_SERVER__LISTEN".into(), "0.0.0.0:1".into());
        assert!(check_env(&vars).is_ok());
        vars.insert("ATUIN_BOOTSTRAP_SERVER__NOPE".into(), "1".into());
        assert!(
            check_env(&vars)
                .unwrap_err()
                .to_string()
                .contains("SERVER__NOPE")
        );
    }
}
