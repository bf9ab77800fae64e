//! One resolved configuration for every mode: the TOML file (the first of `--config`,
//! `ATUIN_BOOTSTRAP_CONFIG`, the user's config dir, `/etc`), environment variables and flags,
//! layered flag > env > file > default, remembering where each value came from.

mod layers;
pub mod schema;
mod show;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

pub use layers::{parse_duration, Flag, FlagValue, Source, Value};
pub use show::render as show;

use crate::exit::usage;
use crate::nix::narinfo::Compression;
use layers::Layers;

/// What the configuration is read from, gathered by `main`.
pub struct Inputs<'a> {
    /// `--config FILE`.
    pub config_flag: Option<PathBuf>,
    pub vars: &'a BTreeMap<String, String>,
    /// Flags of the running mode that set keys.
    pub flags: Vec<Flag>,
    /// The platform's per-user config dir for this program (`~/.config/atuin-bootstrap`).
    pub user_config_dir: Option<PathBuf>,
    /// The platform's per-user data dir for this program (`~/.local/share/atuin-bootstrap`).
    pub user_data_dir: Option<PathBuf>,
}

/// A value with its source.
#[derive(Debug, Clone)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The file read, if any.
    pub file: Option<PathBuf>,
    pub listen: Sourced<SocketAddr>,
    pub state_dir: Sourced<PathBuf>,
    pub secret_key_files: Sourced<Vec<PathBuf>>,
    pub priority: Sourced<u32>,
    pub compression: Sourced<Compression>,
    pub repo_url: Option<Sourced<String>>,
    pub repo_branch: Sourced<String>,
    pub poll_interval: Sourced<Duration>,
    pub webhook_secret_file: Option<Sourced<PathBuf>>,
    pub max_parallel_jobs: Sourced<u32>,
    pub default_targets: Sourced<Vec<String>>,
    pub keep_per_target: Sourced<u32>,
    pub client_server: Option<Sourced<String>>,
    pub client_token: Option<Sourced<String>>,
    pub client_token_file: Option<Sourced<PathBuf>>,
    pub deploy: DeploySettings,
    /// Every key as resolved, for `config show`.
    pub entries: Vec<(&'static schema::KeyDef, Option<(Value, Source)>)>,
}

/// The `[deploy]` keys: how this host takes its system from the box.
#[derive(Debug, Clone)]
pub struct DeploySettings {
    pub host: Option<Sourced<String>>,
    pub mode: Sourced<DeployMode>,
    pub interval: Sourced<Duration>,
    pub health_checks: Sourced<Vec<String>>,
    pub health_timeout: Sourced<Duration>,
    pub profile: Sourced<PathBuf>,
    pub current_system: Sourced<PathBuf>,
    /// `None`: the default, which depends on who runs the deploy (root or not).
    pub state_dir: Option<Sourced<PathBuf>>,
}

/// How a new system is activated: `switch-to-configuration MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployMode {
    /// Now, and as the boot default.
    Switch,
    /// Only as the boot default, from the next boot.
    Boot,
    /// Now, without making it the boot default.
    Test,
}

impl DeployMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DeployMode::Switch => "switch",
            DeployMode::Boot => "boot",
            DeployMode::Test => "test",
        }
    }

    pub fn parse(text: &str) -> Option<DeployMode> {
        [DeployMode::Switch, DeployMode::Boot, DeployMode::Test]
            .into_iter()
            .find(|m| m.as_str() == text)
    }
}

/// Reads and layers the configuration. Every error here is a configuration error (exit 2).
pub fn load(inputs: Inputs<'_>) -> Result<Config> {
    resolve(inputs).map_err(|e| usage(format!("{e:#}")))
}

