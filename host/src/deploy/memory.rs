//! What a host's deploy remembers between runs, in its own state dir: the systems that failed
//! here (never tried again until the box has a newer target or they are forgotten; no deploy
//! loop), the last target this host acted on (so only a *new* target is deployed and a hand
//! switch is left alone), the last `retry_at` seen, the reports the box did not get, and the
//! note of the deploy under way with its phase (so a run killed at any point is finished, or
//! rolled back, by the next without the box). Files are written atomically. Not for the lock
//! (see `lock`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use common::protocol::host::Report;
use common::state_dir::{StateDir, write_private_file};
use common::timestamp::now;

const FAILED: &str = "failed.json";
const UNDER_WAY: &str = "deploy-under-way.json";
const ACTED: &str = "last-target.json";
const RETRY_SEEN: &str = "retry-seen.json";
const UNSENT: &str = "unsent-reports.json";
/// Unsent reports kept; the box needs only the newest, the rest are history.
const KEEP_UNSENT: usize = 20;
/// Failed systems remembered; older ones can no longer be the box's newest build.
const KEEP_FAILED: usize = 50;

/// A system that failed here, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FailedPath {
    pub path: String,
    pub reason: String,
    pub at: String,
}

/// A deploy that has begun changing the host: where it goes, where it came from, and how far
/// it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct UnderWay {
    pub wanted: String,
    /// The generation that was current before it (`None`: there was no profile).
    pub before: Option<super::generations::Generation>,
    pub started: String,
    /// The system that ran before it (what `test` mode returns to).
    #[serde(default)]
    pub before_running: Option<String>,
    /// The mode it activates in (`switch`, `boot`, `test`).
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub phase: Phase,
    /// Why it rolls back (phase `rolling_back`).
    #[serde(default)]
    pub reason: Option<String>,
    /// The rollback is for a passing trouble (a held lock, a timeout, the box away): the
    /// system is not remembered as failed.
    #[serde(default)]
    pub transient: bool,
    /// The activation started (a process that may outlive the agent).
    #[serde(default)]
    pub activation_pid: Option<i32>,
    /// The rollback is of a first boot that failed its checks: the old system is made the
    /// boot default again, then switched to.
    #[serde(default)]
    pub first_boot: bool,
}

/// How far a deploy got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Phase {
    /// The profile may have moved; activation and checks are under way.
    #[default]
    Switching,
    /// Going back: profile, then the old system, then remembered and reported.
    RollingBack,
    /// Activated for the next boot (or the kernel changed): its first boot is checked.
    RebootPending,
}

/// The target this host last acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Acted {
    pub path: String,
    pub at: String,
}

pub(super) struct Memory {
    dir: StateDir,
}

impl Memory {
    pub(super) fn new(dir: PathBuf) -> Memory {
        Memory {
            dir: StateDir::new(dir),
        }
    }

    pub(super) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Creates the state dir (0700) when it is missing.
    pub(super) fn ensure(&self) -> Result<()> {
        self.dir.ensure()
    }

    /// Why `path` failed here, if it did.
    pub(super) fn failed(&self, path: &str) -> Result<Option<FailedPath>> {
        Ok(self.failed_paths()?.into_iter().find(|f| f.path == path))
    }

