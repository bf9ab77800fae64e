//! One resolved configuration for every mode: the TOML file (the first of `--config`,
//! `ATUIN_BOOTSTRAP_CONFIG`, the user's config dir, `/etc`), environment variables and flags,
//! layered flag > env > file > default, remembering where each value came from.

mod found;
#[cfg(test)]
mod fuzz;
mod layers;
mod notify;
mod publish;
pub mod schema;
pub mod show;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

pub use found::Sourced;
pub use layers::{Flag, FlagValue, Source, Value, parse_duration};
pub use notify::{NotifyEvent, NotifyFormat, NotifySettings};
pub use publish::{PublishCompression, PublishSettings};

use crate::exit::usage;
use found::{
    Entry, Found, at_least_one, duration, list, positive_duration, small_count, text, text_path,
};
use layers::Layers;
use nix_core::narinfo::Compression;

/// What the configuration is read from, gathered by `main`.
pub struct Inputs<'a> {
    /// `--config FILE`.
    pub config_flag: Option<PathBuf>,
    /// The process environment, `ATUIN_BOOTSTRAP_*` variables included.
    pub vars: &'a BTreeMap<String, String>,
    /// Flags of the running mode that set keys.
    pub flags: Vec<Flag>,
    /// The platform's per-user config dir for this program (`~/.config/atuin-bootstrap`).
    pub user_config_dir: Option<PathBuf>,
    /// The platform's per-user data dir for this program (`~/.local/share/atuin-bootstrap`).
    pub user_data_dir: Option<PathBuf>,
}

/// Every key resolved: what each mode of the binary runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file read, if any.
    pub file: Option<PathBuf>,
    /// `server.listen`: the address of the API, the cache and the pages.
    pub listen: Sourced<SocketAddr>,
    /// `server.state_dir`: jobs, logs, GC roots, tokens, the key; default the user's data dir.
    pub state_dir: Sourced<PathBuf>,
    /// A reader that takes nothing for this long is dropped.
    pub send_timeout: Sourced<Duration>,
    /// The longest a request's body may take to arrive (an upload's: per 64 MiB); its headers
    /// get as long, at most 30 s.
    pub request_timeout: Sourced<Duration>,
    /// `server.max_connections`: connections served at once.
    pub max_connections: Sourced<u32>,
    /// NARs being made at once (the work, not the connections).
    pub max_concurrent_nars: Sourced<u32>,
    /// `cache.secret_key_files`: Nix secret keys to sign with; empty: a key is generated.
    pub secret_key_files: Sourced<Vec<PathBuf>>,
    /// `cache.priority`: the `Priority` in `/nix-cache-info`.
    pub priority: Sourced<u32>,
    /// `cache.compression`: how the cache's NARs are served (none or zstd).
    pub compression: Sourced<Compression>,
    /// Bytes of NARs kept on disk at most.
    pub nar_cache_size: Sourced<u64>,
    /// Bytes one uploaded NAR may have at most.
    pub max_upload_size: Sourced<u64>,
    /// Bytes one pushed build log may have at most once decoded.
    pub max_log_size: Sourced<u64>,
    /// Bytes one uploaded NAR may have at most once decompressed.
    pub max_nar_size: Sourced<u64>,
    /// How long a pushed path is kept after its last push.
    pub pushed_ttl: Sourced<Duration>,
    /// `repo.url`: the fleet flake (git URL or local path); `None` when unset.
    pub repo_url: Option<Sourced<String>>,
    /// `repo.branch`: the branch watched.
    pub repo_branch: Sourced<String>,
    /// `repo.poll_interval`: how often the fleet flake is fetched.
    pub poll_interval: Sourced<Duration>,
    /// Credentials for fetching `repo.url`, kept out of the URL.
    pub repo_credentials_file: Option<Sourced<PathBuf>>,
    /// `repo.webhook_secret_file`: the webhooks' HMAC secret; `None`: webhooks off.
    pub webhook_secret_file: Option<Sourced<PathBuf>>,
    /// Inputs of the fleet flake followed upstream and built when they move.
    pub watch_inputs: Sourced<Vec<String>>,
    /// `build.max_parallel_jobs`: jobs built at once (at least 1).
    pub max_parallel_jobs: Sourced<u32>,
    /// `build.default_targets`: targets of a job that names none; empty: every host.
    pub default_targets: Sourced<Vec<String>>,
    /// `build.keep_per_target`: successful builds kept as GC roots per target.
    pub keep_per_target: Sourced<u32>,
    /// `client.server`: the server's URL the clients talk to; `None` when unset.
    pub client_server: Option<Sourced<String>>,
    /// `client.token`: the API token; `None` when unset.
    pub client_token: Option<Sourced<String>>,
    /// `client.token_file`: a file holding the token, read when `client.token` is unset.
    pub client_token_file: Option<Sourced<PathBuf>>,
    /// The `[deploy]` keys.
    pub deploy: DeploySettings,
    /// Hosts not in the flake are forgotten this long after their last report.
    pub forget_after: Sourced<Duration>,
    /// The `[notify]` keys: where alerts go and for which events.
    pub notify: NotifySettings,
    /// `[publish]`: `None` unless `publish.bucket` is set.
    pub publish: Option<PublishSettings>,
    /// Every key as resolved, for `config show`.
    pub entries: Vec<Entry>,
}

