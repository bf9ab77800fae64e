//! A closure only a laptop's store has, pushed to a box as a laptop pushes: built by real
//! `nix build`, copied into a chroot store and deleted from the machine's own (the box's), then
//! sent with a real `nix copy --to http://…`. Also whether the box serves a path and whether
//! its store holds it. Not the upload protocol's refusals (those are the tests' own).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::fixtures::{path_ending, write_mk_flake};
use super::http::get;
use super::nix::{self, run_ok};

/// A closure `top → lib → base` that exists only in a chroot store (`root`), not in the box's.
pub(crate) struct Pushable {
    _flake: tempfile::TempDir,
    root: tempfile::TempDir,
    pub top: String,
    pub lib: String,
    pub base: String,
}

impl Pushable {
    pub(crate) fn build() -> Pushable {
        let flake = tempfile::tempdir().unwrap();
        let body = r#"    base = mk "pushed-base" "mkdir -p $out; echo base > $out/base.txt" {};
    lib = mk "pushed-lib" "mkdir -p $out/lib; echo $base > $out/lib/base-path; ln -s base-path $out/lib/link" { inherit base; };
    top = mk "pushed-top" "mkdir -p $out/bin; echo $lib > $out/lib-path; echo $out > $out/self; printf '#!/bin/sh\necho hi\n' > $out/bin/hi; chmod +x $out/bin/hi" { inherit lib; };
  in { packages.x86_64-linux = { inherit base lib top; }; };
"#;
        write_mk_flake(flake.path(), body);
        let top = nix::build(flake.path(), "top");
        let closure = nix::closure(&top);
        let (lib, base) = (
            path_ending(&closure, "-pushed-lib"),
            path_ending(&closure, "-pushed-base"),
        );
        let root = tempfile::tempdir().unwrap();
        run_ok(
            nix::nix("")
                .args(["copy", "--no-check-sigs", "--to"])
                .arg(format!("local?root={}", root.path().display()))
                .arg(&top),
        );
        run_ok(Command::new("nix-store").args(["--delete", &top, &lib, &base]));
        let pushable = Pushable {
            _flake: flake,
            root,
            top,
            lib,
            base,
        };
        for path in pushable.paths() {
            assert!(!box_has(path), "{path} is still in the box's store");
        }
        pushable
    }

    pub(crate) fn paths(&self) -> [&String; 3] {
        [&self.top, &self.lib, &self.base]
    }

    fn store_url(&self) -> String {
        format!("local?root={}", self.root.path().display())
    }

    /// The NAR of `path` as the chroot store holds it.
    pub(crate) fn nar(&self, path: &str) -> Vec<u8> {
        let on_disk = self.root.path().join(path.trim_start_matches('/'));
        run_ok(Command::new("nix-store").arg("--dump").arg(on_disk)).stdout
    }
}

/// Whether the box serves `path` (a narinfo), from its store or its pushed area.
pub(crate) fn box_serves(server: &str, path: &str) -> bool {
    get(&format!("{server}/{}.narinfo", nix::hash_part(path))).status == 200
}

/// Whether the box's store (the machine's own) holds `path`.
pub(crate) fn box_has(path: &str) -> bool {
    Command::new("nix-store")
        .args(["--check-validity", path])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// A netrc file in `dir` giving `token` as the password for the box on loopback.
pub(crate) fn netrc(dir: &Path, token: &str) -> PathBuf {
    let file = dir.join("netrc");
    std::fs::write(
        &file,
        format!("machine 127.0.0.1 login pusher password {token}\n"),
    )
    .unwrap();
    file
}

/// `nix copy --to URL?compression=C` from the chroot store, as a laptop would push.
pub(crate) fn push(
    pushable: &Pushable,
    url: &str,
    compression: &str,
    netrc: Option<&Path>,
) -> std::process::Output {
    let home = tempfile::tempdir().unwrap();
    let mut command = nix::nix("");
    command
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .args(["copy", "--from", &pushable.store_url(), "--to"])
        .arg(format!("{url}?compression={compression}"))
        .arg(&pushable.top);
    if let Some(netrc) = netrc {
        command.arg("--netrc-file").arg(netrc);
    }
    command.output().unwrap()
}
