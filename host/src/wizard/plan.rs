//! What the wizard will change, computed before anything is touched: files with their new
//! contents and commands to run. `--dry-run` prints it (with diffs); otherwise it is applied
//! in order, every replaced file backed up first. A file whose contents would not change is
//! left alone, so a second run with the same answers changes nothing.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// One file the wizard writes.
#[derive(Debug, Clone)]
pub(super) struct FileChange {
    pub path: PathBuf,
    pub contents: String,
    /// Unix mode for a new file (existing files keep theirs unless `private`).
    pub mode: u32,
    /// Secrets: always 0600, directory 0700.
    pub private: bool,
    /// Root-owned (e.g. /etc/nix/nix.conf): written with sudo when we are not root.
    pub needs_root: bool,
    /// `git add --intent-to-add` it in this repository afterwards.
    pub git_add_in: Option<PathBuf>,
    /// Why, for the plan.
    pub purpose: String,
}

impl FileChange {
    pub(super) fn new(path: PathBuf, contents: String, purpose: &str) -> FileChange {
        FileChange {
            path,
            contents,
            mode: 0o644,
            private: false,
            needs_root: false,
            git_add_in: None,
            purpose: purpose.to_string(),
        }
    }

    pub(super) fn private(mut self) -> Self {
        self.private = true;
        self.mode = 0o600;
        self
    }

    pub(super) fn tracked_in(mut self, repo: &Path) -> Self {
        self.git_add_in = Some(repo.to_path_buf());
        self
    }

    fn current(&self) -> Option<String> {
        std::fs::read_to_string(&self.path).ok()
    }

    fn is_unchanged(&self) -> bool {
        self.current().as_deref() == Some(self.contents.as_str())
            && (!self.private || mode_of(&self.path) == Some(0o600))
    }
}

/// A command the wizard runs, shown in the plan as `display` (secrets redacted).
pub(super) struct PlannedCommand {
    pub display: String,
    pub run: Box<dyn FnOnce() -> Result<String>>,
}

#[derive(Default)]
pub(super) struct Plan {
    pub files: Vec<FileChange>,
    pub commands: Vec<PlannedCommand>,
    /// Things the wizard will not do, with the reason (a Nix-managed file, no server key…).
    pub notes: Vec<String>,
}

impl Plan {
    /// The plan as text: files with unified diffs, then commands, then notes.
    pub(super) fn describe(&self) -> String {
        let mut out = String::new();
        for file in &self.files {
            if file.is_unchanged() {
                let _ = writeln!(out, "unchanged {} ({})", file.path.display(), file.purpose);
                continue;
            }
            let current = file.current();
            let verb = if current.is_some() {
                "change"
            } else {
                "create"
            };
            let _ = writeln!(out, "{verb} {} ({})", file.path.display(), file.purpose);
            if file.private {
                let _ = writeln!(out, "    (secret, 0600: contents not shown)");
                continue;
            }
            let old = current.unwrap_or_default();
            let diff = similar::TextDiff::from_lines(&old, &file.contents);
            for line in diff
                .unified_diff()
                .context_radius(2)
                .header("before", "after")
                .to_string()
                .lines()
            {
                let _ = writeln!(out, "    {line}");
            }
        }
        for command in &self.commands {
            let _ = writeln!(out, "run {}", command.display);
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }

    /// Applies the plan; returns one line per thing done.
    pub(super) fn apply(self) -> Result<Vec<String>> {
        let mut done = Vec::new();
        for file in &self.files {
            if file.is_unchanged() {
                continue;
            }
            write_file(file)?;
            done.push(format!("wrote {}", file.path.display()));
            if let Some(repo) = &file.git_add_in {
                git_intent_to_add(repo, &file.path)?;
            }
        }
        for command in self.commands {
            let said = (command.run)().with_context(|| format!("{} failed", command.display))?;
            done.push(if said.is_empty() {
                format!("ran {}", command.display)
            } else {
                said
            });
        }
        Ok(done)
    }
}

fn mode_of(path: &Path) -> Option<u32> {
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

/// Backs up an existing file (`<name>.atuin-bootstrap-backup`, numbered when taken), then
/// writes the new contents atomically.
fn write_file(file: &FileChange) -> Result<()> {
    let dir = file
        .path
        .parent()
        .context("a file path without a directory")?;
    let as_root = file.needs_root && !common::os::is_root();
    if as_root {
        return write_with_sudo(file);
    }
    if !dir.exists() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        if file.private {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    if file.path.exists() {
        let backup = backup_path(&file.path);
        std::fs::copy(&file.path, &backup).with_context(|| {
            format!(
                "failed to back up {} to {}",
                file.path.display(),
                backup.display()
            )
        })?;
    }
    let mode = if file.private {
        0o600
    } else {
        mode_of(&file.path).unwrap_or(file.mode)
    };
    let temporary = dir.join(format!(
        ".{}.atuin-bootstrap-new",
        file.path.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::write(&temporary, &file.contents)
        .with_context(|| format!("failed to write {}", temporary.display()))?;
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&temporary, &file.path)
        .with_context(|| format!("failed to write {}", file.path.display()))?;
    Ok(())
}

/// For a root-owned file when we are not root: the new contents go through a temporary file
/// of ours, and only `cp` (backup) and `install` run elevated.
fn write_with_sudo(file: &FileChange) -> Result<()> {
    let temporary =
        std::env::temp_dir().join(format!("atuin-bootstrap-{}.new", std::process::id()));
    std::fs::write(&temporary, &file.contents)?;
    let target = file.path.display().to_string();
    if file.path.exists() {
        let backup = backup_path(&file.path).display().to_string();
        sudo(&["cp", "-p", &target, &backup])?;
    }
    let mode = format!("{:o}", if file.private { 0o600 } else { file.mode });
    sudo(&[
        "install",
        "-D",
        "-m",
        &mode,
        &temporary.display().to_string(),
        &target,
    ])?;
    let _ = std::fs::remove_file(&temporary);
    Ok(())
}

fn sudo(args: &[&str]) -> Result<()> {
    let status = Command::new("sudo")
        .args(args)
        .status()
        .context("failed to run sudo (needed to write a root-owned file)")?;
    if !status.success() {
        bail!("sudo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn backup_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let first = path.with_file_name(format!("{name}.atuin-bootstrap-backup"));
    if !first.exists() {
        return first;
    }
    (1..)
        .map(|n| path.with_file_name(format!("{name}.atuin-bootstrap-backup.{n}")))
        .find(|p| !p.exists())
        .expect("some backup name is free")
}

fn git_intent_to_add(repo: &Path, file: &Path) -> Result<()> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["add", "--intent-to-add", "--"])
        .arg(file)
        .output()
        .context("failed to run git add")?;
    if !output.status.success() {
        bail!(
            "git add --intent-to-add {} failed: {}",
            file.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