    pub(super) fn remember_failed(&self, path: &str, reason: &str) -> Result<()> {
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

    pub(super) fn failed_paths(&self) -> Result<Vec<FailedPath>> {
        Ok(self.read(FAILED)?.unwrap_or_default())
    }

    /// Forgets every failed path (`deploy --retry`, the box's `fleet retry`).
    /// Forgets every failed path (`deploy --retry`, the box's `fleet retry`), and the last
    /// target acted on when it was one of them, so that it is tried again.
    pub(super) fn forget_failed(&self) -> Result<()> {
        let failed = self.failed_paths()?;
        if let Some(acted) = self.acted()?
            && failed.iter().any(|f| f.path == acted.path)
        {
            self.remove(ACTED)?;
        }
        self.remove(FAILED)
    }

    pub(super) fn acted(&self) -> Result<Option<Acted>> {
        self.read(ACTED)
    }

    pub(super) fn remember_acted(&self, path: &str) -> Result<()> {
        self.write(
            ACTED,
            &Acted {
                path: path.to_string(),
                at: now(),
            },
        )
    }

    /// The box's `retry_at` as last seen (`None`: never seen one).
    pub(super) fn retry_seen(&self) -> Result<Option<String>> {
        self.read(RETRY_SEEN)
    }

    pub(super) fn remember_retry_seen(&self, retry_at: &str) -> Result<()> {
        self.write(RETRY_SEEN, &retry_at)
    }

    /// Reports the box has not had yet, oldest first.
    pub(super) fn unsent(&self) -> Result<Vec<Report>> {
        Ok(self.read(UNSENT)?.unwrap_or_default())
    }

    pub(super) fn queue(&self, report: &Report) -> Result<()> {
        let mut unsent = self.unsent()?;
        unsent.push(report.clone());
        let cut = unsent.len().saturating_sub(KEEP_UNSENT);
        unsent.drain(..cut);
        self.write(UNSENT, &unsent)
    }

    /// Keeps only the reports from `sent` on (those before it reached the box).
    pub(super) fn sent(&self, sent: usize) -> Result<()> {
        let mut unsent = self.unsent()?;
        unsent.drain(..sent.min(unsent.len()));
        if unsent.is_empty() {
            self.remove(UNSENT)
        } else {
            self.write(UNSENT, &unsent)
        }
    }

    pub(super) fn under_way(&self) -> Result<Option<UnderWay>> {
        self.read(UNDER_WAY)
    }

    pub(super) fn begin(&self, under_way: &UnderWay) -> Result<()> {
        self.write(UNDER_WAY, under_way)
    }

    pub(super) fn end(&self) -> Result<()> {
        self.remove(UNDER_WAY)
    }

    fn remove(&self, name: &str) -> Result<()> {
        let file = self.dir.join(name);
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
            before_running: Some("/nix/store/b".into()),
            mode: Some("switch".into()),
            phase: Phase::RollingBack,
            reason: Some("check failed".into()),
            transient: false,
            activation_pid: None,
            first_boot: false,
        };
        memory.begin(&under_way).unwrap();
        assert_eq!(memory.under_way().unwrap(), Some(under_way));
        memory.end().unwrap();
        memory.end().unwrap();
        assert_eq!(memory.under_way().unwrap(), None);

        // A note from before phases were kept is a deploy switching.
        std::fs::write(
            dir.path().join("deploy/deploy-under-way.json"),
            r#"{"wanted":"/nix/store/c","before":null,"started":"x"}"#,
        )
        .unwrap();
        assert_eq!(memory.under_way().unwrap().unwrap().phase, Phase::Switching);
        memory.end().unwrap();

        memory.forget_failed().unwrap();
        assert!(memory.failed_paths().unwrap().is_empty());
        assert_eq!(memory.acted().unwrap(), None);
        memory.remember_acted("/nix/store/c").unwrap();
        assert_eq!(memory.acted().unwrap().unwrap().path, "/nix/store/c");

        let report = |n: usize| Report {
            state: common::protocol::host::ReportState::RolledBack,
            path: format!("/nix/store/{n}"),
            message: None,
            wanted: None,
        };
        for n in 0..3 {
            memory.queue(&report(n)).unwrap();
        }
        memory.sent(2).unwrap();
        assert_eq!(memory.unsent().unwrap(), vec![report(2)]);
        memory.sent(1).unwrap();
        assert!(memory.unsent().unwrap().is_empty());

        std::fs::write(dir.path().join("deploy/failed.json"), "{nope").unwrap();
        let error = memory.failed_paths().unwrap_err().to_string();
        assert!(error.contains("is damaged"), "{error}");
    }
}