fn resolve(inputs: Inputs<'_>) -> Result<Config> {
    layers::check_env(inputs.vars)?;
    let file = find_file(&inputs)?;
    let table = match &file {
        Some(path) => Some((path.clone(), layers::read_file(path)?)),
        None => None,
    };
    let layers = Layers {
        file: table,
        vars: inputs.vars,
        flags: &inputs.flags,
    };
    let mut entries = Vec::new();
    for key in schema::KEYS {
        entries.push((key, layers.resolve(key)?));
    }
    let get = |dotted: &str| -> Option<(Value, Source)> {
        entries
            .iter()
            .find(|(k, _)| k.dotted() == dotted)
            .and_then(|(_, v)| v.clone())
    };
    let mut config = Config {
        file,
        listen: required(get("server.listen"), "server.listen", parse_listen)?,
        state_dir: match optional(get("server.state_dir"), "server.state_dir", text_path)? {
            Some(dir) => dir,
            None => Sourced {
                value: inputs
                    .user_data_dir
                    .clone()
                    .context("no state directory: set server.state_dir (HOME is not set)")?,
                source: Source::Default,
            },
        },
        secret_key_files: required(
            get("cache.secret_key_files"),
            "cache.secret_key_files",
            |v| Ok(list(v).into_iter().map(PathBuf::from).collect()),
        )?,
        priority: required(get("cache.priority"), "cache.priority", small_count)?,
        compression: required(get("cache.compression"), "cache.compression", |v| {
            let text = text(v);
            Compression::parse(&text)
                .with_context(|| format!("expected \"none\" or \"zstd\", got {text:?}"))
        })?,
        repo_url: optional(get("repo.url"), "repo.url", |v| Ok(text(v)))?,
        repo_branch: required(get("repo.branch"), "repo.branch", |v| Ok(text(v)))?,
        poll_interval: required(get("repo.poll_interval"), "repo.poll_interval", duration)?,
        webhook_secret_file: optional(
            get("repo.webhook_secret_file"),
            "repo.webhook_secret_file",
            text_path,
        )?,
        max_parallel_jobs: required(
            get("build.max_parallel_jobs"),
            "build.max_parallel_jobs",
            small_count,
        )?,
        default_targets: required(get("build.default_targets"), "build.default_targets", |v| {
            Ok(list(v))
        })?,
        keep_per_target: required(
            get("build.keep_per_target"),
            "build.keep_per_target",
            small_count,
        )?,
        client_server: optional(get("client.server"), "client.server", |v| Ok(text(v)))?,
        client_token: optional(get("client.token"), "client.token", |v| Ok(text(v)))?,
        client_token_file: optional(get("client.token_file"), "client.token_file", text_path)?,
        deploy: DeploySettings {
            host: optional(get("deploy.host"), "deploy.host", |v| Ok(text(v)))?,
            mode: required(get("deploy.mode"), "deploy.mode", |v| {
                let text = text(v);
                DeployMode::parse(&text).with_context(|| {
                    format!("expected \"switch\", \"boot\" or \"test\", got {text:?}")
                })
            })?,
            interval: required(get("deploy.interval"), "deploy.interval", duration)?,
            health_checks: required(get("deploy.health_checks"), "deploy.health_checks", |v| {
                Ok(list(v))
            })?,
            health_timeout: required(
                get("deploy.health_timeout"),
                "deploy.health_timeout",
                duration,
            )?,
            profile: required(get("deploy.profile"), "deploy.profile", text_path)?,
            current_system: required(
                get("deploy.current_system"),
                "deploy.current_system",
                text_path,
            )?,
            state_dir: optional(get("deploy.state_dir"), "deploy.state_dir", text_path)?,
        },
        entries: Vec::new(),
    };
    if config.max_parallel_jobs.value == 0 {
        bail!("build.max_parallel_jobs must be at least 1");
    }
    config.entries = entries;
    Ok(config)
}

/// The first of `--config`, `ATUIN_BOOTSTRAP_CONFIG`, the user's file, `/etc`'s file. A file
/// named explicitly must exist; the implicit ones are skipped when missing.
fn find_file(inputs: &Inputs<'_>) -> Result<Option<PathBuf>> {
    let explicit = inputs
        .config_flag
        .clone()
        .map(|p| (p, "--config"))
        .or_else(|| {
            inputs
                .vars
                .get("ATUIN_BOOTSTRAP_CONFIG")
                .filter(|v| !v.is_empty())
                .map(|v| (PathBuf::from(v), "ATUIN_BOOTSTRAP_CONFIG"))
        });
    if let Some((path, origin)) = explicit {
        if !path.is_file() {
            bail!(
                "the config file {} (from {origin}) does not exist",
                path.display()
            );
        }
        return Ok(Some(path));
    }
    let candidates = inputs
        .user_config_dir
        .iter()
        .map(|dir| dir.join("config.toml"))
        .chain([PathBuf::from("/etc/atuin-bootstrap/config.toml")]);
    for candidate in candidates {
        if candidate.is_file() {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

fn required<T>(
    found: Option<(Value, Source)>,
    key: &str,
    convert: impl FnOnce(Value) -> Result<T>,
) -> Result<Sourced<T>> {
    optional(found, key, convert)?.with_context(|| format!("{key} has no value"))
}

fn optional<T>(
    found: Option<(Value, Source)>,
    key: &str,
    convert: impl FnOnce(Value) -> Result<T>,
) -> Result<Option<Sourced<T>>> {
    let Some((value, source)) = found else {
        return Ok(None);
    };
    let value = convert(value).with_context(|| format!("bad value for {key} from {source}"))?;
    Ok(Some(Sourced { value, source }))
}

fn text(value: Value) -> String {
    match value {
        Value::Text(s) => s,
        other => format!("{other:?}"),
    }
}

fn text_path(value: Value) -> Result<PathBuf> {
    let text = text(value);
    if text.is_empty() {
        bail!("expected a path, got an empty string");
    }
    Ok(PathBuf::from(text))
}

fn list(value: Value) -> Vec<String> {
    match value {
        Value::List(items) => items,
        Value::Text(s) => vec![s],
        _ => Vec::new(),
    }
}

fn duration(value: Value) -> Result<Duration> {
    match value {
        Value::Duration(d) => Ok(d),
        _ => bail!("expected a duration"),
    }
}

fn small_count(value: Value) -> Result<u32> {
    match value {
        Value::Count(n) => u32::try_from(n).context("number too large"),
        _ => bail!("expected a whole number"),
    }
}

fn parse_listen(value: Value) -> Result<SocketAddr> {
    let text = text(value);
    text.parse()
        .with_context(|| format!("expected an address such as 127.0.0.1:8780, got {text:?}"))
}
