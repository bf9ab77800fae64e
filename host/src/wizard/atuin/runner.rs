//! Running the real `atuin` client for one machine: its environment (session, no colour, no
//! backtraces), failures as atuin's own one-line error, and what the wizard asks of it (the
//! key file, the session, the history, the fleet's scripts).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, bail};

use super::AtuinPaths;
use super::command::{AtuinCommand, one_line, shell_word};
use super::key::is_base64_key;
use super::scripts::{FLEET_SCRIPTS, new_script_command, script_names};

/// The `atuin` client of one machine.
pub(super) struct Atuin<'a> {
    pub(super) paths: &'a AtuinPaths,
    /// Outside a shell hook atuin has no `ATUIN_SESSION`, which search and sync need.
    pub(super) session: String,
}

impl Atuin<'_> {
    pub(super) fn output(&self, command: &AtuinCommand) -> Result<Output> {
        let mut process = Command::new("atuin");
        process
            .args(&command.args)
            .current_dir(&self.paths.home)
            // One-line errors, no colour codes; atuin never prompts when stdin is not a terminal
            // and the secrets are in its environment.
            .env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0")
            .env("NO_COLOR", "1")
            .env("ATUIN_SESSION", &self.session)
            .envs(self.paths.env.iter().map(|(k, v)| (k, v)))
            .envs(command.secrets.iter().map(|(k, v)| (k, v)))
            .stdin(if command.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = process
            .spawn()
            .with_context(|| format!("failed to start {} (is atuin installed?)", command.step()))?;
        if let (Some(text), Some(mut stdin)) = (&command.stdin, child.stdin.take()) {
            stdin
                .write_all(text.as_bytes())
                .with_context(|| format!("failed to write to {}", command.step()))?;
        }
        child
            .wait_with_output()
            .with_context(|| format!("failed to wait for {}", command.step()))
    }

    /// Runs `command`, failing with atuin's own error when it fails; returns its stdout.
    pub(super) fn run(&self, command: &AtuinCommand) -> Result<String> {
        let output = self.output(command)?;
        if !output.status.success() {
            bail!("{} failed: {}", command.step(), one_line(&output.stderr));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Where atuin keeps this machine's key, as `atuin info` reports it (`key_path` in the
    /// config, else `key` in the data dir: `~/.atuin/data` or `$XDG_DATA_HOME/atuin`).
    pub(super) fn key_file(&self) -> Result<PathBuf> {
        let info = self.run(&AtuinCommand::plain(&["info"]))?;
        info.lines()
            .find_map(|line| line.trim().strip_prefix("key path:"))
            .map(|path| PathBuf::from(path.trim().trim_matches('"')))
            .context("`atuin info` did not say where the key file is")
    }

    /// The user atuin is logged in as, from `atuin status`; `None` when it is not logged in.
    pub(super) fn logged_in_user(&self) -> Result<Option<String>> {
        let status = AtuinCommand::plain(&["status"]);
        let output = self.output(&status)?;
        if !output.status.success() {
            let reason = one_line(&output.stderr);
            if reason.contains("not logged in") {
                return Ok(None);
            }
            bail!("{} failed: {reason}", status.step());
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let user = stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix("Username:"));
        // A status without the remote part (auto_sync off) is still a session.
        Ok(Some(user.unwrap_or_default().trim().to_string()))
    }

    /// Whether the machine's key file holds `key`, compared in the form it was given in.
    pub(super) fn has_key(&self, key: &str) -> Result<bool> {
        let args: &[&str] = if is_base64_key(key) {
            &["key", "--base64"]
        } else {
            &["key"]
        };
        let current = self.run(&AtuinCommand::plain(args))?;
        let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(words(&current) == words(key))
    }

    /// Whether atuin's local history has any entry (`atuin search` exits 1 when nothing matches).
    pub(super) fn has_history(&self) -> Result<bool> {
        let search = AtuinCommand::plain(&[
            "search",
            "--limit",
            "1",
            "--cmd-only",
            "--filter-mode",
            "global",
        ]);
        let output = self.output(&search)?;
        match output.status.code() {
            Some(0) => Ok(!output.stdout.iter().all(u8::is_ascii_whitespace)),
            Some(1) if output.stderr.iter().all(u8::is_ascii_whitespace) => Ok(false),
            _ => bail!("{} failed: {}", search.step(), one_line(&output.stderr)),
        }
    }

    /// Creates the fleet scripts atuin does not have yet; returns one line per script made.
    pub(super) fn publish_missing_scripts(&self, fleet_repo: &Path) -> Result<Vec<String>> {
        let listing = self.run(&AtuinCommand::plain(&["scripts", "list"]))?;
        let existing = script_names(&listing);
        let mut published = Vec::new();
        for script in FLEET_SCRIPTS.iter().filter(|s| !existing.contains(&s.name)) {
            let command = new_script_command(script);
            self.run(&command)?;
            published.push(format!(
                "published the fleet script {} (run it: atuin scripts run {} -v fleet={}): {}",
                script.name,
                script.name,
                shell_word(&fleet_repo.display().to_string()),
                command.display()
            ));
        }
        Ok(published)
    }
}
