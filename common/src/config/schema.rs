//! Every configuration key, defined once as a constant: its section, name, kind and built-in
//! default. The file, the environment, the flags that set keys and `config show` all go by
//! these constants, so a key cannot be known to one and unknown to another, and a misspelt
//! key is a compile error.

/// How a key's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// A non-negative whole number.
    Count,
    /// `90s`, `5m`, `1h`, or a number of seconds.
    Duration,
    /// A TOML array of strings; comma-separated in the environment.
    List,
    /// `true` or `false`.
    Bool,
}

#[derive(Debug)]
pub struct KeyDef {
    pub section: &'static str,
    pub name: &'static str,
    pub kind: Kind,
    /// The built-in default as text; `None` when the key is unset by default or the default
    /// depends on the machine (state_dir).
    pub default: Option<&'static str>,
    /// Shown masked by `config show`.
    pub secret: bool,
}

impl KeyDef {
    /// The same key (keys are compared by name, not by address).
    pub fn is(&self, other: &KeyDef) -> bool {
        self.section == other.section && self.name == other.name
    }

    /// `section.name`.
    pub fn dotted(&self) -> String {
        format!("{}.{}", self.section, self.name)
    }

    /// `ATUIN_BOOTSTRAP_<SECTION>__<KEY>`.
    pub fn env_var(&self) -> String {
        format!(
            "ATUIN_BOOTSTRAP_{}__{}",
            self.section.to_ascii_uppercase(),
            self.name.to_ascii_uppercase()
        )
    }
}

const fn key(
    section: &'static str,
    name: &'static str,
    kind: Kind,
    default: Option<&'static str>,
) -> KeyDef {
    KeyDef {
        section,
        name,
        kind,
        default,
        secret: false,
    }
}

pub static SERVER_LISTEN: KeyDef = key("server", "listen", Kind::Text, Some("127.0.0.1:8780"));
pub static SERVER_STATE_DIR: KeyDef = key("server", "state_dir", Kind::Text, None);
pub static SERVER_SEND_TIMEOUT: KeyDef = key("server", "send_timeout", Kind::Duration, Some("30s"));
pub static SERVER_REQUEST_TIMEOUT: KeyDef =
    key("server", "request_timeout", Kind::Duration, Some("60s"));
pub static SERVER_MAX_CONNECTIONS: KeyDef =
    key("server", "max_connections", Kind::Count, Some("4096"));
pub static CACHE_SECRET_KEY_FILES: KeyDef = key("cache", "secret_key_files", Kind::List, Some(""));
pub static CACHE_PRIORITY: KeyDef = key("cache", "priority", Kind::Count, Some("30"));
/// Default: the machine's cores (see `config::default_nar_work`).
pub static CACHE_MAX_CONCURRENT_NARS: KeyDef =
    key("cache", "max_concurrent_nars", Kind::Count, None);
pub static CACHE_COMPRESSION: KeyDef = key("cache", "compression", Kind::Text, Some("none"));
/// `"5GiB"`, `"500MiB"`, a number of bytes; `0` keeps none. The default is also held to
/// 10 % of the disk's free space at start.
pub static CACHE_NAR_CACHE_SIZE: KeyDef = key("cache", "nar_cache_size", Kind::Text, Some("5GiB"));
/// The largest NAR an upload (`nix copy --to`) may send; same forms as `nar_cache_size`.
pub static CACHE_MAX_UPLOAD_SIZE: KeyDef =
    key("cache", "max_upload_size", Kind::Text, Some("4GiB"));
/// The largest pushed build log once decoded.
pub static CACHE_MAX_LOG_SIZE: KeyDef = key("cache", "max_log_size", Kind::Text, Some("64MiB"));
/// The largest NAR an upload may have once decompressed; same forms as `nar_cache_size`.
pub static CACHE_MAX_NAR_SIZE: KeyDef = key("cache", "max_nar_size", Kind::Text, Some("8GiB"));
/// How long a pushed path is kept after its last push.
pub static CACHE_PUSHED_TTL: KeyDef = key("cache", "pushed_ttl", Kind::Duration, Some("30d"));
pub static REPO_URL: KeyDef = key("repo", "url", Kind::Text, None);
pub static REPO_BRANCH: KeyDef = key("repo", "branch", Kind::Text, Some("main"));
pub static REPO_POLL_INTERVAL: KeyDef = key("repo", "poll_interval", Kind::Duration, Some("60s"));
/// Git credential lines (`https://user:token@host`) for fetching `repo.url`.
pub static REPO_CREDENTIALS_FILE: KeyDef = key("repo", "credentials_file", Kind::Text, None);
pub static REPO_WEBHOOK_SECRET_FILE: KeyDef = key("repo", "webhook_secret_file", Kind::Text, None);
/// Inputs of the fleet flake whose upstream is followed and built when it moves.
pub static REPO_WATCH_INPUTS: KeyDef = key("repo", "watch_inputs", Kind::List, Some(""));
pub static BUILD_MAX_PARALLEL_JOBS: KeyDef =
    key("build", "max_parallel_jobs", Kind::Count, Some("1"));
