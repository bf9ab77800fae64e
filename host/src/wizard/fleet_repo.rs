//! The wizard's changes to the fleet repository: the fleet flake when the repository has
//! none, this machine's host files (`hosts/<name>/default.nix` from its profile, and on NixOS
//! its hardware configuration and boot loader), and the `.gitignore` lines that keep
//! `secrets/` out of git. New files are added to git with `--intent-to-add`, so the flake sees
//! them at once. It also tells the URL the build server can fetch the fleet from.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::answers::Answers;
use super::host;
use super::plan::{FileChange, Plan};
use super::templates;

/// Lines every fleet's `.gitignore` must have.
const IGNORED: &[&str] = &["secrets/", "hosts/*/secrets/"];

/// Adds the fleet repository's files to `plan`. `boot_problem` says why this NixOS machine got
/// no boot loader; `on_nixos`, whether the machine's own files could be known here.
pub(super) fn plan(
    plan: &mut Plan,
    repo: &Path,
    host: &str,
    inputs: &host::Inputs,
    boot_problem: Option<String>,
    on_nixos: bool,
    atuin_bootstrap_url: &str,
) -> Result<()> {
    if !repo.join(".git").exists() {
        plan.notes.push(format!(
            "{} is not a git repository yet: it will be made one (git init)",
            repo.display()
        ));
    }
    let has_flake = repo.join("flake.nix").exists();
    if !has_flake {
        for (path, text) in templates::fleet(atuin_bootstrap_url) {
            if path == ".gitignore" && repo.join(path).exists() {
                continue; // merged below
            }
            plan.files.push(
                FileChange::new(repo.join(path), text, "the fleet flake (fleet template)")
                    .tracked_in(repo),
            );
        }
        plan.notes.push(format!(
            "the new fleet flake fetches atuin-bootstrap from {atuin_bootstrap_url} \
             (inputs.atuin-bootstrap.url in flake.nix; --atuin-bootstrap-url names another, \
             e.g. your fork or git+file:///srv/atuin-bootstrap)"
        ));
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
    let profile = inputs.profile;
    for (name, text) in host::render(inputs).map_err(anyhow::Error::msg)? {
        let file = host_dir.join(name);
        let purpose = match name {
            host::DEFAULT => format!("host {host} ({profile} profile)"),
            host::HARDWARE => "hardware (nixos-generate-config)".to_string(),
            _ => match inputs.boot_loader {
                Some(boot_loader) => format!("boot loader: {}", boot_loader.describe()),
                None => "boot loader".to_string(),
            },
        };
        match std::fs::read_to_string(&file) {
            Ok(existing) if existing == text => {}
            // The machine's own files may have been edited since: never replaced.
            Ok(_) if name != host::DEFAULT => continue,
            Ok(_) => {
                plan.notes.push(format!(
                    "{} exists and differs from the {profile} profile: left as it is (move it away to render it again)",
                    file.display()
                ));
                continue;
            }
            Err(_) => {}
        }
        plan.files
            .push(FileChange::new(file, text, &purpose).tracked_in(repo));
    }
    if host::needs_machine_files(profile) {
        let boot_file = host_dir.join(host::BOOT_LOADER);
        if let (Some(why), false) = (boot_problem, boot_file.exists()) {
            plan.notes.push(format!(
                "no boot loader for {host}: {why}; write it into {} (NixOS refuses a host without one)",
                boot_file.display()
            ));
        }
        let hardware_file = host_dir.join(host::HARDWARE);
        if !on_nixos && !hardware_file.exists() {
            plan.notes.push(format!(
                "this machine does not run NixOS, so {host} has no {} or {} yet and the box \
                 cannot build it: run bootstrap-new-machine again once it runs NixOS, or add them \
                 from its nixos-generate-config",
                host::HARDWARE,
                host::BOOT_LOADER
            ));
        }
    }
    Ok(())
}

/// `nixos-generate-config --show-hardware-config`, on NixOS.
pub(super) fn hardware_config() -> Option<String> {
    let output = Command::new("nixos-generate-config")
        .arg("--show-hardware-config")
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The URL the build server fetches the fleet from (the box's `repo.url`): the repository's
/// `origin`, when the server's service can reach it. `None` without a remote, or when the
/// remote is a path in a home directory or a relative one: the service runs as its own user,
/// without access to /home, /root or /run/user.
pub(super) fn server_fetch_url(repo: &Path) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["remote", "get-url", "origin"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let url = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (!url.is_empty() && reachable_by_service(&url)).then_some(url)
}

fn reachable_by_service(url: &str) -> bool {
    let path = if let Some(path) = url.strip_prefix("file://") {
        path
    } else if url.contains("://") {
        return true;
    } else if url.starts_with('/') {
        url
    } else {
        // `host:path` is ssh (git's scp-like form); anything else is a relative path.
        return match (url.find(':'), url.find('/')) {
            (Some(colon), Some(slash)) => colon < slash,
            (Some(_), None) => true,
            _ => false,
        };
    };
    !["/home", "/root", "/run/user"]
        .iter()
        .any(|home| path == *home || path.starts_with(&format!("{home}/")))
}

/// Makes `repo` a git repository when it is not one (before files are added to it).
pub(super) fn ensure_git_repository(repo: &Path) -> Result<()> {
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

/// What the user runs so the box sees the new host: flake.lock made (or kept) and committed
/// with the host's files, since the box evaluates in pure mode and cannot lock inputs.
pub(super) fn commit_command(repo: &Path, host: &str) -> String {
    format!(
        "cd {} && {} && \
         git add -A hosts/{host} .gitignore flake.nix flake.lock && git commit -m 'Add {host}' && git push",
        repo.display(),
        nix_core::command::flake_lock().shell_line()
    )
}

/// What to do when the build box (wsl profile) has no repository URL its service can fetch.
pub(super) fn no_fleet_url_note(answers: &Answers) -> String {
    let repo = answers.repo.display();
    format!(
        "the build server cannot fetch the fleet from {repo}: it has no remote the server can \
         reach, and the server runs as its own user, without access to home directories. Push \
         the fleet to a git remote (git -C {repo} remote add origin URL && git -C {repo} push -u \
         origin main) or to a bare repository outside /home (e.g. /srv/fleet.git), then set \
         settings.repo.url in hosts/{}/default.nix (commented out until then: the box serves \
         its cache and Atuin, but builds nothing by itself)",
        answers.hostname
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_fetches_from_remotes_and_paths_outside_home_directories() {
        for url in [
            "https://git.example.org/me/fleet.git",
            "ssh://git@example.org/me/fleet.git",
            "git@github.com:me/fleet.git",
            "/srv/fleet.git",
            "file:///srv/fleet.git",
        ] {
            assert!(reachable_by_service(url), "{url}");
        }
        for url in [
            "/home/me/fleet",
            "/home/me/fleet.git",
            "file:///home/me/fleet",
            "/root/fleet",
            "/run/user/1000/fleet",
            "../fleet.git",
            "fleet",
        ] {
            assert!(!reachable_by_service(url), "{url}");
        }
    }

    #[test]
    fn the_commit_command_locks_and_commits_flake_lock() {
        let command = commit_command(Path::new("/home/me/fleet"), "thinkpad");
        assert!(
            command.starts_with("cd /home/me/fleet && nix "),
            "{command}"
        );
        assert!(command.contains(" flake lock && git add -A hosts/thinkpad .gitignore flake.nix flake.lock && git commit"), "{command}");
    }

    #[test]
    fn gitignore_lines_are_added_once() {
        let once = ensure_lines("target/", IGNORED);
        assert!(once.starts_with("target/\n# kept out of git"));
        assert_eq!(ensure_lines(&once, IGNORED), once);
    }
}
