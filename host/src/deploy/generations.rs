//! The system profile and its generations, as `nix-env` keeps them: `PROFILE` is a symlink to
//! `PROFILE-<n>-link`, which points into the store. Reading is done here from the links;
//! every change goes through `nix-env -p PROFILE` (`--set`, `--switch-generation`,
//! `--delete-generations`), so the profile stays what Nix and the boot loader expect.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::bounded;
use nix_core::command::{self, NixCommand};

/// Store paths live here (Nix's default store directory).
const STORE_DIR: &str = "/nix/store";
/// A `nix-env` call on a profile is quick; one that hangs is a broken Nix.
const NIX_ENV_TIMEOUT: Duration = Duration::from_secs(120);

/// One generation: its number and the system it points at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Generation {
    pub number: u64,
    pub path: String,
}

pub(super) struct Profile {
    link: PathBuf,
}

impl Profile {
    pub(super) fn new(link: PathBuf) -> Profile {
        Profile { link }
    }

    pub(super) fn path(&self) -> &Path {
        &self.link
    }

    /// The current generation; `None` when the profile does not exist yet.
    pub(super) fn current(&self) -> Result<Option<Generation>> {
        let target = match std::fs::read_link(&self.link) {
            Ok(target) => target,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("failed to read the profile {}", self.link.display())
                });
            }
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let number = self.generation_number(&name).with_context(|| {
            format!(
                "the profile {} points at {}, which is not one of its generations",
                self.link.display(),
                target.display()
            )
        })?;
        let path = store_path_of(&self.link)?;
        Ok(Some(Generation { number, path }))
    }

    /// Every generation, oldest first.
    pub(super) fn generations(&self) -> Result<Vec<Generation>> {
        let dir = self.dir();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("failed to read {}", dir.display())),
        };
        let mut generations = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(number) = self.generation_number(&name)
                && let Ok(path) = store_path_of(&entry.path())
            {
                generations.push(Generation { number, path });
            }
        }
        generations.sort_by_key(|g| g.number);
        Ok(generations)
    }

    /// Makes `path` the profile's new generation (`nix-env -p PROFILE --set PATH`).
    pub(super) fn set(&self, path: &str) -> Result<Generation> {
        if let Some(dir) = self.link.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
        }
        self.nix_env(command::profile_set(&self.link, path))?;
        self.current()?
            .context("nix-env --set left no current generation")
    }

    /// Makes generation `number` current again.
    pub(super) fn switch_to(&self, number: u64) -> Result<()> {
        self.nix_env(command::profile_switch_generation(&self.link, number))
    }

    /// Deletes generation `number` (never the current one).
    pub(super) fn delete(&self, number: u64) -> Result<()> {
        self.nix_env(command::profile_delete_generation(&self.link, number))
    }

    /// Removes the profile itself and generation `number`: back to no profile at all, for a
    /// first deploy that failed.
    pub(super) fn remove(&self, number: u64) -> Result<()> {
        for link in [self.link.clone(), self.generation_link(number)] {
            match std::fs::remove_file(&link) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("failed to remove {}", link.display()));
                }
            }
        }
        Ok(())
    }

    fn nix_env(&self, nix_env: NixCommand) -> Result<()> {
        let finished = bounded::run(nix_env.command(), Instant::now() + NIX_ENV_TIMEOUT, None)
            .context("failed to run nix-env (is Nix installed and on PATH?)")?;
        if !finished.succeeded() {
            bail!("{} failed: {}", nix_env.line(), one_line(&finished.output));
        }
        Ok(())
    }

    fn dir(&self) -> &Path {
        self.link
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    }

    fn base_name(&self) -> String {
        self.link
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn generation_link(&self, number: u64) -> PathBuf {
        self.dir()
            .join(format!("{}-{number}-link", self.base_name()))
    }

    /// `42` for `system-42-link` (for the profile `system`).
    fn generation_number(&self, file_name: &str) -> Option<u64> {
        file_name
            .strip_prefix(&self.base_name())?
            .strip_prefix('-')?
            .strip_suffix("-link")?
            .parse()
            .ok()
    }
}

/// The store path a chain of symlinks ends in (`/run/current-system`, a profile), read link by
/// link so that it works for a store the machine cannot see directly (a chroot store).
pub(super) fn store_path_of(link: &Path) -> Result<String> {
    let mut at = link.to_path_buf();
    for _ in 0..40 {
        if let Some(path) = as_store_path(&at) {
            return Ok(path);
        }
        let target = std::fs::read_link(&at)
            .with_context(|| format!("{} does not lead to a store path", link.display()))?;
        at = match at.parent() {
            Some(parent) if target.is_relative() => parent.join(target),
            _ => target,
        };
    }
    bail!("{} is a loop of symlinks", link.display())
}

/// `/nix/store/<name>` for a path directly in the store.
fn as_store_path(path: &Path) -> Option<String> {
    let rest = path.to_str()?.strip_prefix(STORE_DIR)?.strip_prefix('/')?;
    (!rest.is_empty() && !rest.contains('/')).then(|| format!("{STORE_DIR}/{rest}"))
}

fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        "no output".into()
    } else {
        lines.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn reads_generations_from_the_links() {
        let dir = tempfile::tempdir().unwrap();
        let profile = Profile::new(dir.path().join("system"));
        assert_eq!(profile.current().unwrap(), None);
        assert!(profile.generations().unwrap().is_empty());
        symlink("/nix/store/aaaa-one", dir.path().join("system-1-link")).unwrap();
        symlink("/nix/store/bbbb-two", dir.path().join("system-12-link")).unwrap();
        symlink("/nix/store/cccc-other", dir.path().join("other-3-link")).unwrap();
        symlink("system-12-link", dir.path().join("system")).unwrap();
        let current = profile.current().unwrap().unwrap();
        assert_eq!(current.number, 12);
        assert_eq!(current.path, "/nix/store/bbbb-two");
        let numbers: Vec<u64> = profile
            .generations()
            .unwrap()
            .iter()
            .map(|g| g.number)
            .collect();
        assert_eq!(numbers, vec![1, 12]);
        profile.remove(12).unwrap();
        assert_eq!(profile.current().unwrap(), None);
        assert_eq!(profile.generations().unwrap().len(), 1);
    }

    #[test]
    fn follows_links_into_the_store() {
        let dir = tempfile::tempdir().unwrap();
        symlink("/nix/store/aaaa-sys", dir.path().join("a")).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        assert_eq!(
            store_path_of(&dir.path().join("b")).unwrap(),
            "/nix/store/aaaa-sys"
        );
        symlink("/nix/store/aaaa-sys/bin", dir.path().join("deep")).unwrap();
        assert!(store_path_of(&dir.path().join("deep")).is_err());
        assert!(store_path_of(&dir.path().join("missing")).is_err());
        symlink("loop", dir.path().join("loop")).unwrap();
        assert!(store_path_of(&dir.path().join("loop")).is_err());
    }
}
