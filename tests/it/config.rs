//! Configuration as docs/reference.md fixes it: one file, flag > env > file > default, unknown keys
//! rejected with the key and file named, `config show` with each value's source.

use std::process::Output;

use crate::util::command_in;

fn show_json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "config show failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn defaults_need_no_file() {
    let home = tempfile::tempdir().unwrap();
    let output = command_in(home.path())
        .args(["config", "show", "--json"])
        .output()
        .unwrap();
    let shown = show_json(&output);
    assert_eq!(shown["file"], serde_json::Value::Null);
    assert_eq!(shown["keys"]["server.listen"]["value"], "127.0.0.1:8780");
    assert_eq!(shown["keys"]["server.listen"]["source"], "default");
    assert_eq!(shown["keys"]["cache.priority"]["value"], 30);
    let state = home.path().join(".local/share/atuin-bootstrap");
    assert_eq!(
        shown["keys"]["server.state_dir"]["value"],
        state.display().to_string()
    );
}

#[test]
fn env_beats_file_beats_default_and_short_forms_win() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(".config/atuin-bootstrap");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    std::fs::write(
        &file,
        "# the user's file\n[cache]\npriority = 50\ncompression = \"zstd\"\n[repo]\npoll_interval = 90\n[client]\nserver = \"http://from-file:1\"\n",
    )
    .unwrap();
    let output = command_in(home.path())
        .env("ATUIN_BOOTSTRAP_CACHE__PRIORITY", "60")
        .env("ATUIN_BOOTSTRAP_CLIENT__SERVER", "http://long-form:2")
        .env("ATUIN_BOOTSTRAP_SERVER", "http://short-form:3")
        .env("ATUIN_BOOTSTRAP_BUILD__DEFAULT_TARGETS", "laptop, desktop")
        .env("ATUIN_BOOTSTRAP_REPO__POLL_INTERVAL", "5m")
        .args(["config", "show", "--json"])
        .output()
        .unwrap();
    let shown = show_json(&output);
    let keys = &shown["keys"];
    assert_eq!(shown["file"], file.display().to_string());
    assert_eq!(keys["cache.priority"]["value"], 60);
    assert_eq!(
        keys["cache.priority"]["source"],
        "env ATUIN_BOOTSTRAP_CACHE__PRIORITY"
    );
    assert_eq!(keys["cache.compression"]["value"], "zstd");
    assert_eq!(
        keys["cache.compression"]["source"],
        format!("file {}", file.display())
    );
    assert_eq!(keys["client.server"]["value"], "http://short-form:3");
    assert_eq!(
        keys["build.default_targets"]["value"],
        serde_json::json!(["laptop", "desktop"])
    );
    assert_eq!(keys["repo.poll_interval"]["value"], 300);
}

#[test]
fn the_config_flag_and_env_choose_the_file() {
    let home = tempfile::tempdir().unwrap();
    let a = home.path().join("a.toml");
    let b = home.path().join("b.toml");
    std::fs::write(&a, "[cache]\npriority = 1\n").unwrap();
    std::fs::write(&b, "[cache]\npriority = 2\n").unwrap();
    let output = command_in(home.path())
        .env("ATUIN_BOOTSTRAP_CONFIG", &a)
        .args(["config", "show", "--json"])
        .output()
        .unwrap();
    assert_eq!(show_json(&output)["keys"]["cache.priority"]["value"], 1);
    let output = command_in(home.path())
        .env("ATUIN_BOOTSTRAP_CONFIG", &a)
        .args(["config", "show", "--json", "--config"])
        .arg(&b)
        .output()
        .unwrap();
    assert_eq!(show_json(&output)["keys"]["cache.priority"]["value"], 2);
}

#[test]
fn unknown_keys_are_errors_naming_key_and_file() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("bad.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"127.0.0.1:1\"\nlsten = \"typo\"\n",
    )
    .unwrap();
    let output = command_in(home.path())
        .args(["config", "show", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("server.lsten"), "{stderr}");
    assert!(stderr.contains("did you mean `server.listen`?"), "{stderr}");
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one readable sentence: {stderr}");

    for (text, hint) in [
        (
            "[client]
sevrer = \"http://x\"\n",
            "did you mean `client.server`?",
        ),
        (
            "[cilent]
server = \"http://x\"\n",
            "did you mean `[client]`?",
        ),
    ] {
        std::fs::write(&file, text).unwrap();
        let output = command_in(home.path())
            .args(["config", "show", "--config"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(hint), "{text}: {stderr}");
    }

    std::fs::write(&file, "[nope]\nx = 1\n").unwrap();
    let output = command_in(home.path())
        .args(["config", "show", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nope"));

    let output = command_in(home.path())
        .env("ATUIN_BOOTSTRAP_CACHE__COLOUR", "blue")
        .args(["config", "show"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("ATUIN_BOOTSTRAP_CACHE__COLOUR"));
}

#[test]
fn broken_files_and_values_are_configuration_errors() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("c.toml");
    for (text, needle) in [
        ("[cache\npriority = 1", "not valid TOML at line 1, column"),
        (
            "[cache]\npriority = = 1",
            "not valid TOML at line 2, column 12",
        ),
        ("[cache]\npriority = \"high\"", "cache.priority"),
        ("[cache]\ncompression = \"xz\"", "cache.compression"),
        ("[repo]\npoll_interval = \"soon\"", "repo.poll_interval"),
        ("[server]\nlisten = \"nowhere\"", "server.listen"),
    ] {
        std::fs::write(&file, text).unwrap();
        let output = command_in(home.path())
            .args(["config", "show", "--config"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{text}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{text}: {stderr}");
        assert!(
            !stderr.contains("Error {") && !stderr.contains("backtrace"),
            "{stderr}"
        );
    }
    let output = command_in(home.path())
        .args(["config", "show", "--config", "/nonexistent/config.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/config.toml"));
}
