//! What a host's deploy remembers between runs, in its own state dir: the systems that failed
//! here (never tried again until the box has a newer build; no deploy loop), and the deploy
//! under way (so a run killed midway is carried on by the next with the right generation to
//! return to). Files are written atomically. Not for the lock (see `lock`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::state_dir::{write_private_file, StateDir};
use crate::timestamp::now;

const FAILED: &str = "failed.json";
const UNDER_WAY: &str = "deploy-under-way.json";
/// Failed systems remembered; older ones can no longer be the box's newest build.
const KEEP_FAILED: usize = 50;

/// A system that failed here, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedPath {
    pub path: String,
    pub reason: String,
    pub at: String,
}

/// A deploy that has begun changing the profile: where it goes and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnderWay {
    pub wanted: String,
    /// The generation that was current before it (`None`: there was no profile).
    pub before: Option<super::generations::Generation>,
    pub started: String,
}

pub struct Memory {
    dir: StateDir,
}

impl Memory {
    pub fn new(dir: PathBuf) -> Memory {
        Memory {
            dir: StateDir::new(dir),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Creates the state dir (0700) when it is missing.
    pub fn ensure(&self) -> Result<()> {
        self.dir.ensure()
    }

    /// Why `path` failed here, if it did.
    pub fn failed(&self, path: &str) -> Result<Option<FailedPath>> {
        Ok(self.failed_paths()?.into_iter().find(|f| f.path == path))
    }

    pub fn remember_failed(&self, path: &str, reason: &str) -> Result<()> {
        let mut failed = self.failed_paths()?;
        failed.retain(|f| f.path != path);
        failed.push(FailedPath {
            path: path.to_string(),
            reason: reason.to_string(),
            at: now(),
        });
        let cut = failed.len().saturating_sub(KEEP_FAILED);
        failed.drain(..cut);
        self.write(FAILED, &failed)
    }

    pub fn failed_paths(&self) -> Result<Vec<FailedPath>> {
        Ok(self.read(FAILED)?.unwrap_or_default())
    }

    pub fn under_way(&self) -> Result<Option<UnderWay>> {
        self.read(UNDER_WAY)
    }

    pub fn begin(&self, under_way: &UnderWay) -> Result<()> {
        self.write(UNDER_WAY, under_way)
    }

    pub fn end(&self) -> Result<()> {
        let file = self.dir.join(UNDER_WAY);
        match std::fs::remove_file(&file) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("failed to remove {}", file.display())),
        }
    }

    fn read<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<Option<T>> {
        let file = self.dir.join(name);
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("failed to read {}", file.display())),
        };
        let value = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is damaged; remove it to let deploy start afresh",
                file.display()
            )
        })?;
        Ok(Some(value))
    }

    fn write<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        self.ensure()?;
        let mut text = serde_json::to_vec_pretty(value).expect("serialisable deploy memory");
        text.push(b'\n');
        write_private_file(&self.dir.join(name), &text, false)
    }
}

#[cfg(test)]
mod tests {
    use super::super::generations::Generation;
    use super::*;

    #[test]
    fn remembers_failures_and_the_deploy_under_way() {
        let dir = tempfile::tempdir().unwrap();
        let memory = Memory::new(dir.path().join("deploy"));
        assert_eq!(memory.failed("/nix/store/a").unwrap(), None);
        memory
            .remember_failed("/nix/store/a", "check failed")
            .unwrap();
        memory.remember_failed("/nix/store/b", "hung").unwrap();
        memory
            .remember_failed("/nix/store/a", "failed again")
            .unwrap();
        let failed = memory.failed_paths().unwrap();
        assert_eq!(failed.len(), 2);
        assert_eq!(
            memory.failed("/nix/store/a").unwrap().unwrap().reason,
            "failed again"
        );

        assert_eq!(memory.under_way().unwrap(), None);
        let under_way = UnderWay {
            wanted: "/nix/store/c".into(),
            before: Some(Generation {
                number: 3,
                path: "/nix/store/b".into(),
            }),
            started: now(),
        };
        memory.begin(&under_way).unwrap();
        assert_eq!(memory.under_way().unwrap(), Some(under_way));
        memory.end().unwrap();
        memory.end().unwrap();
        assert_eq!(memory.under_way().unwrap(), None);

        std::fs::write(dir.path().join("deploy/failed.json"), "{nope").unwrap();
        let error = memory.failed_paths().unwrap_err().to_string();
        assert!(error.contains("is damaged"), "{error}");
    }
}
