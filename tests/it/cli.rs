//! The binary as users meet it: applet names through real symlinks, exit codes, key
//! commands, and `serve` starting with the client's variable set and stopping on SIGTERM.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::nix::{self, run_ok};
use crate::util::server::Spawned;
use crate::util::{binary, command_in};

#[test]
fn links_make_applets_that_pick_their_mode_by_name() {
    let home = tempfile::tempdir().unwrap();
    let bin = home.path().join("bin");
    let output = command_in(home.path())
        .arg("links")
        .arg(&bin)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (name, about) in [
        ("bt", "Queue builds"),
        ("bs", "status"),
        ("bl", "logs"),
        ("bootstrap-new-machine", "Join this machine"),
        // So that `atuin-bootstrap cancel N`, which the clients suggest, works too.
        ("atuin-bootstrap", "Build server"),
    ] {
        let link = bin.join(name);
        assert_eq!(std::fs::read_link(&link).unwrap(), binary());
        let help = Command::new(&link).arg("--help").output().unwrap();
        assert_eq!(help.status.code(), Some(0));
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(text.contains(about), "{name} --help: {text}");
        assert!(
            text.contains(&format!("Usage: {name}")),
            "{name} --help: {text}"
        );
    }
    // Running links again replaces the links instead of failing.
    let again = command_in(home.path())
        .arg("links")
        .arg(&bin)
        .output()
        .unwrap();
    assert!(again.status.success());
}

#[test]
fn argv0_override_and_usage_errors_exit_2() {
    let home = tempfile::tempdir().unwrap();
    let output = command_in(home.path())
        .env("ATUIN_BOOTSTRAP_ARGV0", "bs")
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("Usage: bs"));

    let output = command_in(home.path())
        .env("ATUIN_BOOTSTRAP_ARGV0", "bootstrap-new-machine")
        .arg("--yes")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--server"));

    // A client with no server URL anywhere: a configuration error.
    let output = command_in(home.path())
        .env("ATUIN_BOOTSTRAP_ARGV0", "bt")
        .arg("laptop")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no server URL"));

    let output = command_in(home.path())
        .arg("--no-such-flag")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output = command_in(home.path())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn generate_key_writes_a_private_key_nix_understands() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("secrets/cache.sec");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let output = command_in(home.path())
        .args(["cache", "generate-key", "box-1"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert!(printed.starts_with("box-1:"));
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let from_nix = run_ok(
        nix::nix("")
            .args(["key", "convert-secret-to-public"])
            .stdin(std::fs::File::open(&file).unwrap()),
    );
    assert_eq!(String::from_utf8(from_nix.stdout).unwrap().trim(), printed);

    let public = command_in(home.path())
        .args(["cache", "public-key", "--cache-key-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(public.stdout).unwrap().trim(), printed);

    // Never overwrites.
    let again = command_in(home.path())
        .args(["cache", "generate-key", "box-2"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(
        run_ok(
            nix::nix("")
                .args(["key", "convert-secret-to-public"])
                .stdin(std::fs::File::open(&file).unwrap())
        )
        .stdout
        .starts_with(b"box-1:")
    );
}

#[test]
fn serve_starts_with_the_client_variable_set_and_stops_on_sigterm() {
    let home = tempfile::tempdir().unwrap();
    // No config file and no --state-dir: the platform data dir holds the state.
    let state = home.path().join(".local/share/atuin-bootstrap");
    let mut command = command_in(home.path());
    command
        .env("ATUIN_BOOTSTRAP_SERVER", "http://buildbox:8780")
        .env("ATUIN_BOOTSTRAP_TOKEN", "secret")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null());
    let mut server = Spawned::start(command, &home.path().join("server.log"));
    let health = crate::util::http::get_json(&format!("{}/api/v1/health", server.url));
    assert_eq!(health["status"], "ok");

    let key = state.join("cache-key.sec");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let status = crate::util::http::get_json(&format!("{}/api/v1/status", server.url));
    let public = command_in(home.path())
        .args(["cache", "--state-dir"])
        .arg(&state)
        .arg("public-key")
        .output()
        .unwrap();
    assert_eq!(
        status["cache"]["public_keys"][0].as_str().unwrap(),
        String::from_utf8(public.stdout).unwrap().trim()
    );
    // Admin commands say which state dir they use, and whether a server uses it.
    let said = String::from_utf8(public.stderr).unwrap();
    let port = server.url.rsplit(':').next().unwrap();
    assert!(
        said.contains(&state.display().to_string())
            && said.contains(&format!("pid {}", server.child.id()))
            && said.contains(&format!("listening on 127.0.0.1:{port}")),
        "{said}"
    );
    // A state dir no server uses, while this one runs: refused, naming the one it uses
    // (tests/it/state_dir_owner.rs has the rest); with --force, done and warned about.
    let elsewhere = home.path().join("elsewhere");
    let refused = command_in(home.path())
        .args(["token", "create", "laptop", "--state-dir"])
        .arg(&elsewhere)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let token = command_in(home.path())
        .args(["token", "create", "laptop", "--force", "--state-dir"])
        .arg(&elsewhere)
        .output()
        .unwrap();
    assert!(token.status.success());
    let said = String::from_utf8(token.stderr).unwrap();
    assert!(
        said.contains("warning: no running server uses the state dir")
            && said.contains(&elsewhere.display().to_string()),
        "{said}"
    );
    assert_eq!(
        String::from_utf8(token.stdout).unwrap().lines().count(),
        1,
        "the token alone on stdout"
    );

    // SAFETY: kill() with a child's pid and a signal number.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status.code();
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        code,
        Some(0),
        "log: {}",
        std::fs::read_to_string(&server.log).unwrap_or_default()
    );
    assert!(
        !state.join("server.json").exists(),
        "a stopped server left its mark"
    );
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = command_in(home.path())
        .args(["serve", "--listen", &address, "--state-dir"])
        .arg(home.path().join("state"))
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("failed to listen on {address}")),
        "{stderr}"
    );
}

#[test]
fn usage_errors_give_one_hint_and_a_missing_subcommand_is_named() {
    let home = tempfile::tempdir().unwrap();
    let output = command_in(home.path())
        .args(["deploy", "--mode", "sideways"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(said.matches("--help").count(), 1, "{said}");
    assert!(!said.contains("For more information"), "{said}");
    assert!(said.contains("switch, boot, test"), "{said}");

    let output = command_in(home.path()).arg("token").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("create") && said.contains("revoke"), "{said}");
    assert!(
        said.trim_end()
            .ends_with("error: a subcommand is missing (its list is above)"),
        "{said}"
    );
}
