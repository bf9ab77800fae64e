//! The wizard's changes to the fleet repository: the fleet flake when the repository has
//! none, this machine's `hosts/<name>/default.nix` from its profile, its hardware
//! configuration on NixOS, and the `.gitignore` lines that keep `secrets/` out of git. New
//! files are added to git with `--intent-to-add`, so the flake sees them at once.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::plan::{FileChange, Plan};
use crate::templates;

/// Lines every fleet's `.gitignore` must have.
const IGNORED: &[&str] = &["secrets/", "hosts/*/secrets/"];

/// Adds the fleet repository's files to `plan`.
pub fn plan(
    plan: &mut Plan,
    repo: &Path,
    host: &str,
    profile: &str,
    values: &[(&str, &str)],
    hardware_config: Option<String>,
) -> Result<()> {
    if !repo.join(".git").exists() {
        plan.notes.push(format!(
            "{} is not a git repository yet: it will be made one (git init)",
            repo.display()
        ));
    }
    let has_flake = repo.join("flake.nix").exists();
    if !has_flake {
        for (path, text) in templates::FLEET {
            if *path == ".gitignore" && repo.join(path).exists() {
                continue; // merged below
            }
            plan.files.push(
                FileChange::new(
                    repo.join(path),
                    text.to_string(),
                    "the fleet flake (fleet template)",
                )
                .tracked_in(repo),
            );
        }
    }
    let gitignore = repo.join(".gitignore");
    let current = std::fs::read_to_string(&gitignore).ok();
    let base = match &current {
        Some(text) => text.clone(),
        None if !has_flake => templates::FLEET
            .iter()
            .find(|(p, _)| *p == ".gitignore")
            .map(|(_, t)| t.to_string())
            .unwrap_or_default(),
        None => String::new(),
    };
    let merged = ensure_lines(&base, IGNORED);
    if current.as_deref() != Some(merged.as_str()) {
        plan.files.retain(|f| f.path != gitignore);
        plan.files
            .push(FileChange::new(gitignore, merged, "keep secrets/ out of git").tracked_in(repo));
    }

    let host_dir = repo.join("hosts").join(host);
    let host_file = host_dir.join("default.nix");
    let template =
        templates::profile(profile).with_context(|| format!("no profile {profile:?}"))?;
    let rendered = templates::render(template, values).map_err(anyhow::Error::msg)?;
    match std::fs::read_to_string(&host_file) {
        Ok(existing) if existing != rendered => plan.notes.push(format!(
            "{} exists and differs from the {profile} profile: left as it is (move it away to render it again)",
            host_file.display()
        )),
        _ => plan.files.push(
            FileChange::new(host_file, rendered, &format!("host {host} ({profile} profile)"))
                .tracked_in(repo),
        ),
    }
    if let Some(hardware) = hardware_config {
        let file = host_dir.join("hardware-configuration.nix");
        if !file.exists() {
            plan.files.push(
                FileChange::new(file, hardware, "hardware (nixos-generate-config)")
                    .tracked_in(repo),
            );
        }
    }
    Ok(())
}

/// `nixos-generate-config --show-hardware-config`, on NixOS.
pub fn hardware_config() -> Option<String> {
    let output = Command::new("nixos-generate-config")
        .arg("--show-hardware-config")
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The repository's `origin` URL, for the build box's `repo.url`; else its path.
pub fn origin_url(repo: &Path) -> String {
    Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["remote", "get-url", "origin"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| repo.display().to_string())
}

/// Makes `repo` a git repository when it is not one (before files are added to it).
pub fn ensure_git_repository(repo: &Path) -> Result<()> {
    if repo.join(".git").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(repo)
        .with_context(|| format!("failed to create {}", repo.display()))?;
    let status = Command::new("git")
        .args(["init", "-q", "-b", "main"])
        .arg(repo)
        .status()
        .context("failed to run git init")?;
    anyhow::ensure!(status.success(), "git init {} failed", repo.display());
    Ok(())
}

fn ensure_lines(text: &str, lines: &[&str]) -> String {
    let mut out = text.to_string();
    let missing: Vec<&&str> = lines
        .iter()
        .filter(|line| !text.lines().any(|l| l.trim() == **line))
        .collect();
    if missing.is_empty() {
        return out;
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("# kept out of git by bootstrap-new-machine\n");
    for line in missing {
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignore_lines_are_added_once() {
        let once = ensure_lines("target/", IGNORED);
        assert!(once.starts_with("target/\n# kept out of git"));
        assert_eq!(ensure_lines(&once, IGNORED), once);
    }
}
