//! Where this user's files are: the XDG config home, and the Atuin client's directories and
//! environment. A leaf of the wizard: its steps ask it, it asks only the process.

use std::path::PathBuf;

use super::atuin;
use crate::wizard::BootstrapArgs;
use common::process::Process;

/// `$XDG_CONFIG_HOME`, else `~/.config`.
pub(super) fn xdg_config_home(process: &Process) -> PathBuf {
    process
        .var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(process.var("HOME").unwrap_or_default()).join(".config"))
}

/// The Atuin client of this user: `--atuin-config-dir` or `$XDG_CONFIG_HOME/atuin`, and the
/// environment its commands run with.
pub(super) fn atuin_paths(process: &Process, args: &BootstrapArgs) -> atuin::AtuinPaths {
    let config_dir = args
        .atuin_config_dir
        .clone()
        .unwrap_or_else(|| xdg_config_home(process).join("atuin"));
    let mut env = vec![(
        "ATUIN_CONFIG_DIR".to_string(),
        config_dir.display().to_string(),
    )];
    for name in ["HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "PATH"] {
        if let Some(value) = process.var(name) {
            env.push((name.to_string(), value));
        }
    }
    atuin::AtuinPaths {
        home: PathBuf::from(process.var("HOME").unwrap_or_default()),
        config_dir,
        env,
    }
}
