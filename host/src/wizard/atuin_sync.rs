//! The wizard's Atuin step: the sync settings merged into Atuin's `config.toml` (unless Nix
//! manages it), and the account join (log in, import the history, sync) planned as a command.
//! How to drive `atuin` itself is the `atuin` module's.

use std::path::Path;

use anyhow::{Context, Result};

use super::atuin;
use super::dirs::atuin_paths;
use super::plan::{FileChange, Plan, PlannedCommand};
use super::secrets;
use crate::wizard::BootstrapArgs;
use common::process::Process;

/// Atuin's sync server when `--atuin-server` is not given: the build server's host, port 8888.
pub(super) fn default_server(server: &str) -> String {
    let without_scheme = server.split_once("://").map_or(server, |(_, rest)| rest);
    let host_port = without_scheme.split('/').next().unwrap_or(without_scheme);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or(v6)),
        None => host_port
            .rsplit_once(':')
            .map_or(host_port, |(h, _)| h)
            .to_string(),
    };
    format!("http://{host}:8888")
}

/// `sync_address` and friends in Atuin's `config.toml`, comments kept.
pub(super) fn plan_config(
    plan: &mut Plan,
    process: &Process,
    args: &BootstrapArgs,
    sync_address: &str,
) -> Result<()> {
    let paths = atuin_paths(process, args);
    let file = paths.config_dir.join("config.toml");
    if atuin::is_nix_managed(&file) {
        plan.notes.push(format!(
            "{} is managed by Nix (home-manager?): set sync_address = {sync_address:?} there",
            file.display()
        ));
        return Ok(());
    }
    let existing = std::fs::read_to_string(&file).ok();
    if let Some(merged) = atuin::merge_config(existing.as_deref(), sync_address)
        .with_context(|| format!("cannot update {}", file.display()))?
    {
        plan.files.push(FileChange::new(
            file,
            merged,
            "Atuin history sync with the box",
        ));
    }
    Ok(())
}

/// With a user, password and key: the real `atuin` logs in, imports the history and syncs.
pub(super) fn plan_account(
    plan: &mut Plan,
    process: &Process,
    args: &BootstrapArgs,
    repo: &Path,
) -> Result<()> {
    let (Some(user), Some(password_file), Some(key_file)) = (
        &args.atuin_user,
        &args.atuin_password_file,
        &args.atuin_key_file,
    ) else {
        if args.atuin_user.is_some() || args.atuin_password_file.is_some() {
            plan.notes.push("Atuin sync needs --atuin-user, --atuin-password-file and --atuin-key-file together".into());
        }
        return Ok(());
    };
    let password = secrets::read(password_file, "the Atuin password")?;
    let key = secrets::read(key_file, "the Atuin key")?;
    let paths = atuin_paths(process, args);
    let planned = atuin::Account {
        user,
        password: &password,
        key: &key,
        email: None,
        register: args.atuin_register,
    };
    for command in atuin::planned_commands(&paths, &planned) {
        plan.notes.push(format!("atuin: {command}"));
    }
    let (user, register, repo) = (user.clone(), args.atuin_register, repo.to_path_buf());
    plan.commands.push(PlannedCommand {
        display: format!("atuin login as {user}, import the shell history, sync"),
        run: Box::new(move || {
            let account = atuin::Account {
                user: &user,
                password: &password,
                key: &key,
                email: None,
                register,
            };
            Ok(atuin::join(&paths, &account, &repo)?.join("\n"))
        }),
    });
    Ok(())
}
