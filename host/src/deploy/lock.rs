//! One deploy at a time per host: an exclusive `flock` on `<deploy state>/deploy.lock` (see
//! `common::file_lock`), which the kernel lets go of when the holder ends in any way (kill -9
//! included), with the holder's pid and command written inside so a second deploy can say who
//! holds it.

use std::path::Path;

use anyhow::Result;

use common::file_lock::{self, FileLock};
use common::timestamp::now;

const LOCK_FILE: &str = "deploy.lock";

/// Held while it lives.
pub(super) type DeployLock = FileLock;

/// Taking the lock: ours, or who has it.
pub(super) enum Taken {
    Ours(DeployLock),
    /// Another deploy holds it: what it wrote about itself.
    Held(String),
}

/// Takes the lock without waiting; `what` says who we are (e.g. `deploy --watch`).
pub(super) fn take(dir: &Path, what: &str) -> Result<Taken> {
    let holder = || format!("pid {} ({what}), since {}", std::process::id(), now());
    Ok(
        match file_lock::take(&dir.join(LOCK_FILE), "the deploy lock", holder)? {
            file_lock::Taken::Ours(lock) => Taken::Ours(lock),
            file_lock::Taken::Held(text) => Taken::Held(match text.trim() {
                "" => "another deploy".to_string(),
                holder => holder.to_string(),
            }),
        },
    )
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
