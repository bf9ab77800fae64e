//! GC roots of what jobs built: `<state>/gcroots/<target>/<job id>`, each a symlink to the
//! output registered with Nix as an indirect root (`nix-store --add-root`, which works through
//! the daemon for an unprivileged server too). Retention keeps the newest N successful
//! builds per target; dropping a root is removing its link. The layout alone says which job
//! and target a root belongs to, so `atuin-bootstrap gc` needs nothing but this directory.
//! The errors of making a root end up in a job's error, which clients read: they name the
//! target, not the directory (what nix-store says is the runner's to mask).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use nix_core::command;
use tokio::process::Command;

use crate::builds::redact::io_reason;

pub(crate) struct Roots {
    dir: PathBuf,
}

/// One root: which target of which job keeps which link alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Root {
    pub target: String,
    pub job: u64,
    pub link: PathBuf,
}

impl Roots {
    pub(crate) fn new(state_dir: &Path) -> Roots {
        Roots {
            dir: state_dir.join("gcroots"),
        }
    }

    /// Where `nix build --out-link` puts its links while job `id` builds: they keep the
    /// outputs alive until the per-target roots exist.
    pub(crate) fn build_link(&self, job: u64) -> PathBuf {
        self.dir
            .join(".building")
            .join(job.to_string())
            .join("result")
    }

    /// Removes the build's own links once the per-target roots are made (or the job failed).
    pub(crate) fn clear_build_links(&self, job: u64) {
        let _ = std::fs::remove_dir_all(self.dir.join(".building").join(job.to_string()));
    }

    /// Where the root of target `target` of job `job` lives (its directory made).
    pub(crate) fn link(&self, target: &str, job: u64) -> Result<PathBuf> {
        let target_dir = self.dir.join(target_dir_name(target));
        std::fs::create_dir_all(&target_dir).map_err(|e| {
            tracing::warn!("failed to create {}: {e}", target_dir.display());
            anyhow!(
                "failed to make the GC root directory of {target}: {}",
                io_reason(&e)
            )
        })?;
        Ok(target_dir.join(job.to_string()))
    }

    /// Roots `output` as target `target` of job `job`.
    pub(crate) async fn add(&self, target: &str, job: u64, output: &str) -> Result<PathBuf> {
        let link = self.link(target, job)?;
        let result = Command::from(command::add_root(&link, output).command())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| anyhow!("failed to run nix-store --add-root: {}", io_reason(&e)))?;
        if !result.status.success() {
            bail!(
                "nix-store --add-root for {output} failed: {}",
                String::from_utf8_lossy(&result.stderr).trim()
            );
        }
        Ok(link)
    }

    /// Every root, in no particular order.
    pub(crate) fn list(&self) -> Result<Vec<Root>> {
        let mut roots = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(roots),
            Err(e) => {
                return Err(e).with_context(|| format!("failed to read {}", self.dir.display()));
            }
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.file_type()?.is_dir() {
                continue;
            }
            let target = target_from_dir_name(&name);
            for link in std::fs::read_dir(entry.path())? {
                let link = link?;
                if let Ok(job) = link.file_name().to_string_lossy().parse::<u64>() {
                    roots.push(Root {
                        target: target.clone(),
                        job,
                        link: link.path(),
                    });
                }
            }
        }
        Ok(roots)
    }

    /// Drops all but the newest `keep` roots of every target, and never a root of a job in
    /// `protected` (a host's newest successful system, which its deploy may still fetch);
    /// returns what it dropped.
    pub(crate) fn retain(&self, keep: usize, protected: &BTreeSet<u64>) -> Result<Vec<Root>> {
        let mut roots = self.list()?;
        roots.sort_by(|a, b| a.target.cmp(&b.target).then(b.job.cmp(&a.job)));
        let mut dropped = Vec::new();
        let mut kept_for: Option<(String, usize)> = None;
        for root in roots {
            let count = match &mut kept_for {
                Some((target, count)) if *target == root.target => {
                    *count += 1;
                    *count
                }
                _ => {
                    kept_for = Some((root.target.clone(), 1));
                    1
                }
            };
            if count > keep && !protected.contains(&root.job) {
                std::fs::remove_file(&root.link).with_context(|| {
                    format!("failed to remove the root {}", root.link.display())
                })?;
                dropped.push(root);
            }
        }
        Ok(dropped)
    }
}

/// A directory name for a target: characters other than `[A-Za-z0-9._-]` percent-encoded, and
/// a leading dot too, so no name is hidden, `.` or `..`.
fn target_dir_name(target: &str) -> String {
    let mut out = String::new();
    for (i, byte) in target.bytes().enumerate() {
        let plain =
            byte.is_ascii_alphanumeric() || b"_-".contains(&byte) || (byte == b'.' && i > 0);
        if plain {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn target_from_dir_name(name: &str) -> String {
    percent_encoding::percent_decode_str(name)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names_round_trip_safely() {
        for target in [
            "laptop",
            "packages.x86_64-linux.hello",
            ".hidden",
            "a/b",
            "..",
            "x y",
        ] {
            let dir = target_dir_name(target);
            assert!(!dir.starts_with('.') && !dir.contains('/'), "{dir}");
            assert_eq!(target_from_dir_name(&dir), target);
        }
    }

    #[test]
    fn retention_keeps_the_newest_per_target() {
        let state = tempfile::tempdir().unwrap();
        let roots = Roots::new(state.path());
        for (target, jobs) in [("laptop", vec![1, 3, 5, 7]), ("desktop", vec![2, 4])] {
            let dir = roots.dir.join(target_dir_name(target));
            std::fs::create_dir_all(&dir).unwrap();
            for job in jobs {
                std::os::unix::fs::symlink("/nix/store/x", dir.join(job.to_string())).unwrap();
            }
        }
        let dropped = roots.retain(2, &BTreeSet::new()).unwrap();
        let mut dropped: Vec<_> = dropped.iter().map(|r| (r.target.as_str(), r.job)).collect();
        dropped.sort();
        assert_eq!(dropped, vec![("laptop", 1), ("laptop", 3)]);
        let mut left: Vec<_> = roots
            .list()
            .unwrap()
            .into_iter()
            .map(|r| (r.target, r.job))
            .collect();
        left.sort();
        assert_eq!(
            left,
            vec![
                ("desktop".into(), 2),
                ("desktop".into(), 4),
                ("laptop".into(), 5),
                ("laptop".into(), 7)
            ]
        );
        // A protected root outlives the count, even with nothing else kept.
        let dropped = roots.retain(0, &BTreeSet::from([5])).unwrap();
        assert_eq!(dropped.len(), 3);
        let left: Vec<_> = roots.list().unwrap().into_iter().map(|r| r.job).collect();
        assert_eq!(left, vec![5]);
    }
}
