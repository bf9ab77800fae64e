//! The wizard's Atuin part: merging the sync settings into the client's `config.toml`, and
//! joining the machine to the fleet's shared history by driving the real `atuin` client
//! (log in, import the local shell history, sync, publish the fleet's scripts). It knows the
//! `atuin` 18.24 command line and files; it does not decide what the wizard asks or plans, and it
//! never talks to the sync server except through `atuin`.

mod account;
mod command;
mod config;
mod key;
mod runner;
mod scripts;

use std::path::PathBuf;

pub use account::{join, planned_commands};
pub use config::{is_nix_managed, merge_config};

/// Where one machine's Atuin lives.
pub struct AtuinPaths {
    /// `--atuin-config-dir`, by default `$XDG_CONFIG_HOME/atuin`.
    pub config_dir: PathBuf,
    /// The user's `HOME` (empty when unset); the `atuin` commands run in it.
    pub home: PathBuf,
    /// Extra environment for the `atuin` commands: `HOME`, `XDG_*`, `ATUIN_CONFIG_DIR`, ….
    pub env: Vec<(String, String)>,
}

/// A sync account: who to log in as, and the key that encrypts the shared history.
pub struct Account<'a> {
    /// The account's user name (`--atuin-user`).
    pub user: &'a str,
    /// The account's password, as read from `--atuin-password-file`.
    pub password: &'a str,
    /// As `atuin key --base64` prints it, or the 24-word mnemonic `atuin key` prints.
    pub key: &'a str,
    /// For `atuin register`; `<user>@<hostname>.invalid` when not given.
    pub email: Option<&'a str>,
    /// Make the account (the fleet's first machine) instead of logging in to it.
    pub register: bool,
}
