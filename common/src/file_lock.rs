//! One process at a time: an exclusive `flock` on a small file, taken without waiting, which
//! the kernel lets go of when the holder ends in any way (kill -9 included), with a line
//! inside saying who holds it so that the next taker can name it. The server's state dir
//! (`state_dir`) and the host's deploy agent each keep one; what each writes there, how it
//! reads the holder's line and what it says about it are theirs, not this module's.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use anyhow::{Context, Result};

/// A taken lock file, held while it lives.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

/// Taking a lock file: ours, or what its holder wrote inside (as read, possibly empty).
#[derive(Debug)]
pub enum Taken {
    /// We hold it until the `FileLock` is dropped.
    Ours(FileLock),
    /// Another process holds it; what it wrote inside.
    Held(String),
}

/// Takes an exclusive lock on `path` (created 0600 when missing) without waiting; `name`
/// names the file in errors (e.g. "the deploy lock"). Once it is ours, the file holds only
/// `holder()`, which says who we are.
pub fn take(path: &Path, name: &str, holder: impl FnOnce() -> String) -> Result<Taken> {
    // Opened close-on-exec (std's default): a process the holder starts (a build, an
    // activation that outlives the agent) never inherits the lock, so a holder killed while
    // it runs can start again at once.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("failed to open {name} {}", path.display()))?;
    match try_exclusive(&file) {
        Ok(true) => {}
        Ok(false) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Ok(Taken::Held(text));
        }
        Err(error) => {
            return Err(error).with_context(|| format!("failed to lock {}", path.display()));
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "{}", holder())?;
    file.flush()?;
    Ok(Taken::Ours(FileLock { _file: file }))
}

/// `flock(LOCK_EX | LOCK_NB)` on `file`: `Ok(false)` when another open file holds a lock on
/// it. The lock lasts as long as this open file (every descriptor of it) does.
pub fn try_exclusive(file: &File) -> std::io::Result<bool> {
    // SAFETY: flock() only takes a descriptor and flags and touches no memory of ours; the
    // descriptor is `file`'s, borrowed for the whole call, so it is open and names that file
    // (not one closed and reused) while the kernel acts on it.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_reads_what_the_holder_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("some.lock");
        let first = match take(&path, "the lock", || "pid 1 (first)".to_string()).unwrap() {
            Taken::Ours(lock) => lock,
            Taken::Held(text) => panic!("the lock was free, yet held by {text:?}"),
        };
        match take(&path, "the lock", || {
            unreachable!("a held lock is never written")
        })
        .unwrap()
        {
            Taken::Held(text) => assert_eq!(text, "pid 1 (first)"),
            Taken::Ours(_) => panic!("two holders"),
        }
        drop(first);
        match take(&path, "the lock", || "pid 2".to_string()).unwrap() {
            Taken::Ours(_) => assert_eq!(std::fs::read_to_string(&path).unwrap(), "pid 2"),
            Taken::Held(text) => panic!("still held by {text:?}"),
        }
    }

    #[test]
    fn a_file_locked_elsewhere_is_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.lock");
        let holder = File::create(&path).unwrap();
        assert!(try_exclusive(&holder).unwrap());
        assert!(!try_exclusive(&File::open(&path).unwrap()).unwrap());
        drop(holder);
        assert!(try_exclusive(&File::open(&path).unwrap()).unwrap());
    }
}
