//! Joining the account: register or log in, import the local shell history once, sync, and
//! publish the fleet's scripts; plus the key checks and the commands shown for `--dry-run`.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::command::{AtuinCommand, one_line, session_id};
use super::key::{check_key_form, is_base64_key};
use super::runner::Atuin;
use super::scripts::{FLEET_SCRIPTS, new_script_command};
use super::{Account, AtuinPaths};
use common::state_dir::write_private_file;

/// The commands `join` would run, for `--dry-run`; secrets are shown as `<redacted>`. Which of
/// them `join` really runs depends on what it finds (a session, local history, scripts).
pub fn planned_commands(paths: &AtuinPaths, account: &Account) -> Vec<String> {
    let login = if account.register {
        register_command(account, &email_of(account)).display()
    } else {
        login_command(account).display()
    };
    let mut commands = Vec::new();
    if account.register {
        commands.push(format!(
            "write the given key to atuin's key file if it has none (config: {})",
            paths.config_dir.display()
        ));
    }
    commands.extend([
        format!("{login} (unless already logged in)"),
        format!(
            "{} (unless atuin already holds history here)",
            ATUIN_IMPORT.join(" ")
        ),
        "atuin sync".to_string(),
    ]);
    for script in FLEET_SCRIPTS {
        commands.push(format!(
            "{} (unless it exists)",
            new_script_command(script).display()
        ));
    }
    commands.push("atuin sync (when a script was published)".to_string());
    commands
}

/// Logs the real `atuin` in as `account` (`atuin register` first when asked), imports the local
/// shell history, syncs, and publishes the fleet's shared scripts that are missing, then syncs
/// again so the other machines get them. Expects `config.toml` to carry `sync_address` already
/// (see [`merge_config`]). A second run finds the session, the history and the scripts and only
/// syncs. Returns what was done, one line each; secrets never appear in it or in errors.
pub fn join(paths: &AtuinPaths, account: &Account, fleet_repo: &Path) -> Result<Vec<String>> {
    check_key_form(account.key)?;
    let atuin = Atuin {
        paths,
        session: session_id(),
    };
    let mut done = Vec::new();

    if account.register {
        // `atuin register` keeps a key it finds (any atuin command may make one), so the
        // account is made with the given key when it is here first.
        let key_file = atuin.key_file()?;
        if !key_file.exists() && is_base64_key(account.key) {
            write_key_file(&key_file, account.key)?;
            done.push(format!("wrote the given key to {}", key_file.display()));
        }
    }

    match atuin.logged_in_user()? {
        // An empty name: `atuin status` leaves the account out when auto_sync is off.
        Some(user) if user == account.user || user.is_empty() => {
            if !atuin.has_key(account.key)? {
                bail!(
                    "atuin here is logged in with another key than the given one: run `atuin \
                     logout` and try again"
                );
            }
            done.push(format!(
                "atuin is already logged in as {}: kept its session",
                account.user
            ));
        }
        Some(user) => bail!(
            "atuin here is logged in as {user}, not {}: run `atuin logout` first",
            account.user
        ),
        None if account.register => {
            let email = email_of(account);
            let register = register_command(account, &email);
            atuin.run(&register)?;
            done.push(format!(
                "registered {} as {email}: {}",
                account.user,
                register.display()
            ));
            if !atuin.has_key(account.key)? {
                // Registering kept a key that was here before; logging in again with the given
                // key makes atuin re-encrypt its local store with it.
                atuin.run(&AtuinCommand::plain(&["logout"]))?;
                let login = login_command(account);
                atuin.run(&login)?;
                done.push(format!(
                    "switched atuin to the given key: atuin logout; {}",
                    login.display()
                ));
            }
        }
        None => {
            let login = login_command(account);
            atuin.run(&login)?;
            done.push(format!(
                "logged in as {}: {}",
                account.user,
                login.display()
            ));
        }
    }

    done.push(import_history(&atuin)?);
    let sync = AtuinCommand::plain(&["sync"]);
    atuin.run(&sync)?;
    done.push(format!("synced the history: {}", sync.display()));

    let published = atuin.publish_missing_scripts(fleet_repo)?;
    if !published.is_empty() {
        atuin.run(&sync)?;
        done.extend(published);
        done.push(format!(
            "synced the scripts to the fleet: {}",
            sync.display()
        ));
    }
    Ok(done)
}

pub(super) const ATUIN_IMPORT: [&str; 3] = ["atuin", "import", "auto"];

/// `atuin import` appends every line again on each run, so it runs only while atuin holds no
/// history on this machine: on the first run here, before the first sync brings the fleet's.
pub(super) fn import_history(atuin: &Atuin) -> Result<String> {
    if atuin.has_history()? {
        return Ok(
            "kept atuin's history as it is: it already holds history here, and another \
                   import would duplicate it"
                .to_string(),
        );
    }
    let import = AtuinCommand::plain(&ATUIN_IMPORT[1..]);
    let output = atuin.output(&import)?;
    if output.status.success() {
        return Ok(format!("imported the shell history: {}", import.display()));
    }
    let reason = one_line(&output.stderr);
    if reason.contains("Could not find history file") {
        return Ok(format!("no shell history to import ({reason})"));
    }
    bail!("{} failed: {reason}", import.step())
}

pub(super) fn register_command(account: &Account, email: &str) -> AtuinCommand {
    let mut command =
        AtuinCommand::plain(&["register", "--username", account.user, "--email", email]);
    command
        .secrets
        .push(("ATUIN_PASSWORD", account.password.to_string()));
    command
}

pub(super) fn login_command(account: &Account) -> AtuinCommand {
    let mut command = AtuinCommand::plain(&["login", "--username", account.user]);
    command
        .secrets
        .push(("ATUIN_PASSWORD", account.password.to_string()));
    command
        .secrets
        .push(("ATUIN_ENCRYPTION_KEY", account.key.to_string()));
    command
}

pub(super) fn email_of(account: &Account) -> String {
    match account.email {
        Some(email) => email.to_string(),
        None => {
            let host = common::os::hostname().unwrap_or_else(|| "localhost".into());
            format!("{}@{host}.invalid", account.user)
        }
    }
}

/// Writes the key to a new file only its owner can read, as atuin writes it (without a
/// newline: atuin compares the bytes when it stores a key).
fn write_key_file(path: &Path, key: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
    }
    write_private_file(path, key.trim().as_bytes(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(register: bool) -> Account<'static> {
        Account {
            user: "alice",
            password: "hunter2-secret",
            key: "word1 word2 secretword",
            email: None,
            register,
        }
    }

    #[test]
    fn planned_commands_never_show_the_secrets() {
        let paths = AtuinPaths {
            config_dir: "/c".into(),
            home: "/h".into(),
            env: Vec::new(),
        };
        for register in [false, true] {
            let plan = planned_commands(&paths, &account(register)).join("\n");
            assert!(
                !plan.contains("hunter2") && !plan.contains("secretword"),
                "{plan}"
            );
            assert!(plan.contains("ATUIN_PASSWORD=<redacted>"), "{plan}");
            let step = if register {
                "atuin register --username alice"
            } else {
                "atuin login --username alice"
            };
            assert!(plan.contains(step), "{plan}");
            assert!(plan.contains("atuin scripts new rebuild-host"), "{plan}");
        }
    }
}
