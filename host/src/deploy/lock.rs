//! One deploy at a time per host: an exclusive `flock` on `<deploy state>/deploy.lock`, which
//! the kernel lets go of when the holder ends in any way (kill -9 included), with the holder's
//! pid and command written inside so a second deploy can say who holds it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use anyhow::{Context, Result};

use common::timestamp::now;

const LOCK_FILE: &str = "deploy.lock";

/// Held while it lives.
#[derive(Debug)]
pub struct DeployLock {
    _file: File,
}

/// Taking the lock: ours, or who has it.
pub enum Taken {
    Ours(DeployLock),
    /// Another deploy holds it: what it wrote about itself.
    Held(String),
}

/// Takes the lock without waiting; `what` says who we are (e.g. `deploy --watch`).
pub fn take(dir: &Path, what: &str) -> Result<Taken> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("failed to open the deploy lock {}", path.display()))?;
    // SAFETY: flock() on a descriptor we own; it touches no memory of ours.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    if !locked {
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(error).with_context(|| format!("failed to lock {}", path.display()));
        }
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        return Ok(Taken::Held(if holder.is_empty() {
            "another deploy".to_string()
        } else {
            holder.to_string()
        }));
    }
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "pid {} ({what}), since {}", std::process::id(), now())?;
    file.flush()?;
    Ok(Taken::Ours(DeployLock { _file: file }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_learns_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = match take(dir.path(), "deploy --watch").unwrap() {
            Taken::Ours(lock) => lock,
            Taken::Held(_) => panic!("the lock was free"),
        };
        match take(dir.path(), "deploy").unwrap() {
            Taken::Held(holder) => {
                assert!(
                    holder.contains(&format!("pid {}", std::process::id())),
                    "{holder}"
                );
                assert!(holder.contains("deploy --watch"), "{holder}");
            }
            Taken::Ours(_) => panic!("two deploys held the lock"),
        }
        drop(first);
        assert!(matches!(
            take(dir.path(), "deploy").unwrap(),
            Taken::Ours(_)
        ));
    }
}
