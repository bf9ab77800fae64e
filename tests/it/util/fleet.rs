//! A fleet repository for build-server tests: a real git repository holding an input-less
//! flake with two hosts, packages (a three-derivation chain, one that fails, one that hangs
//! until stopped) and a version that each `bump` changes, so every commit has new paths.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::nix::run_ok;

pub(crate) struct Fleet {
    pub dir: tempfile::TempDir,
    /// Where the hanging builder writes its pid (world-writable: builders run as nixbld).
    pub pid_dir: tempfile::TempDir,
    nonce: String,
    version: std::cell::Cell<u32>,
}

impl Fleet {
    pub(crate) fn new() -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let pid_dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(pid_dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let fleet = Fleet {
            dir,
            pid_dir,
            nonce: super::nonce(),
            version: std::cell::Cell::new(1),
        };
        git(fleet.path(), &["init", "-q", "-b", "main"]);
        fleet.write_flake();
        fleet.commit("first");
        fleet
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The file the hanging builder writes its pid to.
    pub(crate) fn pid_file(&self) -> PathBuf {
        self.pid_dir.path().join("builder.pid")
    }

    /// A new commit that changes every package's contents; returns its id.
    pub(crate) fn bump(&self) -> String {
        self.version.set(self.version.get() + 1);
        self.write_flake();
        self.commit("bump")
    }

    pub(crate) fn head(&self) -> String {
        head_of(self.path())
    }

    fn commit(&self, message: &str) -> String {
        commit_all(self.path(), message)
    }

    fn write_flake(&self) {
        let flake = r#"{
  outputs = { self }: let
    version = "@VERSION@";
    mk = name: deps: script: derivation {
      inherit name version;
      nonce = "@NONCE@";
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ "-c" "PATH=/bin:/usr/bin\n${script}\necho ${name} ${version} ${toString deps} > $out" ];
    };
    host = name: { config.system.build.toplevel = mk "nixos-system-${name}" [ ] "echo building host ${name}"; };
  in {
    nixosConfigurations.laptop = host "laptop";
    nixosConfigurations.desktop = host "desktop";
    packages.x86_64-linux = rec {
      hello = mk "hello" [ ] "echo hello from the builder";
      greet = mk "greet" [ ] "echo greetings from the builder";
      step1 = mk "step1" [ ] "echo step one";
      step2 = mk "step2" [ step1 ] "echo step two";
      chain = mk "chain" [ step2 ] "echo step three";
      broken = mk "broken" [ ] "echo this builder fails on purpose >&2; exit 3";
      hang = mk "hang" [ ] "echo $$ > @PIDFILE@; echo hanging; exec sleep 3000";
    };
  };
}
"#;
        let text = flake
            .replace("@VERSION@", &self.version.get().to_string())
            .replace("@NONCE@", &self.nonce)
            .replace("@PIDFILE@", &self.pid_file().display().to_string());
        std::fs::write(self.path().join("flake.nix"), text).unwrap();
    }
}

/// Commits everything in the repository at `dir`; returns the new commit's id.
pub(crate) fn commit_all(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(
        dir,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "-m",
            message,
        ],
    );
    head_of(dir)
}

/// The id of the commit the repository at `dir` is on.
pub(crate) fn head_of(dir: &Path) -> String {
    let out = run_ok(
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["rev-parse", "HEAD"]),
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn git(dir: &Path, args: &[&str]) {
    run_ok(Command::new("git").arg("-C").arg(dir).args(args));
}
