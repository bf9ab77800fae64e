//! A git repository holding a flake that the test writes itself, commit by commit, for
//! tests that need builds the shared fixture fleet does not have (a builder that waits for
//! a file, a package that fails at one commit and builds at the next, a commit message).

use std::path::Path;
use std::process::Command;

use super::nix::run_ok;

pub(crate) struct FlakeRepo {
    pub dir: tempfile::TempDir,
    /// Unique per repository, for flakes to put in their derivations (fresh paths per test).
    pub nonce: String,
}

impl FlakeRepo {
    pub(crate) fn new() -> FlakeRepo {
        let repo = FlakeRepo {
            dir: tempfile::tempdir().unwrap(),
            nonce: super::nonce(),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `flake` (with `@NONCE@` replaced) as `flake.nix` and commits it with
    /// `message`; returns the commit id.
    pub(crate) fn commit(&self, flake: &str, message: &str) -> String {
        std::fs::write(
            self.path().join("flake.nix"),
            flake.replace("@NONCE@", &self.nonce),
        )
        .unwrap();
        self.git(&["add", "-A"]);
        self.git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "-m",
            message,
        ]);
        let out = run_ok(
            Command::new("git")
                .arg("-C")
                .arg(self.path())
                .args(["rev-parse", "HEAD"]),
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn git(&self, args: &[&str]) {
        run_ok(Command::new("git").arg("-C").arg(self.path()).args(args));
    }
}
