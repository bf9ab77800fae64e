//! The applets (`bt`, `bs`, `bl`, …) run as a user runs them: the real binary through the
//! symlinks `atuin-bootstrap links` makes, with a clean environment and a home of its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The applets of one user, against `server`.
pub(crate) struct Applets {
    pub bin: PathBuf,
    pub home: PathBuf,
    pub server: String,
}

impl Applets {
    pub(crate) fn new(work: &Path, server: &str) -> Applets {
        let bin = work.join("bin");
        let home = work.join("client-home");
        std::fs::create_dir_all(&home).unwrap();
        let made = Command::new(super::binary())
            .arg("links")
            .arg(&bin)
            .output()
            .unwrap();
        assert!(made.status.success());
        Applets {
            bin,
            home,
            server: server.to_string(),
        }
    }

    pub(crate) fn command(&self, applet: &str) -> Command {
        let mut command = Command::new(self.bin.join(applet));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("ATUIN_BOOTSTRAP_SERVER", &self.server)
            .stdin(Stdio::null());
        command
    }

    pub(crate) fn run(&self, applet: &str, args: &[&str]) -> Output {
        self.command(applet).args(args).output().unwrap()
    }
}
