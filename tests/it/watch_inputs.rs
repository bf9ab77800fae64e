//! Watched flake inputs (`repo.watch_inputs`), with real git and Nix: a fleet whose host uses a
//! "terminal" flake through a `git+file://` input pinned by its `flake.lock`. A commit to the
//! terminal repository alone makes an `input` job that builds the host with the new terminal
//! commit (its output says so), once; a restart does not build it again; a host's `latest`
//! never names such a build; a push webhook from the terminal's repository builds at once;
//! an input the lock file lacks is a warning in the status, not a crash.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hmac::{KeyInit, Mac};

use crate::util::build_server::{BuildBox, wait_for};
use crate::util::fleet::{commit_all, head_of};
use crate::util::http::{get, get_json, post};
use crate::util::nix::{nix, run_ok};

/// The terminal flake: its greeting is a file of its repository, so each commit changes it.
fn write_terminal(dir: &Path, greeting: &str) {
    std::fs::write(
        dir.join("flake.nix"),
        "{ outputs = { self }: { greeting = builtins.readFile ./greeting.txt; }; }\n",
    )
    .unwrap();
    std::fs::write(dir.join("greeting.txt"), greeting).unwrap();
}

/// The fleet: one host whose system says the terminal's greeting and commit.
fn write_fleet(dir: &Path, terminal: &Path, nonce: &str) {
    let flake = r#"{
  inputs.terminal.url = "git+file://@TERMINAL@";
  outputs = { self, terminal }: {
    nixosConfigurations.laptop.config.system.build.toplevel = derivation {
      name = "nixos-system-laptop";
      nonce = "@NONCE@";
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ "-c" "PATH=/bin:/usr/bin; echo '${terminal.greeting} ${terminal.rev}' > $out" ];
    };
  };
}
"#;
    let text = flake
        .replace("@TERMINAL@", &terminal.display().to_string())
        .replace("@NONCE@", nonce);
    std::fs::write(dir.join("flake.nix"), text).unwrap();
}

fn git_init(dir: &Path) {
    run_ok(
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["init", "-q", "-b", "main"]),
    );
}

fn jobs(build: &BuildBox) -> Vec<serde_json::Value> {
    get_json(&build.url("/api/v1/jobs?limit=100"))["jobs"]
        .as_array()
        .unwrap()
        .clone()
}

fn input_jobs(build: &BuildBox) -> Vec<serde_json::Value> {
    jobs(build)
        .into_iter()
        .filter(|j| j["trigger"] == "input")
        .collect()
}

fn built_text(job: &serde_json::Value) -> String {
    let path = job["outputs"]["laptop"].as_str().expect("a laptop output");
    std::fs::read_to_string(path).unwrap()
}

/// `bs ARGS` against the box; its standard output.
fn bs(build: &BuildBox, work: &Path, args: &[&str]) -> String {
    let output = run_ok(
        Command::new(crate::util::binary())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", work.join("client-home"))
            .env("ATUIN_BOOTSTRAP_SERVER", &build.server.url)
            .env("NO_COLOR", "1")
            .arg("status")
            .args(args),
    );
    String::from_utf8(output.stdout).unwrap()
}

