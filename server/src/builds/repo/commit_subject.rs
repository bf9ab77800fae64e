//! The first line of a commit's message in the mirror, for the status page. Read with gix;
//! never fetches, never changes the mirror.

use std::path::Path;

use anyhow::{Context, Result};

/// The subject (first line) of commit `rev` (40 hex digits) in the repository at `repo`.
pub(crate) fn of(repo: &Path, rev: &str) -> Result<String> {
    let failed = || {
        format!(
            "failed to read commit {rev} in the mirror {}",
            repo.display()
        )
    };
    let repo = gix::open(repo).with_context(failed)?;
    let id = gix::ObjectId::from_hex(rev.as_bytes()).with_context(failed)?;
    let commit = repo.find_commit(id).with_context(failed)?;
    let message = commit.message().with_context(failed)?;
    Ok(message.summary().to_string())
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    #[test]
    fn the_subject_is_the_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(["-c", "user.name=t", "-c", "user.email=t@t"])
                .args(args)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        git(&["init", "-q", "-b", "main"]);
        std::fs::write(dir.path().join("f"), "x").unwrap();
        git(&["add", "f"]);
        git(&["commit", "-q", "-m", "<b>first</b> line\n\nmore words"]);
        let rev = git(&["rev-parse", "HEAD"]);
        assert_eq!(super::of(dir.path(), &rev).unwrap(), "<b>first</b> line");
        assert!(super::of(dir.path(), &"0".repeat(40)).is_err());
    }
}
