//! Git repositories for the repository side's tests: git run with no system or user
//! configuration and a fixed identity, an upstream with commits, and a mirror of it in a
//! temporary state directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::mirror::Mirror;

/// Runs git in `dir` with no system or user configuration and a fixed identity, and returns
/// its trimmed stdout.
pub(super) fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.org")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.org")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

pub(super) fn new_upstream(dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    dir.to_owned()
}

/// Commits `contents` as `file` and returns the new commit id.
pub(super) fn commit(repo: &Path, file: &str, contents: &str) -> String {
    fs::write(repo.join(file), contents).unwrap();
    git(repo, &["add", file]);
    git(
        repo,
        &["commit", "-q", "-m", &format!("write {file}: {contents}")],
    );
    git(repo, &["rev-parse", "HEAD"])
}

pub(super) struct Fixture {
    pub dir: TempDir,
    pub upstream: PathBuf,
}

impl Fixture {
    pub(super) fn new() -> Fixture {
        let dir = TempDir::new().unwrap();
        let upstream = new_upstream(&dir.path().join("upstream"));
        Fixture { dir, upstream }
    }

    pub(super) fn mirror_path(&self) -> PathBuf {
        self.dir.path().join("state/repo/fleet.git")
    }

    pub(super) fn mirror(&self) -> Mirror {
        self.mirror_of(self.upstream.to_str().unwrap(), "main")
    }

    pub(super) fn mirror_of(&self, url: &str, branch: &str) -> Mirror {
        Mirror::new(self.mirror_path(), url.to_owned(), branch.to_owned())
    }
}