/// The `[deploy]` keys: how this host takes its system from the box.
#[derive(Debug, Clone)]
pub struct DeploySettings {
    /// `deploy.host`: this host in `nixosConfigurations`; `None`: the machine's host name.
    pub host: Option<Sourced<String>>,
    /// `deploy.mode`: how a new system is activated.
    pub mode: Sourced<DeployMode>,
    /// `deploy.interval`: how often `deploy --watch` asks the box.
    pub interval: Sourced<Duration>,
    /// `deploy.health_checks`: checks run after activation when the system carries none.
    pub health_checks: Sourced<Vec<String>>,
    /// `deploy.health_timeout`: time for the checks (and the box) to pass after activation.
    pub health_timeout: Sourced<Duration>,
    /// `deploy.profile`: the system profile moved to a new system.
    pub profile: Sourced<PathBuf>,
    /// `deploy.current_system`: the link to what runs now.
    pub current_system: Sourced<PathBuf>,
    /// `None`: the default, which depends on who runs the deploy (root or not).
    pub state_dir: Option<Sourced<PathBuf>>,
    /// `deploy.activation_timeout`: the longest `switch-to-configuration` may run.
    pub activation_timeout: Sourced<Duration>,
    /// `deploy.activate_with`: how `switch-to-configuration` is started.
    pub activate_with: Sourced<ActivateWith>,
    /// `deploy.reboot`: whether the agent reboots into a system that needs it.
    pub reboot: Sourced<RebootPolicy>,
    /// `(start, end)` in minutes after local midnight; equal ends: any time.
    pub reboot_window: Sourced<(u32, u32)>,
    /// `deploy.reboot_command`: the command the agent reboots with (never empty).
    pub reboot_command: Sourced<Vec<String>>,
    /// `deploy.booted_system`: the link to what the machine booted, for kernel/initrd comparison.
    pub booted_system: Sourced<PathBuf>,
    /// `deploy.allow_pushed`: take a target whose closure holds pushed paths.
    pub allow_pushed: Sourced<bool>,
    /// Empty: the build keys the box announces.
    pub public_keys: Sourced<Vec<String>>,
}

/// How `switch-to-configuration` is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivateWith {
    /// `systemd-run` when systemd runs the machine, else `process`.
    Auto,
    /// A transient unit, as nixos-rebuild starts it.
    SystemdRun,
    /// A child in its own session that outlives the agent.
    Process,
}

impl ActivateWith {
    /// The key's text (`auto`, `systemd-run`, `process`); `None` for anything else.
    pub fn parse(text: &str) -> Option<ActivateWith> {
        match text {
            "auto" => Some(ActivateWith::Auto),
            "systemd-run" => Some(ActivateWith::SystemdRun),
            "process" => Some(ActivateWith::Process),
            _ => None,
        }
    }
}

/// Whether the agent reboots into a system that needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebootPolicy {
    /// `never`: report `reboot_needed` and leave the reboot to someone else.
    Never,
    /// `window`: reboot inside `deploy.reboot_window`.
    Window,
}

