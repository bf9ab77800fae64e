//! The server's state directory: created private (0700), with files written atomically and
//! privately (0600). When root writes into a state dir that belongs to the service user (an
//! admin's `token create` on the box), the new files are handed to that user, so the service
//! can still read them.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    pub fn new(path: PathBuf) -> StateDir {
        StateDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

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

    /// Writes `name` atomically with mode 0600, owned by the directory's owner.
    pub fn write_private(&self, name: &str, contents: &[u8]) -> Result<PathBuf> {
        let target = self.join(name);
        write_private_file(&target, contents, false)?;
        Ok(target)
    }
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
