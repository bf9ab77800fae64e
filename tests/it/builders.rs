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

/// A fleet whose `remote` package needs a feature only the loopback builder offers, on top of
/// `base`, which the box builds itself (Nix would hand it to the builder too, but for
/// `preferLocalBuild`); `warm` is what the first poll builds.
const REMOTE_FLEET: &str = r#"{
  outputs = { self }: let
    mk = name: script: extra: derivation ({
      inherit name;
      nonce = "@NONCE@";
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ "-c" "PATH=/bin:/usr/bin\n${script}" ];
    } // extra);
    base = mk "base" "echo base built here > $out" { preferLocalBuild = true; };
  in {
    packages.x86_64-linux = {
      warm = mk "warm" "echo warm > $out" { };
      remote = mk "remote" "echo building remote on the builder; cat $base > $out; echo remote >> $out" {
        inherit base;
        requiredSystemFeatures = [ "builderonly" ];
      };
    };
  };
}
"#;

/// A job whose derivation only the loopback builder may build: it builds there (into the
/// builder's separate store), comes back to the box, is served by the cache, and the job's
/// log says which machine built it.
#[test]
fn a_job_builds_on_the_remote_builder_and_its_log_names_the_machine() {
    let Some(builder) = crate::util::sshd::LoopbackBuilder::start("builderonly") else {
        return;
    };
    let repo = crate::util::flake_repo::FlakeRepo::new();
    repo.commit(REMOTE_FLEET, "a package only the builder builds");
    let work = tempfile::tempdir().unwrap();
    let nix_config = format!(
        "{NIX_CONFIG}builders = {}\nbuilders-use-substitutes = false\n",
        builder.builders_line("x86_64-linux", "builderonly")
    );
    let ssh_opts = builder.ssh_opts();
    let build = crate::util::build_server::BuildBox::with_env(
        &repo.path().display().to_string(),
        work.path(),
        "1h",
        "[build]\ndefault_targets = [\"warm\"]",
        &[("NIX_CONFIG", &nix_config), ("NIX_SSHOPTS", &ssh_opts)],
    );
    build.settle();

    let (status, job) = build.request(r#"{"targets": ["remote"]}"#);
    assert_eq!(status, 201, "{job}");
    let id = job["id"].as_u64().unwrap();
    let done = build.wait_finished(id);
    let log = build.log(id);
    assert_eq!(done["state"], "succeeded", "{done}\n{log}");
    let out = done["outputs"]["remote"].as_str().unwrap().to_string();

    // Built on the builder: the output is in its separate store, and back in the box's.
    let name = std::path::Path::new(&out).file_name().unwrap();
    let on_builder = builder.store_root().join("nix/store").join(name);
    assert!(on_builder.exists(), "{} is missing", on_builder.display());
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text, "base built here\nremote\n");
    assert_eq!(std::fs::read_to_string(&on_builder).unwrap(), text);

    // The log says where each derivation was built: the remote one on the builder.
    // Once, and not again as if built here (the builder's echo of its own start).
    let builds: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("building '") && l.contains("-remote.drv'"))
        .collect();
    let uri = format!(
        "ssh-ng://builder?remote-store=local%3Froot%3D{}",
        builder.store_root().display()
    );
    assert_eq!(builds.len(), 1, "{log}");
    let base_line = log
        .lines()
        .find(|l| l.starts_with("building '") && l.contains("-base.drv'"))
        .unwrap_or_else(|| panic!("base was not built in this job:\n{log}"));
    assert!(
        base_line.ends_with("-base.drv'"),
        "built here, not elsewhere: {base_line}"
    );
    assert!(builds[0].ends_with(&format!(".drv' on '{uri}'")), "{log}");
    assert!(log.contains("building remote on the builder"), "{log}");
    assert_eq!(done["progress"]["done"], 2, "{done}");
    assert_eq!(done["progress"]["total"], 2, "{done}");

    // The cache serves it like anything the box built itself.
    let hash = crate::util::nix::hash_part(&out);
    let narinfo = crate::util::http::get(&build.url(&format!("/{hash}.narinfo")));
    assert_eq!(narinfo.status, 200, "{}", narinfo.text());
    let fields = crate::util::http::narinfo_fields(&narinfo.text());
    assert_eq!(
        crate::util::http::field(&fields, "StorePath"),
        Some(out.as_str())
    );
    let nar_url = crate::util::http::field(&fields, "URL")
        .unwrap()
        .to_string();
    let nar = crate::util::http::get(&build.url(&format!("/{nar_url}")));
    assert_eq!(nar.status, 200);
}
