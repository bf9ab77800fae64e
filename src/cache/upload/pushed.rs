//! Pushed paths stay alive: each is a GC root `<state>/pushed/roots/<store path name>` (a
//! symlink registered with Nix as an indirect root, as the roots of builds are), whose own
//! modification time is the path's last push, with its NAR size beside it in `sizes/`. `gc`
//! drops roots whose last push is older than `cache.pushed_ttl`. Also the counts the status
//! and `/metrics` show, and the log line saying who pushed what.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use tokio::process::Command;

use super::put_narinfo::Accepted;
use super::Uploads;
use crate::nix::store::daemon::WriteSession;

/// The pushed roots of one state directory.
#[derive(Debug, Clone)]
pub struct PushedRoots {
    dir: PathBuf,
}

/// One pushed path as its root records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The store path's base name.
    pub name: String,
    pub last_push: SystemTime,
    pub nar_size: u64,
}

/// Paths and bytes pushed since the server started (for `/metrics`).
#[derive(Debug, Default)]
pub struct PushCounters {
    pub paths: AtomicU64,
    pub bytes: AtomicU64,
}

impl PushedRoots {
    pub fn new(state_dir: &Path) -> PushedRoots {
        PushedRoots {
            dir: state_dir.join("pushed"),
        }
    }

    fn roots_dir(&self) -> PathBuf {
        self.dir.join("roots")
    }

    fn sizes_dir(&self) -> PathBuf {
        self.dir.join("sizes")
    }

    /// Roots `path` (base name `name`) as pushed now: a symlink registered with Nix as an
    /// indirect root, through the daemon when there is one, else by `nix-store --add-root`.
    pub async fn add(
        &self,
        path: &str,
        name: &str,
        nar_size: u64,
        daemon: Option<&mut WriteSession>,
    ) -> Result<()> {
        for dir in [self.roots_dir(), self.sizes_dir()] {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
        }
        std::fs::write(self.sizes_dir().join(name), format!("{nar_size}\n"))
            .context("failed to record the pushed path's size")?;
        let link = self.roots_dir().join(name);
        // A fresh link each time: its modification time is the last push.
        let _ = std::fs::remove_file(&link);
        if let Some(daemon) = daemon {
            std::os::unix::fs::symlink(path, &link)
                .with_context(|| format!("failed to make the root {}", link.display()))?;
            return daemon.add_indirect_root(&link).await;
        }
        let result = Command::new("nix-store")
            .arg("--add-root")
            .arg(&link)
            .arg("--realise")
            .arg(path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| anyhow!("failed to run nix-store --add-root: {e}"))?;
        if !result.status.success() {
            bail!(
                "nix-store --add-root for {path} failed: {}",
                String::from_utf8_lossy(&result.stderr).trim()
            );
        }
        Ok(())
    }

    /// Every pushed root, in no particular order.
    pub fn list(&self) -> Result<Vec<Pushed>> {
        let entries = match std::fs::read_dir(self.roots_dir()) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).context("failed to read the pushed roots"),
        };
        let mut pushed = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
                continue;
            };
            let nar_size = std::fs::read_to_string(self.sizes_dir().join(&name))
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            pushed.push(Pushed {
                name,
                last_push: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                nar_size,
            });
        }
        Ok(pushed)
    }

    /// `(paths, bytes)` rooted now.
    pub fn totals(&self) -> (u64, u64) {
        let pushed = self.list().unwrap_or_default();
        (pushed.len() as u64, pushed.iter().map(|p| p.nar_size).sum())
    }

    /// Drops the roots last pushed longer than `ttl` ago; returns them.
    pub fn drop_older_than(&self, ttl: Duration) -> Result<Vec<Pushed>> {
        let now = SystemTime::now();
        let mut dropped = Vec::new();
        for pushed in self.list()? {
            if now.duration_since(pushed.last_push).unwrap_or_default() <= ttl {
                continue;
            }
            let link = self.roots_dir().join(&pushed.name);
            std::fs::remove_file(&link)
                .with_context(|| format!("failed to remove the root {}", link.display()))?;
            let _ = std::fs::remove_file(self.sizes_dir().join(&pushed.name));
            dropped.push(pushed);
        }
        Ok(dropped)
    }
}

/// After an accepted narinfo: counts an added path and logs who pushed it (`import` rooted
/// it before the narinfo was answered).
pub fn record(uploads: &Uploads, caller: Option<&str>, accepted: &Accepted) {
    let Accepted::Added { path, nar_size } = accepted else {
        return;
    };
    let who = caller.unwrap_or("(no token)");
    tracing::info!("token {who} pushed {path} ({nar_size} bytes)");
    uploads.counters.paths.fetch_add(1, Ordering::Relaxed);
    uploads
        .counters
        .bytes
        .fetch_add(*nar_size, Ordering::Relaxed);
}

/// Shared counters, cloned with the uploads.
pub type SharedCounters = Arc<PushCounters>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_roots_go_and_recent_ones_stay() {
        let state = tempfile::tempdir().unwrap();
        let roots = PushedRoots::new(state.path());
        std::fs::create_dir_all(roots.roots_dir()).unwrap();
        std::fs::create_dir_all(roots.sizes_dir()).unwrap();
        for (name, size) in [("aaa-old", 10u64), ("bbb-new", 32)] {
            std::os::unix::fs::symlink("/nix/store/x", roots.roots_dir().join(name)).unwrap();
            std::fs::write(roots.sizes_dir().join(name), size.to_string()).unwrap();
        }
        assert_eq!(roots.totals(), (2, 42));
        // Age one link by 40 days (without following it).
        let old = roots.roots_dir().join("aaa-old");
        let c_path = std::ffi::CString::new(old.to_str().unwrap()).unwrap();
        let then = SystemTime::now() - Duration::from_secs(40 * 86400);
        let secs = then
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let times = [
            libc::timespec {
                tv_sec: secs,
                tv_nsec: 0,
            },
            libc::timespec {
                tv_sec: secs,
                tv_nsec: 0,
            },
        ];
        // SAFETY: a valid C string and two timespecs.
        let rc = unsafe {
            libc::utimensat(
                libc::AT_FDCWD,
                c_path.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        assert_eq!(rc, 0);
        let dropped = roots
            .drop_older_than(Duration::from_secs(30 * 86400))
            .unwrap();
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].name, "aaa-old");
        assert_eq!(roots.totals(), (1, 32));
    }
}