fn sign(secret: &str, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[test]
fn a_commit_to_a_watched_input_builds_the_hosts_with_it_once() {
    let work = tempfile::tempdir().unwrap();
    let terminal = work.path().join("terminal");
    let fleet = work.path().join("fleet");
    for dir in [&terminal, &fleet] {
        std::fs::create_dir_all(dir).unwrap();
        git_init(dir);
    }
    write_terminal(&terminal, "hello one");
    let first_terminal = commit_all(&terminal, "terminal one");
    write_fleet(&fleet, &terminal, &crate::util::nonce());
    // Nix sees only what git tracks.
    run_ok(
        Command::new("git")
            .arg("-C")
            .arg(&fleet)
            .args(["add", "-A"]),
    );
    let home = work.path().join("lock-home");
    std::fs::create_dir_all(&home).unwrap();
    run_ok(
        nix("")
            .args(["flake", "lock"])
            .current_dir(&fleet)
            .env("HOME", &home),
    );
    let lock = std::fs::read_to_string(fleet.join("flake.lock")).unwrap();
    assert!(lock.contains(&first_terminal), "{lock}");
    let fleet_rev = commit_all(&fleet, "fleet with a terminal");

    let box_dir = work.path().join("box");
    std::fs::create_dir_all(&box_dir).unwrap();
    let mut build = BuildBox::with_poll(
        &fleet.display().to_string(),
        &box_dir,
        "1s",
        "watch_inputs = [\"terminal\"]\n",
    );
    build.settle();

    // The fleet's own build pins the first terminal commit; nothing else is built for it.
    let own = jobs(&build)
        .into_iter()
        .find(|j| j["trigger"] == "poll" && j["rev"] == fleet_rev.as_str())
        .expect("the fleet's tip was built");
    let own = build.wait_finished(own["id"].as_u64().unwrap());
    assert_eq!(own["state"], "succeeded", "{own}");
    assert_eq!(own["inputs"], serde_json::json!({}));
    assert_eq!(
        built_text(&own).trim(),
        format!("hello one {first_terminal}")
    );
    let watched = wait_for(Duration::from_secs(30), || {
        let status = get_json(&build.url("/api/v1/status"));
        let input = status["inputs"][0].clone();
        input["rev"].is_string().then_some(input)
    })
    .expect("the status never showed the watched input");
    assert_eq!(watched["name"], "terminal");
    assert_eq!(watched["rev"], first_terminal.as_str());
    assert_eq!(watched["locked"], first_terminal.as_str());
    assert_eq!(
        watched["upstream"],
        format!("git+file://{}", terminal.display())
    );
    assert!(watched["last_error"].is_null(), "{watched}");
    assert!(
        input_jobs(&build).is_empty(),
        "the pinned commit is built already"
    );

    // A commit to the terminal alone: the hosts are built with it, at the fleet's tip.
    write_terminal(&terminal, "hello two");
    let second_terminal = commit_all(&terminal, "terminal two");
    let job = wait_for(Duration::from_secs(30), || input_jobs(&build).pop())
        .expect("no input job after the terminal moved");
    assert_eq!(job["rev"], fleet_rev.as_str());
    assert_eq!(job["targets"], serde_json::json!(["laptop"]));
    assert_eq!(
        job["inputs"],
        serde_json::json!({ "terminal": second_terminal })
    );
    let job = build.wait_finished(job["id"].as_u64().unwrap());
    assert_eq!(
        job["state"],
        "succeeded",
        "{job} {}",
        build.log(job["id"].as_u64().unwrap())
    );
    assert_eq!(
        built_text(&job).trim(),
        format!("hello two {second_terminal}")
    );
    assert_eq!(head_of(&fleet), fleet_rev, "the fleet itself never moved");

    // Polls that find nothing new build nothing.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(input_jobs(&build).len(), 1);

    // Deploys take only builds of fleet commits.
    let host = get_json(&build.url("/api/v1/hosts/laptop"));
    assert_eq!(host["latest"]["job"], own["id"], "{host}");
    assert_eq!(host["latest"]["path"], own["outputs"]["laptop"]);

    // After a restart (hourly polls now, webhooks on, one input the lock lacks), the commit
    // built already is not built again.
    build.stop();
    let secret_file = work.path().join("webhook.secret");
    std::fs::write(&secret_file, "s3cret\n").unwrap();
    std::fs::write(
        &build.config,
        format!(
            "[server]\nstate_dir = {:?}\n[repo]\nurl = {:?}\npoll_interval = \"1h\"\n\
             watch_inputs = [\"terminal\", \"nowhere\"]\nwebhook_secret_file = {:?}\n",
            build.state.display().to_string(),
            fleet.display().to_string(),
            secret_file.display().to_string(),
        ),
    )
    .unwrap();
    build.restart(&box_dir);
    let inputs = wait_for(Duration::from_secs(30), || {
        let status = get_json(&build.url("/api/v1/status"));
        let inputs = status["inputs"].clone();
        (inputs[0]["last_poll"].is_string() && inputs[1]["last_poll"].is_string()).then_some(inputs)
    })
    .expect("the inputs were not fetched after the restart");
    assert_eq!(inputs[0]["rev"], second_terminal.as_str());
    assert_eq!(inputs[1]["name"], "nowhere");
    let missing = inputs[1]["last_error"].as_str().unwrap_or_default();
    assert!(missing.contains("no such input"), "{inputs}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(input_jobs(&build).len(), 1, "a restart built it again");

    // `bs` shows the watched inputs, and the input a job built.
    let overview = bs(&build, &box_dir, &[]);
    assert!(
        overview.contains(&format!("terminal git+file://{}", terminal.display())),
        "{overview}"
    );
    assert!(overview.contains("no such input"), "{overview}");
    // And so does the status page.
    let page = get(&build.url("/")).text();
    assert!(page.contains("<h2>Watched inputs</h2>"), "{page}");
    assert!(page.contains(&second_terminal[..12]), "{page}");
    assert!(page.contains("no such input"), "{page}");
    let detail = bs(&build, &box_dir, &[&job["id"].to_string()]);
    assert!(
        detail.contains(&format!("terminal at {second_terminal}")),
        "{detail}"
    );

    // A push webhook from the terminal's repository fetches and builds at once.
    write_terminal(&terminal, "hello three");
    let third_terminal = commit_all(&terminal, "terminal three");
    let body = format!(
        r#"{{"ref": "refs/heads/main", "after": "{third_terminal}",
            "repository": {{"name": "terminal", "clone_url": "file://{}"}}}}"#,
        terminal.display()
    );
    let signature = format!("sha256={}", sign("s3cret", &body));
    let reply = post(
        &build.url("/api/v1/webhooks/github"),
        &body,
        &[
            ("X-Hub-Signature-256", signature.as_str()),
            ("X-GitHub-Event", "push"),
        ],
    );
    assert_eq!(reply.status, 202, "{}", reply.text());
    let pushed = reply.json();
    assert_eq!(pushed["trigger"], "input");
    assert_eq!(
        pushed["inputs"],
        serde_json::json!({ "terminal": third_terminal })
    );
    let pushed = build.wait_finished(pushed["id"].as_u64().unwrap());
    assert_eq!(pushed["state"], "succeeded");
    assert_eq!(
        built_text(&pushed).trim(),
        format!("hello three {third_terminal}")
    );
    let host = get_json(&build.url("/api/v1/hosts/laptop"));
    assert_eq!(host["latest"]["job"], own["id"], "{host}");
}