/// `"03:00-05:00"` as minutes after midnight.
pub fn parse_window(text: &str) -> Option<(u32, u32)> {
    let minutes = |hm: &str| -> Option<u32> {
        let (h, m) = hm.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60 && hm.trim().len() == 5).then_some(h * 60 + m)
    };
    let (start, end) = text.split_once('-')?;
    Some((minutes(start)?, minutes(end)?))
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
    /// The key's text and `switch-to-configuration`'s argument: `switch`, `boot` or `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeployMode::Switch => "switch",
            DeployMode::Boot => "boot",
            DeployMode::Test => "test",
        }
    }

    /// The mode named `text`; `None` for anything else.
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
    for key in schema::KEYS.iter().copied() {
        entries.push((key, layers.resolve(key)?));
    }
    let found = Found { entries: &entries };
    let mut config = Config {
        file,
        listen: found.required(&schema::SERVER_LISTEN, parse_listen)?,
        state_dir: match found.optional(&schema::SERVER_STATE_DIR, text_path)? {
            Some(dir) => dir,
            None => Sourced {
                value: inputs
                    .user_data_dir
                    .clone()
                    .context("no state directory: set server.state_dir (HOME is not set)")?,
                source: Source::Default,
            },
        },
        send_timeout: found.required(&schema::SERVER_SEND_TIMEOUT, positive_duration)?,
        request_timeout: found.required(&schema::SERVER_REQUEST_TIMEOUT, positive_duration)?,
        max_connections: found.required(&schema::SERVER_MAX_CONNECTIONS, at_least_one)?,
        max_concurrent_nars: match found
            .optional(&schema::CACHE_MAX_CONCURRENT_NARS, at_least_one)?
        {
            Some(set) => set,
            None => Sourced {
                value: default_nar_work(),
                source: Source::Default,
            },
        },
        secret_key_files: found.required(&schema::CACHE_SECRET_KEY_FILES, |v| {
            Ok(list(v).into_iter().map(PathBuf::from).collect())
        })?,
        priority: found.required(&schema::CACHE_PRIORITY, small_count)?,
        compression: found.required(&schema::CACHE_COMPRESSION, |v| {
            let text = text(v);
            Compression::parse(&text)
                .with_context(|| format!("expected \"none\" or \"zstd\", got {text:?}"))
        })?,
        nar_cache_size: found.required(&schema::CACHE_NAR_CACHE_SIZE, |v| {
            let text = text(v);
            parse_size(&text).with_context(|| {
                format!("expected a size such as \"5GiB\", \"500MiB\" or bytes, got {text:?}")
            })
        })?,
        max_upload_size: found.required(&schema::CACHE_MAX_UPLOAD_SIZE, |v| {
            let text = text(v);
            parse_size(&text).filter(|n| *n > 0).with_context(|| {
                format!("expected a size above zero such as \"4GiB\" or \"500MiB\", got {text:?}")
            })
        })?,
        max_log_size: found.required(&schema::CACHE_MAX_LOG_SIZE, |v| {
            let text = text(v);
            parse_size(&text).filter(|n| *n > 0).with_context(|| {
                format!("expected a size above zero such as \"64MiB\", got {text:?}")
            })
        })?,
        max_nar_size: found.required(&schema::CACHE_MAX_NAR_SIZE, |v| {
            let text = text(v);
            parse_size(&text).filter(|n| *n > 0).with_context(|| {
                format!("expected a size above zero such as \"8GiB\" or \"500MiB\", got {text:?}")
            })
        })?,
        pushed_ttl: found.required(&schema::CACHE_PUSHED_TTL, positive_duration)?,
        repo_url: found.optional(&schema::REPO_URL, |v| Ok(text(v)))?,
        repo_branch: found.required(&schema::REPO_BRANCH, |v| Ok(text(v)))?,
        poll_interval: found.required(&schema::REPO_POLL_INTERVAL, duration)?,
        repo_credentials_file: found.optional(&schema::REPO_CREDENTIALS_FILE, text_path)?,
        webhook_secret_file: found.optional(&schema::REPO_WEBHOOK_SECRET_FILE, text_path)?,
        watch_inputs: found.required(&schema::REPO_WATCH_INPUTS, |v| {
            let names = list(v);
            match names.iter().find(|name| !is_input_name(name)) {
                Some(bad) => anyhow::bail!(
                    "{bad:?} is not the name of a flake input (letters, digits, '-' and '_')"
                ),
                None => Ok(names),
            }
        })?,
        max_parallel_jobs: found.required(&schema::BUILD_MAX_PARALLEL_JOBS, small_count)?,
        default_targets: found.required(&schema::BUILD_DEFAULT_TARGETS, |v| Ok(list(v)))?,
        keep_per_target: found.required(&schema::BUILD_KEEP_PER_TARGET, small_count)?,
        client_server: found.optional(&schema::CLIENT_SERVER, |v| Ok(text(v)))?,
        client_token: found.optional(&schema::CLIENT_TOKEN, |v| Ok(text(v)))?,
        client_token_file: found.optional(&schema::CLIENT_TOKEN_FILE, text_path)?,
        deploy: DeploySettings {
            host: found.optional(&schema::DEPLOY_HOST, |v| Ok(text(v)))?,
            mode: found.required(&schema::DEPLOY_MODE, |v| {
                let text = text(v);
                DeployMode::parse(&text).with_context(|| {
                    format!("expected \"switch\", \"boot\" or \"test\", got {text:?}")
                })
            })?,
            interval: found.required(&schema::DEPLOY_INTERVAL, duration)?,
            health_checks: found.required(&schema::DEPLOY_HEALTH_CHECKS, |v| Ok(list(v)))?,
            health_timeout: found.required(&schema::DEPLOY_HEALTH_TIMEOUT, duration)?,
            profile: found.required(&schema::DEPLOY_PROFILE, text_path)?,
            current_system: found.required(&schema::DEPLOY_CURRENT_SYSTEM, text_path)?,
            state_dir: found.optional(&schema::DEPLOY_STATE_DIR, text_path)?,
            activation_timeout: found
                .required(&schema::DEPLOY_ACTIVATION_TIMEOUT, positive_duration)?,
            activate_with: found.required(&schema::DEPLOY_ACTIVATE_WITH, |v| {
                let text = text(v);
                ActivateWith::parse(&text).with_context(|| {
                    format!("expected \"auto\", \"systemd-run\" or \"process\", got {text:?}")
                })
            })?,
            reboot: found.required(&schema::DEPLOY_REBOOT, |v| match text(v).as_str() {
                "never" => Ok(RebootPolicy::Never),
                "window" => Ok(RebootPolicy::Window),
                other => bail!("expected \"never\" or \"window\", got {other:?}"),
            })?,
            reboot_window: found.required(&schema::DEPLOY_REBOOT_WINDOW, |v| {
                let text = text(v);
                parse_window(&text).with_context(|| {
                    format!("expected a time span such as \"03:00-05:00\", got {text:?}")
                })
            })?,
            reboot_command: found.required(&schema::DEPLOY_REBOOT_COMMAND, |v| {
                let command = list(v);
                if command.is_empty() {
                    bail!("expected a command, such as [\"systemctl\", \"reboot\"]");
                }
                Ok(command)
            })?,
            booted_system: found.required(&schema::DEPLOY_BOOTED_SYSTEM, text_path)?,
            allow_pushed: found.required(&schema::DEPLOY_ALLOW_PUSHED, |v| match v {
                Value::Bool(b) => Ok(b),
                _ => bail!("expected true or false"),
            })?,
            public_keys: found.required(&schema::DEPLOY_PUBLIC_KEYS, |v| Ok(list(v)))?,
        },
        forget_after: found.required(&schema::FLEET_FORGET_AFTER, positive_duration)?,
        notify: NotifySettings {
            url: found
                .required(&schema::NOTIFY_URL, |v| notify::parse_url(text(v)))?
                .transpose(),
            format: found.required(&schema::NOTIFY_FORMAT, |v| NotifyFormat::parse(&text(v)))?,
            on: found.required(&schema::NOTIFY_ON, |v| {
                list(v).iter().map(|e| NotifyEvent::parse(e)).collect()
            })?,
        },
        publish: None,
        entries: Vec::new(),
    };
    config.publish = publish::resolve(&found)?;
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

/// A flake input's name: letters, digits, `-` and `_` (it also names a mirror's directory).
pub fn is_input_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `5GiB`, `500MiB`, `64KiB`, `2GB`, `1048576` (bytes): binary or decimal units.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        "TiB" | "T" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => return None,
    };
    number.checked_mul(factor)
}

/// NARs made at once by default: one per core, so making them keeps every core busy while
/// the async workers that answer the API and narinfos always find a core soon.
pub fn default_nar_work() -> u32 {
    std::thread::available_parallelism().map_or(2, |n| n.get() as u32)
}

fn parse_listen(value: Value) -> Result<SocketAddr> {
    let text = text(value);
    text.parse()
        .with_context(|| format!("expected an address such as 127.0.0.1:8780, got {text:?}"))
}