pub static BUILD_DEFAULT_TARGETS: KeyDef = key("build", "default_targets", Kind::List, Some(""));
pub static BUILD_KEEP_PER_TARGET: KeyDef = key("build", "keep_per_target", Kind::Count, Some("5"));
pub static CLIENT_SERVER: KeyDef = key("client", "server", Kind::Text, None);
/// Shown masked.
pub static CLIENT_TOKEN: KeyDef = KeyDef {
    section: "client",
    name: "token",
    kind: Kind::Text,
    default: None,
    secret: true,
};
pub static CLIENT_TOKEN_FILE: KeyDef = key("client", "token_file", Kind::Text, None);
pub static DEPLOY_HOST: KeyDef = key("deploy", "host", Kind::Text, None);
pub static DEPLOY_MODE: KeyDef = key("deploy", "mode", Kind::Text, Some("switch"));
pub static DEPLOY_INTERVAL: KeyDef = key("deploy", "interval", Kind::Duration, Some("60s"));
pub static DEPLOY_HEALTH_CHECKS: KeyDef = key("deploy", "health_checks", Kind::List, Some(""));
pub static DEPLOY_HEALTH_TIMEOUT: KeyDef =
    key("deploy", "health_timeout", Kind::Duration, Some("120s"));
pub static DEPLOY_PROFILE: KeyDef = key(
    "deploy",
    "profile",
    Kind::Text,
    Some("/nix/var/nix/profiles/system"),
);
pub static DEPLOY_CURRENT_SYSTEM: KeyDef = key(
    "deploy",
    "current_system",
    Kind::Text,
    Some("/run/current-system"),
);
pub static DEPLOY_STATE_DIR: KeyDef = key("deploy", "state_dir", Kind::Text, None);
pub static DEPLOY_ACTIVATION_TIMEOUT: KeyDef =
    key("deploy", "activation_timeout", Kind::Duration, Some("30m"));
pub static DEPLOY_ACTIVATE_WITH: KeyDef = key("deploy", "activate_with", Kind::Text, Some("auto"));
pub static DEPLOY_REBOOT: KeyDef = key("deploy", "reboot", Kind::Text, Some("never"));
pub static DEPLOY_REBOOT_WINDOW: KeyDef =
    key("deploy", "reboot_window", Kind::Text, Some("03:00-05:00"));
pub static DEPLOY_REBOOT_COMMAND: KeyDef = key(
    "deploy",
    "reboot_command",
    Kind::List,
    Some("systemctl,reboot"),
);
pub static DEPLOY_BOOTED_SYSTEM: KeyDef = key(
    "deploy",
    "booted_system",
    Kind::Text,
    Some("/run/booted-system"),
);
pub static DEPLOY_ALLOW_PUSHED: KeyDef = key("deploy", "allow_pushed", Kind::Bool, Some("false"));
pub static DEPLOY_PUBLIC_KEYS: KeyDef = key("deploy", "public_keys", Kind::List, Some(""));
/// Hosts not in the flake are forgotten this long after their last report.
pub static FLEET_FORGET_AFTER: KeyDef = key("fleet", "forget_after", Kind::Duration, Some("7d"));
pub static NOTIFY_URL: KeyDef = key("notify", "url", Kind::Text, Some(""));
pub static NOTIFY_FORMAT: KeyDef = key("notify", "format", Kind::Text, Some("json"));
pub static NOTIFY_ON: KeyDef = key(
    "notify",
    "on",
    Kind::List,
    Some("job_failed,job_recovered,host_rolled_back,publish_failing"),
);
/// Publishing to S3-compatible storage: off unless `bucket` is set (see `config::publish`).
pub static PUBLISH_ENDPOINT: KeyDef = key("publish", "endpoint", Kind::Text, None);
pub static PUBLISH_REGION: KeyDef = key("publish", "region", Kind::Text, Some("us-east-1"));
pub static PUBLISH_BUCKET: KeyDef = key("publish", "bucket", Kind::Text, None);
pub static PUBLISH_PREFIX: KeyDef = key("publish", "prefix", Kind::Text, Some(""));
pub static PUBLISH_ACCESS_KEY_FILE: KeyDef = key("publish", "access_key_file", Kind::Text, None);
pub static PUBLISH_SECRET_KEY_FILE: KeyDef = key("publish", "secret_key_file", Kind::Text, None);
pub static PUBLISH_COMPRESSION: KeyDef = key("publish", "compression", Kind::Text, Some("zstd"));
pub static PUBLISH_READ_URL: KeyDef = key("publish", "read_url", Kind::Text, None);
pub static PUBLISH_MAX_CONCURRENT: KeyDef =
    key("publish", "max_concurrent", Kind::Count, Some("8"));
