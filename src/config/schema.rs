//! Every configuration key: its section, name, kind and built-in default. The file, the
//! environment and `config show` all go by this one table, so a key cannot be known to one
//! and unknown to another.

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

pub const KEYS: &[KeyDef] = &[
    key("server", "listen", Kind::Text, Some("127.0.0.1:8780")),
    key("server", "state_dir", Kind::Text, None),
    key("cache", "secret_key_files", Kind::List, Some("")),
    key("cache", "priority", Kind::Count, Some("30")),
    key("cache", "compression", Kind::Text, Some("none")),
    key("repo", "url", Kind::Text, None),
    key("repo", "branch", Kind::Text, Some("main")),
    key("repo", "poll_interval", Kind::Duration, Some("60s")),
    key("repo", "webhook_secret_file", Kind::Text, None),
    key("build", "max_parallel_jobs", Kind::Count, Some("1")),
    key("build", "default_targets", Kind::List, Some("")),
    key("build", "keep_per_target", Kind::Count, Some("5")),
    key("client", "server", Kind::Text, None),
    KeyDef {
        section: "client",
        name: "token",
        kind: Kind::Text,
        default: None,
        secret: true,
    },
    key("client", "token_file", Kind::Text, None),
    key("deploy", "host", Kind::Text, None),
    key("deploy", "mode", Kind::Text, Some("switch")),
    key("deploy", "interval", Kind::Duration, Some("60s")),
    key("deploy", "health_checks", Kind::List, Some("")),
    key("deploy", "health_timeout", Kind::Duration, Some("120s")),
    key(
        "deploy",
        "profile",
        Kind::Text,
        Some("/nix/var/nix/profiles/system"),
    ),
    key(
        "deploy",
        "current_system",
        Kind::Text,
        Some("/run/current-system"),
    ),
    key("deploy", "state_dir", Kind::Text, None),
];

pub fn find(section: &str, name: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|k| k.section == section && k.name == name)
}

pub fn find_dotted(dotted: &str) -> Option<&'static KeyDef> {
    let (section, name) = dotted.split_once('.')?;
    find(section, name)
}

pub fn is_section(section: &str) -> bool {
    KEYS.iter().any(|k| k.section == section)
}

/// Short environment forms that win over their long forms.
pub const SHORT_ENV: &[(&str, &str)] = &[
    ("ATUIN_BOOTSTRAP_SERVER", "client.server"),
    ("ATUIN_BOOTSTRAP_TOKEN", "client.token"),
];
