//! The server's state directory: created private (0700), with files written atomically and
//! privately (0600). When root writes into a state dir that belongs to the service user (an
//! admin's `token create` on the box), the new files are handed to that user, so the service
//! can still read them. One server at a time owns it: an exclusive `flock` on `server.lock` (see
//! `file_lock`), which the kernel lets go of when the server ends in any way (kill -9 included).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::file_lock::{self, FileLock, Taken};

/// The server's state directory (`server.state_dir`): jobs, logs, roots, tokens, the key.
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// The state dir at `path`; nothing is created until `ensure`.
    pub fn new(path: PathBuf) -> StateDir {
        StateDir { path }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Creates the directory (0700) when it is missing.
    pub fn ensure(&self) -> Result<()> {
        if self.path.is_dir() {
            return Ok(());
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.path)
            .with_context(|| {
                format!(
                    "failed to create the state directory {}",
                    self.path.display()
                )
            })
    }

    /// Takes the server's exclusive lock on the directory without waiting: `Err` naming the
    /// process that holds it. The holder's pid is written inside, so a second server can name it
    /// before the first has written its marker.
    pub fn lock_exclusive(&self) -> Result<std::result::Result<StateLock, LockHolder>> {
        let path = self.join(LOCK_FILE);
        let holder = || format!("pid {}", std::process::id());
        match file_lock::take(&path, "the state dir's lock", holder)? {
            Taken::Ours(lock) => Ok(Ok(StateLock { _lock: lock })),
            Taken::Held(text) => {
                let pid = text
                    .trim()
                    .strip_prefix("pid ")
                    .and_then(|p| p.parse().ok());
                Ok(Err(LockHolder { pid }))
            }
        }
    }

    /// Writes `name` atomically with mode 0600, owned by the directory's owner.
    pub fn write_private(&self, name: &str, contents: &[u8]) -> Result<PathBuf> {
        let target = self.join(name);
        write_private_file(&target, contents, false)?;
        Ok(target)
    }
}

const LOCK_FILE: &str = "server.lock";

/// The state dir's lock, held while it lives.
#[derive(Debug)]
pub struct StateLock {
    _lock: FileLock,
}

/// Who holds the state dir's lock, as far as its lock file tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    /// The holder's pid, from the lock file; `None` when the file does not say.
    pub pid: Option<u32>,
}

/// Writes a 0600 file atomically (a temporary file renamed into place), owned by the owner of
/// the directory it lands in. With `must_be_new`, an existing file is an error, not replaced.
pub fn write_private_file(target: &Path, contents: &[u8], must_be_new: bool) -> Result<()> {
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if must_be_new && target.symlink_metadata().is_ok() {
        anyhow::bail!("{} already exists; not replacing it", target.display());
    }
    let file_name = target
        .file_name()
        .with_context(|| format!("{} is not a file path", target.display()))?;
    let temporary = dir.join(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        if let Ok(meta) = fs::metadata(dir) {
            give_to(&temporary, meta.uid(), meta.gid())?;
        }
        Ok(())
    };
    let result = write().and_then(|()| {
        if must_be_new {
            fs::hard_link(&temporary, target).and_then(|()| fs::remove_file(&temporary))
        } else {
            fs::rename(&temporary, target)
        }
    });
    if let Err(e) = result {
        let _ = fs::remove_file(&temporary);
        return Err(e).with_context(|| format!("failed to write {}", target.display()));
    }
    Ok(())
}

/// Hands a file we (root) created to `uid:gid`; a no-op for anyone else or the same owner.
fn give_to(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    if !crate::os::is_root() || uid == 0 {
        return Ok(());
    }
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lock_holder_at_a_time_and_it_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().to_path_buf());
        let first = state.lock_exclusive().unwrap().expect("the lock was free");
        let holder = state.lock_exclusive().unwrap().expect_err("two holders");
        assert_eq!(holder.pid, Some(std::process::id()));
        drop(first);
        assert!(state.lock_exclusive().unwrap().is_ok());
    }
}
