//! Nix's remote builders in the status: read from Nix's `builders` setting (inline and
//! `@file`), probed with `nix store ping` in the background.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::build_server::wait_for;
use crate::util::http::get_json;
use crate::util::nix::NIX_CONFIG;
use crate::util::server::Spawned;

/// A server whose Nix has `builders` as given.
fn start(builders: &str, dir: &std::path::Path, extra_env: &[(&str, &str)]) -> Spawned {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nstate_dir = {:?}\n",
            dir.join("state").display().to_string()
        ),
    )
    .unwrap();
    let mut command = Command::new(crate::util::binary());
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("NIX_CONFIG", format!("{NIX_CONFIG}builders = {builders}\n"))
        .envs(extra_env.iter().copied())
        .arg("--config")
        .arg(&config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null());
    Spawned::start(command, &dir.join("server.log"))
}

/// The builders once every one has been probed.
fn probed_builders(server: &Spawned) -> Vec<serde_json::Value> {
    wait_for(Duration::from_secs(30), || {
        let status = get_json(&format!("{}/api/v1/status", server.url));
        let builders = status["builders"].as_array()?.clone();
        (!builders.is_empty() && builders.iter().all(|b| b["last_checked"].is_string()))
            .then_some(builders)
    })
    .expect("the builders were never probed")
}

#[test]
fn an_unreachable_builder_is_listed_as_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        "ssh-ng://127.0.0.1:1?remote-store=local%3Froot%3D/nowhere aarch64-linux,x86_64-linux - 3 1 big-parallel kvm",
        dir.path(),
        &[("NIX_SSHOPTS", "-o ConnectTimeout=2 -o BatchMode=yes")],
    );
    let builders = probed_builders(&server);
    assert_eq!(builders.len(), 1, "{builders:?}");
    let b = &builders[0];
    assert_eq!(
        b["uri"],
        "ssh-ng://127.0.0.1:1?remote-store=local%3Froot%3D/nowhere"
    );
    assert_eq!(
        b["systems"],
        serde_json::json!(["aarch64-linux", "x86_64-linux"])
    );
    assert_eq!(b["max_jobs"], 3);
    assert_eq!(b["features"], serde_json::json!(["big-parallel", "kvm"]));
    assert_eq!(b["reachable"], false);

    // bs shows them as a table, the status page as a section.
    let bs = Command::new(crate::util::binary())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("ATUIN_BOOTSTRAP_SERVER", &server.url)
        .arg("status")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&bs.stdout);
    assert!(bs.status.success(), "{text}");
    assert!(text.contains("BUILDER"), "{text}");
    assert!(
        text.contains("ssh-ng://127.0.0.1:1?remote-store=local%3Froot%3D/nowhere  aarch64-linux,x86_64-linux  3"),
        "{text}"
    );
    assert!(text.contains("unreachable"), "{text}");
    let page = crate::util::http::get(&format!("{}/", server.url)).text();
    assert!(page.contains("<section id=\"builders\">"), "{page}");
    assert!(page.contains("<strong>unreachable</strong>"), "{page}");
}

#[test]
fn builders_from_a_file_and_a_local_store_that_answers() {
    let dir = tempfile::tempdir().unwrap();
    let machines = dir.path().join("machines");
    let root = dir.path().join("builder-store");
    std::fs::write(
        &machines,
        format!(
            "# a comment\n{} x86_64-linux - 2\n",
            format_args!("local?root={}", root.display())
        ),
    )
    .unwrap();
    let server = start(&format!("@{}", machines.display()), dir.path(), &[]);
    let builders = probed_builders(&server);
    assert_eq!(builders.len(), 1, "{builders:?}");
    assert_eq!(builders[0]["uri"], format!("local?root={}", root.display()));
    assert_eq!(builders[0]["max_jobs"], 2);
    assert_eq!(builders[0]["reachable"], true, "{builders:?}");
}

#[test]
fn no_builders_is_an_empty_list() {
    let dir = tempfile::tempdir().unwrap();
    let server = start("", dir.path(), &[]);
    std::thread::sleep(Duration::from_secs(2));
    let status = get_json(&format!("{}/api/v1/status", server.url));
    assert_eq!(status["builders"], serde_json::json!([]));
    let page = crate::util::http::get(&format!("{}/", server.url)).text();
    assert!(!page.contains("id=\"builders\""), "{page}");
}

/// A real builder: sshd on loopback with its own store. Listed as reachable, then as
/// unreachable within 30 s of sshd stopping, then reachable again.
#[test]
fn a_loopback_ssh_builder_is_reachable_until_sshd_stops() {
    let Some(builder) = crate::util::sshd::LoopbackBuilder::start("builderonly") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ssh_opts = builder.ssh_opts();
    let server = start(
        &builder.builders_line("x86_64-linux", "builderonly"),
        dir.path(),
        &[("NIX_SSHOPTS", &ssh_opts)],
    );
    let state = |want: bool| {
        wait_for(Duration::from_secs(35), || {
            let status = get_json(&format!("{}/api/v1/status", server.url));
            let b = status["builders"][0].clone();
            (b["last_checked"].is_string() && b["reachable"] == want).then_some(b)
        })
    };
    let b = state(true).expect("the builder never became reachable");
    assert!(b["uri"].as_str().unwrap().starts_with("ssh-ng://builder?"));
    assert_eq!(b["features"], serde_json::json!(["builderonly"]));
    builder.stop();
    state(false).expect("the builder stayed reachable after sshd stopped");
    builder.resume();
    state(true).expect("the builder did not come back");
}
