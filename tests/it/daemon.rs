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
    let token = atuin_bootstrap::tokens::TokenStore::new(&state)
        .create("laptop", &[atuin_bootstrap::tokens::Scope::Push])
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

#[test]
fn an_unprivileged_server_adds_pushed_paths_through_a_daemon_that_trusts_its_key() {
    use crate::cache_upload::{box_has, netrc, push, Pushable};
    if !is_root() {
        eprintln!("skipped: needs root to start a server and a nix-daemon as other users");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut keys = Vec::new();
    for name in ["trusted-box-1", "stranger-1"] {
        let key = work.path().join(format!("{name}.sec"));
        let made = run_ok(
            Command::new(crate::util::binary())
                .args(["cache", "generate-key", name])
                .arg(&key),
        );
        give_to_nobody(&key);
        let public = String::from_utf8(made.stdout).unwrap();
        let public = public.lines().last().unwrap().trim().to_string();
        keys.push((key, public));
    }
    let daemon_dir = work.path().join("daemon");
    std::fs::create_dir(&daemon_dir).unwrap();
    let daemon = OwnDaemon::start(&daemon_dir, &keys[0].1);

    // The server is no trusted Nix user; the daemon takes what the key it trusts signed.
    let (server, token) = unprivileged_pusher(work.path(), "box", &keys[0].0, &daemon);
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
    for path in pushable.paths() {
        assert!(box_has(path), "{path} was not added");
    }
    // Rooted through the daemon: the GC sees the roots under the server's state dir.
    let roots = run_ok(Command::new("nix-store").args(["--gc", "--print-roots"])).stdout;
    let roots = String::from_utf8_lossy(&roots);
    for path in pushable.paths() {
        assert!(
            roots
                .lines()
                .any(|l| l.contains("/box-state/pushed/roots/") && l.ends_with(path.as_str())),
            "{path} is not rooted: {roots}"
        );
    }

    // A box whose key its own Nix does not trust is refused by the daemon: nothing added.
    let (stranger, token) = unprivileged_pusher(work.path(), "stranger", &keys[1].0, &daemon);
    let refused = Pushable::build();
    let output = push(
        &refused,
        &stranger.url,
        "zstd",
        Some(&netrc(work.path(), &token)),
    );
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "a path signed by an untrusted key went in"
    );
    assert!(said.contains("trusted-public-keys"), "{said}");
    for path in refused.paths() {
        assert!(
            !box_has(path),
            "{path} was added though its key is not trusted"
        );
    }
}
