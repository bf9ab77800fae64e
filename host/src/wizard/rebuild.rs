//! The NixOS step: the `nixos-rebuild switch` that puts the machine on its fleet configuration
//! (with the box's cache trusted for that one run), printed or, with `--apply`, run.

use anyhow::{Context, Result};

use super::answers::Answers;

/// `sudo nixos-rebuild switch --flake REPO#HOST` with the cache as an extra substituter.
pub(super) fn command(answers: &Answers, key: Option<&str>) -> String {
    let mut command = format!(
        "sudo nixos-rebuild switch --flake {}#{} --option extra-substituters {}",
        answers.repo.display(),
        answers.hostname,
        answers.server
    );
    if let Some(key) = key {
        command.push_str(&format!(" --option extra-trusted-public-keys {key}"));
    }
    command
}

/// Runs the rebuild.
pub(super) fn run(command: &str) -> Result<String> {
    let status = std::process::Command::new("sh")
        .args(["-c", command])
        .status()
        .context("failed to start the rebuild")?;
    anyhow::ensure!(status.success(), "{command} failed ({status})");
    Ok(format!("ran {command}"))
}
