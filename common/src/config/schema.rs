//! Every configuration key, defined once as a constant: its section, name, kind and built-in
//! default. The file, the environment, the flags that set keys and `config show` all go by
//! these constants, so a key cannot be known to one and unknown to another, and a misspelt
//! key is a compile error.

/// How a key's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any string, taken as written.
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

/// One configuration key: where it lives, how it is written, its default.
#[derive(Debug)]
pub struct KeyDef {
    /// The TOML section (`server`, `cache`, …).
    pub section: &'static str,
    /// The key's name inside its section.
    pub name: &'static str,
    /// How the value is written (and parsed).
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

/// `server.listen`: the address of the API, the cache and the pages.
pub static SERVER_LISTEN: KeyDef = key("server", "listen", Kind::Text, Some("127.0.0.1:8780"));
/// `server.state_dir`: jobs, logs, GC roots, tokens, the mirror, the key; default the data dir.
pub static SERVER_STATE_DIR: KeyDef = key("server", "state_dir", Kind::Text, None);
/// `server.send_timeout`: a client that takes nothing of a response this long is dropped.
pub static SERVER_SEND_TIMEOUT: KeyDef = key("server", "send_timeout", Kind::Duration, Some("30s"));
/// `server.request_timeout`: the longest a request's headers (at most 30 s) and body may take.
pub static SERVER_REQUEST_TIMEOUT: KeyDef =
    key("server", "request_timeout", Kind::Duration, Some("60s"));
/// `server.max_connections`: connections served at once; more wait in the kernel's backlog.
pub static SERVER_MAX_CONNECTIONS: KeyDef =
    key("server", "max_connections", Kind::Count, Some("4096"));
/// `cache.secret_key_files`: Nix secret keys the cache signs with; empty: a key is generated.
pub static CACHE_SECRET_KEY_FILES: KeyDef = key("cache", "secret_key_files", Kind::List, Some(""));
/// `cache.priority`: the `Priority` announced in `/nix-cache-info`.
pub static CACHE_PRIORITY: KeyDef = key("cache", "priority", Kind::Count, Some("30"));
/// Default: the machine's cores (see `config::default_nar_work`).
pub static CACHE_MAX_CONCURRENT_NARS: KeyDef =
    key("cache", "max_concurrent_nars", Kind::Count, None);
/// `cache.compression`: `none`, or `zstd` to compress NARs on the fly.
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
/// `repo.url`: the fleet flake, a git URL or a local path; unset by default.
pub static REPO_URL: KeyDef = key("repo", "url", Kind::Text, None);
/// `repo.branch`: the branch of the fleet flake to watch.
pub static REPO_BRANCH: KeyDef = key("repo", "branch", Kind::Text, Some("main"));
/// `repo.poll_interval`: how often the fleet flake is fetched.
pub static REPO_POLL_INTERVAL: KeyDef = key("repo", "poll_interval", Kind::Duration, Some("60s"));
/// Git credential lines (`https://user:token@host`) for fetching `repo.url`.
pub static REPO_CREDENTIALS_FILE: KeyDef = key("repo", "credentials_file", Kind::Text, None);
/// `repo.webhook_secret_file`: the HMAC-SHA256 secret of the webhooks; unset: webhooks off.
pub static REPO_WEBHOOK_SECRET_FILE: KeyDef = key("repo", "webhook_secret_file", Kind::Text, None);
/// Inputs of the fleet flake whose upstream is followed and built when it moves.
pub static REPO_WATCH_INPUTS: KeyDef = key("repo", "watch_inputs", Kind::List, Some(""));
/// `build.max_parallel_jobs`: jobs built at once.
pub static BUILD_MAX_PARALLEL_JOBS: KeyDef =
    key("build", "max_parallel_jobs", Kind::Count, Some("1"));
/// `build.default_targets`: the targets of a job that names none; empty: every host.
pub static BUILD_DEFAULT_TARGETS: KeyDef = key("build", "default_targets", Kind::List, Some(""));
/// `build.keep_per_target`: successful builds kept as GC roots per target.
pub static BUILD_KEEP_PER_TARGET: KeyDef = key("build", "keep_per_target", Kind::Count, Some("5"));
/// `client.server`: the server's URL the clients talk to.
pub static CLIENT_SERVER: KeyDef = key("client", "server", Kind::Text, None);
/// `client.token`: the API token the clients send; shown masked.
pub static CLIENT_TOKEN: KeyDef = KeyDef {
    section: "client",
    name: "token",
    kind: Kind::Text,
    default: None,
    secret: true,
};
/// `client.token_file`: a file holding the API token, read when `client.token` is unset.
pub static CLIENT_TOKEN_FILE: KeyDef = key("client", "token_file", Kind::Text, None);
/// `deploy.host`: this host's name in `nixosConfigurations`; default the machine's host name.
pub static DEPLOY_HOST: KeyDef = key("deploy", "host", Kind::Text, None);
/// `deploy.mode`: `switch`, `boot` or `test`.
pub static DEPLOY_MODE: KeyDef = key("deploy", "mode", Kind::Text, Some("switch"));
/// `deploy.interval`: how often `deploy --watch` asks the box.
pub static DEPLOY_INTERVAL: KeyDef = key("deploy", "interval", Kind::Duration, Some("60s"));
/// `deploy.health_checks`: checks that must pass after activation when the new system carries none.
pub static DEPLOY_HEALTH_CHECKS: KeyDef = key("deploy", "health_checks", Kind::List, Some(""));
/// `deploy.health_timeout`: the time every check (and the box) has to pass after activation.
pub static DEPLOY_HEALTH_TIMEOUT: KeyDef =
    key("deploy", "health_timeout", Kind::Duration, Some("120s"));
/// `deploy.profile`: the system profile the agent moves.
pub static DEPLOY_PROFILE: KeyDef = key(
    "deploy",
    "profile",
    Kind::Text,
    Some("/nix/var/nix/profiles/system"),
);
/// `deploy.current_system`: the link to the system that runs now.
pub static DEPLOY_CURRENT_SYSTEM: KeyDef = key(
    "deploy",
    "current_system",
    Kind::Text,
    Some("/run/current-system"),
);
/// `deploy.state_dir`: the agent's lock, failed paths, last target, unsent reports.
pub static DEPLOY_STATE_DIR: KeyDef = key("deploy", "state_dir", Kind::Text, None);
/// `deploy.activation_timeout`: the longest `switch-to-configuration` may run (then killed).
pub static DEPLOY_ACTIVATION_TIMEOUT: KeyDef =
    key("deploy", "activation_timeout", Kind::Duration, Some("30m"));
/// `deploy.activate_with`: how `switch-to-configuration` is started (`auto`, `systemd-run`, …).
pub static DEPLOY_ACTIVATE_WITH: KeyDef = key("deploy", "activate_with", Kind::Text, Some("auto"));
/// `deploy.reboot`: `never` (report `reboot_needed`) or `window` (reboot inside `reboot_window`).
pub static DEPLOY_REBOOT: KeyDef = key("deploy", "reboot", Kind::Text, Some("never"));
/// `deploy.reboot_window`: the local time span a reboot may happen in; may cross midnight.
pub static DEPLOY_REBOOT_WINDOW: KeyDef =
    key("deploy", "reboot_window", Kind::Text, Some("03:00-05:00"));
/// `deploy.reboot_command`: the command the agent reboots with.
pub static DEPLOY_REBOOT_COMMAND: KeyDef = key(
    "deploy",
    "reboot_command",
    Kind::List,
    Some("systemctl,reboot"),
);
/// `deploy.booted_system`: the booted system, compared to tell whether a reboot is needed.
pub static DEPLOY_BOOTED_SYSTEM: KeyDef = key(
    "deploy",
    "booted_system",
    Kind::Text,
    Some("/run/booted-system"),
);
/// `deploy.allow_pushed`: take a target whose closure holds paths that came by push.
pub static DEPLOY_ALLOW_PUSHED: KeyDef = key("deploy", "allow_pushed", Kind::Bool, Some("false"));
/// `deploy.public_keys`: the only keys a download trusts; empty: the build keys the box announces.
pub static DEPLOY_PUBLIC_KEYS: KeyDef = key("deploy", "public_keys", Kind::List, Some(""));
/// Hosts not in the flake are forgotten this long after their last report.
pub static FLEET_FORGET_AFTER: KeyDef = key("fleet", "forget_after", Kind::Duration, Some("7d"));
/// `notify.url`: where alerts are `POST`ed; empty: no alerts.
pub static NOTIFY_URL: KeyDef = key("notify", "url", Kind::Text, Some(""));
/// `notify.format`: `json` or `ntfy`, the shape of an alert.
pub static NOTIFY_FORMAT: KeyDef = key("notify", "format", Kind::Text, Some("json"));
/// `notify.on`: the events that send an alert.
pub static NOTIFY_ON: KeyDef = key(
    "notify",
    "on",
    Kind::List,
    Some("job_failed,job_recovered,host_rolled_back,publish_failing"),
);
/// `publish.endpoint`: the S3 API's URL. Publishing to S3-compatible storage is off unless
/// `bucket` is set (see `config::publish`).
pub static PUBLISH_ENDPOINT: KeyDef = key("publish", "endpoint", Kind::Text, None);
/// `publish.region`: the S3 region (`garage` for Garage, `auto` for R2).
pub static PUBLISH_REGION: KeyDef = key("publish", "region", Kind::Text, Some("us-east-1"));
/// `publish.bucket`: the S3 bucket the cache is published to; unset: publishing off.
pub static PUBLISH_BUCKET: KeyDef = key("publish", "bucket", Kind::Text, None);
/// `publish.prefix`: put before every key in the bucket.
pub static PUBLISH_PREFIX: KeyDef = key("publish", "prefix", Kind::Text, Some(""));
/// `publish.access_key_file`: the file holding the S3 access key id.
pub static PUBLISH_ACCESS_KEY_FILE: KeyDef = key("publish", "access_key_file", Kind::Text, None);
/// `publish.secret_key_file`: the file holding the S3 secret key.
pub static PUBLISH_SECRET_KEY_FILE: KeyDef = key("publish", "secret_key_file", Kind::Text, None);
/// `publish.compression`: `zstd`, `xz` or `none` for the published NARs.
pub static PUBLISH_COMPRESSION: KeyDef = key("publish", "compression", Kind::Text, Some("zstd"));
/// `publish.read_url`: the HTTP URL hosts read the bucket at; announced in the status.
pub static PUBLISH_READ_URL: KeyDef = key("publish", "read_url", Kind::Text, None);
/// `publish.max_concurrent`: uploads to the bucket at once.
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

/// The key `section.name`, or `None` when there is no such key.
pub fn find(section: &str, name: &str) -> Option<&'static KeyDef> {
    KEYS.iter()
        .copied()
        .find(|k| k.section == section && k.name == name)
}

/// Whether any key lives in `section`, i.e. it is a known section.
pub fn is_section(section: &str) -> bool {
    KEYS.iter().any(|k| k.section == section)
}

/// Short environment forms that win over their long forms.
pub static SHORT_ENV: &[(&str, &KeyDef)] = &[
    ("ATUIN_BOOTSTRAP_SERVER", &CLIENT_SERVER),
    ("ATUIN_BOOTSTRAP_TOKEN", &CLIENT_TOKEN),
];
