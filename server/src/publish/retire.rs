//! Taking paths out of the bucket when the box no longer keeps them: the narinfo first (a
//! referrer before what it refers to), the NAR only after `publish.nar_grace`, so a reader
//! that just read a narinfo still finds its NAR (and a CDN's cached narinfo too, within the
//! grace). Both steps are recorded, so a kill -9 between them is finished by the next run.
//! Also the lock that keeps the server's publishing and `atuin-bootstrap gc` from working on
//! the bucket at once. Blocking.

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use super::bucket::Bucket;
use super::record::Record;
use super::unix_now;

/// Deletes the narinfos of `order` (hash parts, referrers first) and records when each NAR
/// may go; how many left.
pub(super) fn narinfos(
    bucket: &Bucket,
    record: &Record,
    order: &[String],
    grace: Duration,
) -> Result<usize> {
    for hash in order {
        bucket.delete(&format!("{hash}.narinfo"))?;
        record
            .retire(hash, unix_now() + grace.as_secs())
            .context("failed to write the publish record")?;
    }
    Ok(order.len())
}

/// Deletes the NARs whose grace has passed (of paths taken out, and stale ones); how many.
pub(super) fn due_nars(bucket: &Bucket, record: &Record) -> Result<usize> {
    let due = record.due(unix_now())?;
    for (hash, nar_key) in &due {
        bucket.delete(nar_key)?;
        record
            .forget(hash)
            .context("failed to write the publish record")?;
    }
    let stale = record.due_stale(unix_now())?;
    for nar_key in &stale {
        bucket.delete(nar_key)?;
        record
            .forget_stale(nar_key)
            .context("failed to write the publish record")?;
    }
    Ok(due.len() + stale.len())
}

/// An exclusive `flock` on the publish lock file, held while it lives.
pub(super) struct BucketLock {
    _file: File,
}

impl BucketLock {
    /// Waits for the lock.
    pub(super) fn wait(path: &Path) -> Result<BucketLock> {
        Self::take(path, true).map(|lock| lock.expect("a blocking lock is taken"))
    }

    /// The lock, or `None` when someone holds it.
    pub(super) fn try_take(path: &Path) -> Result<Option<BucketLock>> {
        Self::take(path, false)
    }

    fn take(path: &Path, wait: bool) -> Result<Option<BucketLock>> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("failed to open {}", path.display()))?;
        let mode = if wait {
            libc::LOCK_EX
        } else {
            libc::LOCK_EX | libc::LOCK_NB
        };
        loop {
            // SAFETY: flock on a descriptor this function owns.
            if unsafe { libc::flock(file.as_raw_fd(), mode) } == 0 {
                return Ok(Some(BucketLock { _file: file }));
            }
            let error = std::io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EWOULDBLOCK) if !wait => return Ok(None),
                _ => {
                    return Err(error)
                        .with_context(|| format!("failed to lock {}", path.display()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("publish/lock");
        let held = BucketLock::wait(&path).unwrap();
        assert!(BucketLock::try_take(&path).unwrap().is_none());
        drop(held);
        assert!(BucketLock::try_take(&path).unwrap().is_some());
    }
}
