//! One server per state dir, and admin commands that cannot miss it: a second `serve` on a
//! state dir in use exits 2 naming the first (and leaves its marker alone); `token`, `gc` and
//! `cache` on a state dir no server uses, while a running server uses another, exit 2 naming
//! that one's `--state-dir`, unless `--force`.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::util::server::Spawned;
use crate::util::{binary, command_in};

fn serve(home: &Path, state: &Path, log: &Path) -> Spawned {
    let mut command = command_in(home);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(state)
        .stdin(Stdio::null());
    Spawned::start(command, log)
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn marker(state: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(state.join("server.json")).unwrap()).unwrap()
}

#[test]
fn a_second_server_on_a_state_dir_in_use_exits_2_naming_the_first() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    let state = work.path().join("state");
    let first = serve(&home, &state, &work.path().join("first.log"));
    let before = marker(&state);
    let address = first.url.trim_start_matches("http://").to_string();

    // On another port, and on the same one: both name the first server, not "address in use".
    for listen in ["127.0.0.1:0", address.as_str()] {
        let second = command_in(&home)
            .args(["serve", "--listen", listen, "--state-dir"])
            .arg(&state)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let said = text(&second);
        assert_eq!(second.status.code(), Some(2), "{said}");
        assert!(
            said.contains(&format!("pid {}", first.child.id())),
            "{said}"
        );
        assert!(said.contains(&address), "{said}");
        assert!(said.contains("in use by another server"), "{said}");
    }
    // The first server's marker still names it, and it still answers.
    assert_eq!(marker(&state), before);
    assert_eq!(before["pid"], first.child.id());
    crate::util::http::wait_healthy(&first.url);

    // Once it is gone (even by SIGKILL), the state dir is free at once.
    drop(first);
    let again = serve(&home, &state, &work.path().join("again.log"));
    assert_eq!(marker(&state)["pid"], again.child.id());
}

#[test]
fn admin_commands_on_an_unused_state_dir_name_the_used_one() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    let used = work.path().join("used-state");
    let server = serve(&home, &used, &work.path().join("server.log"));
    let used_dir = std::fs::canonicalize(&used).unwrap();
    // No --state-dir: the default one (in this HOME), which no server uses.
    let default_state = home.join(".local/share/atuin-bootstrap");

    let admin = |args: &[&str]| -> Output { command_in(&home).args(args).output().unwrap() };
    for args in [
        &["token", "create", "laptop"][..],
        &["token", "list"],
        &["gc"],
        &["cache", "public-key"],
    ] {
        let refused = admin(args);
        let said = text(&refused);
        assert_eq!(refused.status.code(), Some(2), "{args:?}: {said}");
        assert!(
            said.contains(&format!("--state-dir {}", used_dir.display())),
            "{args:?}: {said}"
        );
        assert!(
            said.contains(&format!("pid {}", server.child.id())),
            "{args:?}: {said}"
        );
        assert!(said.contains("--force"), "{args:?}: {said}");
        assert!(refused.stdout.is_empty(), "{args:?}");
    }
    assert!(
        !default_state.join("tokens.json").exists(),
        "a refused token create wrote a token"
    );

    // --force: done where asked, with a warning that names the other server.
    let forced = admin(&["token", "create", "laptop", "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced));
    assert!(text(&forced).contains("warning: "), "{}", text(&forced));
    assert!(default_state.join("tokens.json").exists());

    // The server's own state dir: no refusal, the token lands where the server reads it.
    let right = Command::new(binary())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .args(["token", "create", "ci", "--state-dir"])
        .arg(&used)
        .output()
        .unwrap();
    assert_eq!(right.status.code(), Some(0), "{}", text(&right));
    assert!(
        text(&right).contains("the server running there"),
        "{}",
        text(&right)
    );

    // Once the server has stopped, the default state dir is only warned about, as before.
    drop(server);
    let alone = admin(&["token", "list"]);
    assert_eq!(alone.status.code(), Some(0), "{}", text(&alone));
    assert!(
        text(&alone).contains("warning: no running server"),
        "{}",
        text(&alone)
    );
}
