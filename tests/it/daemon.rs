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

/// A nix-daemon of our own on the machine's store, with its own socket and `nix.conf`; killed
/// when dropped.
struct OwnDaemon {
    child: std::process::Child,
    socket: std::path::PathBuf,
}

impl OwnDaemon {
    /// Trusts `public_key` (and nothing else) for paths that clients add.
    fn start(dir: &Path, public_key: &str) -> OwnDaemon {
        let conf = dir.join("conf");
        std::fs::create_dir_all(&conf).unwrap();
        let system = std::fs::read_to_string("/etc/nix/nix.conf").unwrap_or_default();
        std::fs::write(
            conf.join("nix.conf"),
            format!("{system}\ntrusted-public-keys = {public_key}\nsubstituters =\n"),
        )
        .unwrap();
        let socket = dir.join("socket");
        let child = Command::new("nix-daemon")
            .env("NIX_CONF_DIR", &conf)
            .env("NIX_DAEMON_SOCKET_PATH", &socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("failed to start nix-daemon");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !socket.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "nix-daemon made no socket"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        OwnDaemon { child, socket }
    }
}

impl Drop for OwnDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` as nobody with `key`, its store reached through `daemon`, and a push token
/// made beforehand; returns the server and the token.
fn unprivileged_pusher(
    work: &Path,
    name: &str,
    key: &Path,
    daemon: &OwnDaemon,
) -> (Spawned, String) {
    let exe = work.join("atuin-bootstrap");
    if !exe.exists() {
        std::fs::copy(crate::util::binary(), &exe).unwrap();
    }
    let state = work.join(format!("{name}-state"));
    std::fs::create_dir(&state).unwrap();
    let token = server::tokens::TokenStore::new(&state)
        .create("laptop", &[server::tokens::Scope::Push])
        .unwrap();
    run_ok(
        Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(&state),
    );
    let home = work.join(format!("{name}-home"));
    std::fs::create_dir(&home).unwrap();
    give_to_nobody(&home);
    let mut command = Command::new("setpriv");
    command
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "--",
        ])
        .arg(&exe)
        .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(&state)
        .arg("--cache-key-file")
        .arg(key)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &home)
        .env("NIX_REMOTE", format!("unix://{}", daemon.socket.display()))
        .stdin(Stdio::null());
    let server = Spawned::start(command, &work.join(format!("{name}.log")));
    (server, token)
}

/// Pushed paths never enter the box's store: an unprivileged server that reads the store
/// through a daemon which trusts none of its keys takes a push, keeps it beside the store,
/// checks its references through the daemon, and serves it signed by the push key.
#[test]
fn an_unprivileged_server_keeps_pushed_paths_beside_the_store_it_reads_through_a_daemon() {
    use crate::util::pushable::{Pushable, box_has, box_serves, netrc, push};
    if !is_root() {
        eprintln!("skipped: needs root to start a server and a nix-daemon as other users");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let key = work.path().join("box-1.sec");
    run_ok(
        Command::new(crate::util::binary())
            .args(["cache", "generate-key", "box-1"])
            .arg(&key),
    );
    give_to_nobody(&key);
    let daemon_dir = work.path().join("daemon");
    std::fs::create_dir(&daemon_dir).unwrap();
    // The daemon trusts some other key: nothing the box signs could go into its store.
    let daemon = OwnDaemon::start(
        &daemon_dir,
        "stranger-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    );
    let (server, token) = unprivileged_pusher(work.path(), "box", &key, &daemon);
    let pushable = Pushable::build();
    let output = push(
        &pushable,
        &server.url,
        "zstd",
        Some(&netrc(work.path(), &token)),
    );
    assert!(
        output.status.success(),
        "nix copy --to the unprivileged box failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(&server.log).unwrap_or_default()
    );
    let status = crate::util::http::get_json(&format!("{}/api/v1/status", server.url));
    let push_name = status["cache"]["push_public_key"]
        .as_str()
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_string();
    for path in pushable.paths() {
        assert!(box_serves(&server.url, path), "{path} is not served");
        assert!(!box_has(path), "{path} went into the store");
        let narinfo = crate::util::http::get(&format!(
            "{}/{}.narinfo",
            server.url,
            crate::util::nix::hash_part(path)
        ))
        .text();
        assert!(narinfo.contains(&format!("Sig: {push_name}:")), "{narinfo}");
    }
}