/// How long publishing may fail before the `publish_failing` alert.
pub static PUBLISH_ALERT_AFTER: KeyDef = key("publish", "alert_after", Kind::Duration, Some("30m"));
/// How long a NAR stays in the bucket after its narinfo left it.
pub static PUBLISH_NAR_GRACE: KeyDef = key("publish", "nar_grace", Kind::Duration, Some("1h"));

/// Every key, in the order `config show` lists them.
pub static KEYS: &[&KeyDef] = &[
    &SERVER_LISTEN,
    &SERVER_STATE_DIR,
    &SERVER_SEND_TIMEOUT,
    &SERVER_REQUEST_TIMEOUT,
    &SERVER_MAX_CONNECTIONS,
    &CACHE_SECRET_KEY_FILES,
    &CACHE_PRIORITY,
    &CACHE_COMPRESSION,
    &CACHE_MAX_CONCURRENT_NARS,
    &CACHE_NAR_CACHE_SIZE,
    &CACHE_MAX_UPLOAD_SIZE,
    &CACHE_MAX_LOG_SIZE,
    &CACHE_MAX_NAR_SIZE,
    &CACHE_PUSHED_TTL,
    &REPO_URL,
    &REPO_BRANCH,
    &REPO_POLL_INTERVAL,
    &REPO_CREDENTIALS_FILE,
    &REPO_WEBHOOK_SECRET_FILE,
    &REPO_WATCH_INPUTS,
    &BUILD_MAX_PARALLEL_JOBS,
    &BUILD_DEFAULT_TARGETS,
    &BUILD_KEEP_PER_TARGET,
    &CLIENT_SERVER,
    &CLIENT_TOKEN,
    &CLIENT_TOKEN_FILE,
    &DEPLOY_HOST,
    &DEPLOY_MODE,
    &DEPLOY_INTERVAL,
    &DEPLOY_HEALTH_CHECKS,
    &DEPLOY_HEALTH_TIMEOUT,
    &DEPLOY_PROFILE,
    &DEPLOY_CURRENT_SYSTEM,
    &DEPLOY_STATE_DIR,
    &DEPLOY_ACTIVATION_TIMEOUT,
    &DEPLOY_ACTIVATE_WITH,
    &DEPLOY_REBOOT,
    &DEPLOY_REBOOT_WINDOW,
    &DEPLOY_REBOOT_COMMAND,
    &DEPLOY_BOOTED_SYSTEM,
    &DEPLOY_ALLOW_PUSHED,
    &DEPLOY_PUBLIC_KEYS,
    &FLEET_FORGET_AFTER,
    &NOTIFY_URL,
    &NOTIFY_FORMAT,
    &NOTIFY_ON,
    &PUBLISH_ENDPOINT,
    &PUBLISH_REGION,
    &PUBLISH_BUCKET,
    &PUBLISH_PREFIX,
    &PUBLISH_ACCESS_KEY_FILE,
    &PUBLISH_SECRET_KEY_FILE,
    &PUBLISH_COMPRESSION,
    &PUBLISH_READ_URL,
    &PUBLISH_MAX_CONCURRENT,
    &PUBLISH_ALERT_AFTER,
    &PUBLISH_NAR_GRACE,
];

pub fn find(section: &str, name: &str) -> Option<&'static KeyDef> {
    KEYS.iter()
        .copied()
        .find(|k| k.section == section && k.name == name)
}

pub fn is_section(section: &str) -> bool {
    KEYS.iter().any(|k| k.section == section)
}

/// Short environment forms that win over their long forms.
pub static SHORT_ENV: &[(&str, &KeyDef)] = &[
    ("ATUIN_BOOTSTRAP_SERVER", &CLIENT_SERVER),
    ("ATUIN_BOOTSTRAP_TOKEN", &CLIENT_TOKEN),
];
