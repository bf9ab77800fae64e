//! The NixOS setup: the server as an unprivileged user, reading the store through the
//! nix-daemon socket (`NIX_REMOTE=daemon`) because it may not open Nix's database. Its
//! answers must be the very bytes the root server (reading the database) gives.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::fixtures::Fixture;
use crate::util::http::{field, get, narinfo_fields};
use crate::util::nix::{self, run_ok};
use crate::util::server::{InProcess, Spawned};

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    // SAFETY: geteuid() has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The group allowed to reach the daemon socket (Debian's packaging uses `nix-users`).
fn socket_group() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let dir = std::fs::metadata("/nix/var/nix/daemon-socket").ok()?;
    Some(dir.gid())
}

fn give_to_nobody(path: &Path) {
    std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).unwrap();
}

#[test]
fn an_unprivileged_server_reads_the_store_through_the_daemon() {
    if !is_root() {
        eprintln!("skipped: needs root to start a server as another user");
        return;
    }
    assert!(
        Path::new("/nix/var/nix/daemon-socket/socket").exists(),
        "nix-daemon is not running: start it (as .ci/run does) before the tests"
    );
    let fixture = Fixture::build();
    let work = tempfile::tempdir().unwrap();
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    // The binary, a key and a state dir that the unprivileged user can reach.
    let exe = work.path().join("atuin-bootstrap");
    std::fs::copy(crate::util::binary(), &exe).unwrap();
    let key = work.path().join("cache.sec");
    run_ok(
        Command::new(crate::util::binary())
            .args(["cache", "generate-key", "shared-1"])
            .arg(&key),
    );
    give_to_nobody(&key);
    let state = work.path().join("state");
    std::fs::create_dir(&state).unwrap();
    give_to_nobody(&state);
    let home = work.path().join("home");
    std::fs::create_dir(&home).unwrap();
    give_to_nobody(&home);

    let group = socket_group().unwrap_or(NOBODY);
    let mut command = Command::new("setpriv");
    command
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            &format!("--groups={group}"),
            "--",
        ])
        .arg(&exe)
        .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(&state)
        .arg("--cache-key-file")
        .arg(&key)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &home)
        .env("NIX_REMOTE", "daemon")
        .stdin(Stdio::null());
    let unprivileged = Spawned::start(command, &work.path().join("server.log"));
    let root = InProcess::start(&format!(
        "[cache]\nsecret_key_files = [{:?}]\n",
        key.display().to_string()
    ));

    for path in [&fixture.tree, &fixture.lib, &fixture.base] {
        let hash = nix::hash_part(path);
        let from_daemon = get(&format!("{}/{hash}.narinfo", unprivileged.url));
        let from_db = get(&format!("{}/{hash}.narinfo", root.url));
        assert_eq!(from_daemon.status, 200, "{}", from_daemon.text());
        assert_eq!(
            from_daemon.text(),
            from_db.text(),
            "answers differ for {path}"
        );
        let url = field(&narinfo_fields(&from_daemon.text()), "URL")
            .unwrap()
            .to_string();
        let nar = get(&format!("{}/{url}", unprivileged.url));
        assert!(nar.body == nix::dump(path), "NAR of {path} differs");
    }
    let log = std::fs::read_to_string(&unprivileged.log).unwrap();
    assert!(log.contains("through the daemon"), "{log}");

    // A real client copies the closure from the unprivileged server.
    let dest = tempfile::tempdir().unwrap();
    let client_home = tempfile::tempdir().unwrap();
    let public = root.public_key();
    let copy = nix::nix(&format!("trusted-public-keys = {public}\n"))
        .env("HOME", client_home.path())
        .env("XDG_CACHE_HOME", client_home.path().join("cache"))
        .args(["copy", "--from", &unprivileged.url, "--to"])
        .arg(dest.path())
        .arg(&fixture.tree)
        .output()
        .unwrap();
    assert!(
        copy.status.success(),
        "{}",
        String::from_utf8_lossy(&copy.stderr)
    );

    // Absent and deleted paths are 404 through the daemon too.
    let absent = get(&format!(
        "{}/00000000000000000000000000000000.narinfo",
        unprivileged.url
    ));
    assert_eq!(absent.status, 404);
    run_ok(nix::nix("").args(["store", "delete", &fixture.tree]));
    let gone = get(&format!(
        "{}/{}.narinfo",
        unprivileged.url,
        nix::hash_part(&fixture.tree)
    ));
    assert_eq!(gone.status, 404);
}
