//! A deploy a careful admin trusts, against a real box with real `nix build`, real profile
//! generations and real activation scripts: a rollback cut short by kill -9 is finished
//! without the box and reported later; a hand switch is left alone; a passing trouble is
//! tried again while a failed build is not (until `--retry` or the box's `retry_at`); `test`
//! mode leaves the profile; a target holding pushed paths is refused; a host's own copy of a
//! path that is not the box's build is refused; built-in checks read from the new system;
//! activation stopped with SIGTERM then SIGKILL; the systemd-run line; and no deploy at all
//! on a machine that is not NixOS.

use std::time::{Duration, Instant};

use crate::util::box_front::BoxFront;
use crate::util::build_server::wait_for;
use crate::util::deploy_box::{
    build_newest, host_view, laptop_box, laptop_deployed, latest_system, out_of,
};
use crate::util::deploy_fleet::{Activation, FleetHost, report_of};
use crate::util::output::{code, stderr, stdout};

#[test]
fn a_rollback_killed_midway_is_finished_without_the_box_and_reported_later() {
    let (work, mut fleet, mut build_box) = laptop_box();
    let (laptop, good) = laptop_deployed(&build_box.server.url);
    fleet.bump("laptop", Activation::Fails);
    let broken = out_of(&build_newest(&build_box), "laptop");

    // The rollback's activation of the old system hangs: the deploy is caught rolling back,
    // and killed (-9) together with that activation, as a power cut would.
    laptop.hold_activation_of(&good);
    let mut agent = laptop.command(&[]).spawn().unwrap();
    let held = wait_for(Duration::from_secs(60), || laptop.held_pid())
        .expect("the rollback never activated the old system");
    agent.kill().unwrap();
    agent.wait().unwrap();
    // SAFETY: kill takes plain integers; a process already gone only gets ESRCH.
    unsafe { libc::kill(-held, libc::SIGKILL) };
    // SAFETY: kill takes plain integers; a process already gone only gets ESRCH.
    unsafe { libc::kill(held, libc::SIGKILL) };
    std::fs::remove_file(laptop.dir.path().join("record.hold")).unwrap();
    // The profile went back first; the old system's activation did not finish.
    assert_eq!(laptop.generation(), Some((1, good.clone())));
    assert_eq!(
        laptop.activations()[1..],
        [
            (broken.clone(), "switch".to_string()),
            (good.clone(), "switch".to_string())
        ]
    );

    // The box is away: the rollback is finished from the host's own note, then exit 3.
    let url = build_box.server.url.clone();
    build_box.stop();
    let finished = laptop.deploy(&["--json"]);
    assert_eq!(code(&finished), 3, "{}", stderr(&finished));
    assert!(
        stderr(&finished).contains("finishing the rollback"),
        "{}",
        stderr(&finished)
    );
    assert_eq!(report_of(&finished)["state"], "rolled_back");
    assert_eq!(laptop.running().as_deref(), Some(good.as_str()));
    assert_eq!(laptop.generation(), Some((1, good.clone())));
    assert_eq!(laptop.generations(), vec![1]);
    assert_eq!(
        laptop.activations().len(),
        4,
        "the old system activated again"
    );
    assert_eq!(
        laptop.activations().last().unwrap(),
        &(good.clone(), "switch".to_string())
    );
    assert!(laptop.state_dir().join("unsent-reports.json").exists());

    // The box is back: the kept report reaches it, and the broken build is not tried again.
    build_box.restart_on(work.path(), &url);
    let later = laptop.deploy(&["--json"]);
    assert_eq!(code(&later), 0, "{}", stderr(&later));
    assert!(
        stderr(&later).contains("sent 1 report"),
        "{}",
        stderr(&later)
    );
    assert!(!laptop.state_dir().join("unsent-reports.json").exists());
    let view = host_view(&build_box, "laptop");
    assert_eq!(view["state"], "rolled_back", "{view}");
    assert_eq!(view["running"]["path"], good.as_str());
    let activations = laptop.activations().len();
    assert_eq!(code(&laptop.deploy(&[])), 0);
    assert_eq!(laptop.activations().len(), activations);
}

#[test]
fn a_hand_switch_is_left_alone_until_a_new_build_or_now() {
    let (_work, mut fleet, build_box) = laptop_box();
    let (laptop, first) = laptop_deployed(&build_box.server.url);
    fleet.bump_all();
    let second = out_of(&build_newest(&build_box), "laptop");
    assert_eq!(code(&laptop.deploy(&[])), 0);

    // A `nixos-rebuild switch` by hand (here: the first system's own switch).
    let hand = std::process::Command::new(format!("{first}/bin/switch-to-configuration"))
        .arg("switch")
        .env("DEPLOY_TEST_RECORD", laptop.dir.path().join("record"))
        .env("DEPLOY_TEST_CURRENT", laptop.current_system())
        .status()
        .unwrap();
    assert!(hand.success());
    let activations = laptop.activations().len();
    let left = laptop.deploy(&["--json"]);
    assert_eq!(code(&left), 0, "{}", stderr(&left));
    let report = report_of(&left);
    assert_eq!(report["state"], "local");
    assert_eq!(report["path"], first.as_str());
    assert!(report["message"].as_str().unwrap().contains("--now"));
    assert_eq!(laptop.running().as_deref(), Some(first.as_str()));
    assert_eq!(laptop.activations().len(), activations);
    assert_eq!(
        host_view(&build_box, "laptop")["last_report"]["state"],
        "local"
    );

    // --now takes the box's target anyway.
    let now = laptop.deploy(&["--now", "--json"]);
    assert_eq!(code(&now), 0, "{}", stderr(&now));
    assert_eq!(report_of(&now)["state"], "deployed");
    assert_eq!(laptop.running().as_deref(), Some(second.as_str()));

    // Another hand switch, then a new build: that is deployed without being asked.
    std::process::Command::new(format!("{first}/bin/switch-to-configuration"))
        .arg("switch")
        .env("DEPLOY_TEST_RECORD", laptop.dir.path().join("record"))
        .env("DEPLOY_TEST_CURRENT", laptop.current_system())
        .status()
        .unwrap();
    fleet.bump_all();
    let third = out_of(&build_newest(&build_box), "laptop");
    let deployed = laptop.deploy(&["--json"]);
    assert_eq!(report_of(&deployed)["state"], "deployed");
    assert_eq!(laptop.running().as_deref(), Some(third.as_str()));
}

#[test]
fn a_passing_trouble_is_tried_again_and_a_failure_only_after_retry() {
    let (_work, mut fleet, build_box) = laptop_box();
    let front = BoxFront::start(&build_box.server.url);
    let (laptop, good) = laptop_deployed(&front.url);

    // Another switch holds the lock: rolled back, not held against the build.
    fleet.bump("laptop", Activation::FindsLockHeld);
    let next = out_of(&build_newest(&build_box), "laptop");
    laptop.switch_lock_held(true);
    let locked = laptop.deploy(&["--json"]);
    assert_eq!(code(&locked), 1, "{}", stderr(&locked));
    let message = report_of(&locked)["message"].as_str().unwrap().to_string();
    assert!(message.contains("holds the lock"), "{message}");
    assert!(message.contains("tried again later"), "{message}");
    assert_eq!(laptop.generation(), Some((1, good.clone())));
    assert_eq!(laptop.running().as_deref(), Some(good.as_str()));
    // The lock is free again: the same build is tried, and runs.
    laptop.switch_lock_held(false);
    let again = laptop.deploy(&["--json"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(report_of(&again)["state"], "deployed");
    assert_eq!(laptop.running().as_deref(), Some(next.as_str()));

    // A build that fails is not tried again...
    fleet.bump("laptop", Activation::Fails);
    build_newest(&build_box);
    assert_eq!(code(&laptop.deploy(&[])), 1);
    let tries = laptop.activations().len();
    assert_eq!(code(&laptop.deploy(&[])), 0);
    assert_eq!(laptop.activations().len(), tries);
    // ...until `deploy --retry`...
    let retried = laptop.deploy(&["--retry"]);
    assert_eq!(code(&retried), 1, "{}", stderr(&retried));
    assert!(laptop.activations().len() > tries);
    let tries = laptop.activations().len();
    assert_eq!(code(&laptop.deploy(&[])), 0);
    assert_eq!(laptop.activations().len(), tries);
    // ...or the box's `fleet retry` (a new retry_at).
    front.set("retry_at", serde_json::json!("2026-12-04T10:00:00Z"));
    assert_eq!(code(&laptop.deploy(&[])), 1);
    assert!(laptop.activations().len() > tries);
    let tries = laptop.activations().len();
    assert_eq!(code(&laptop.deploy(&[])), 0);
    assert_eq!(laptop.activations().len(), tries, "the same retry_at twice");
}

#[test]
fn test_mode_leaves_the_profile_and_pushed_targets_are_refused() {
    let (_work, mut fleet, build_box) = laptop_box();
    let front = BoxFront::start(&build_box.server.url);
    let (mut laptop, first) = laptop_deployed(&front.url);
    fleet.bump_all();
    let second = out_of(&build_newest(&build_box), "laptop");

    let tested = laptop.deploy(&["--mode", "test", "--json"]);
    assert_eq!(code(&tested), 0, "{}", stderr(&tested));
    assert_eq!(report_of(&tested)["state"], "deployed");
    assert_eq!(laptop.running().as_deref(), Some(second.as_str()));
    assert_eq!(laptop.generation(), Some((1, first.clone())));
    assert_eq!(laptop.generations(), vec![1]);
    assert_eq!(
        laptop.activations().last().unwrap(),
        &(second.clone(), "test".to_string())
    );

    // The box's target holds a path that came by push: refused, nothing changes, and it is
    // not remembered as failed (allowed, it is taken).
    fleet.bump_all();
    let job = build_newest(&build_box);
    let third = out_of(&job, "laptop");
    front.set(
        "target",
        serde_json::json!({"path": third, "rev": job["rev"], "job": job["id"],
                           "source": "latest", "pushed": ["/nix/store/00000000000000000000000000000000-pushed"]}),
    );
    let refused = laptop.deploy(&["--json"]);
    assert_eq!(code(&refused), 1, "{}", stderr(&refused));
    let report = report_of(&refused);
    assert_eq!(report["state"], "failed");
    assert!(
        report["message"].as_str().unwrap().contains("came by push"),
        "{report}"
    );
    assert!(
        report["message"]
            .as_str()
            .unwrap()
            .contains("deploy.allow_pushed")
    );
    assert_eq!(laptop.running().as_deref(), Some(second.as_str()));
    assert_eq!(laptop.generations(), vec![1]);
    laptop.deploy_settings.push_str("allow_pushed = true\n");
    let allowed = laptop.deploy(&["--json"]);
    assert_eq!(code(&allowed), 0, "{}", stderr(&allowed));
    assert_eq!(laptop.running().as_deref(), Some(third.as_str()));

    // A pinned target (not the newest build) is what the host runs.
    front.set(
        "target",
        serde_json::json!({"path": first, "rev": null, "job": null, "source": "pinned", "pushed": []}),
    );
    let pinned = laptop.deploy(&["--json"]);
    assert_eq!(code(&pinned), 0, "{}", stderr(&pinned));
    assert_eq!(laptop.running().as_deref(), Some(first.as_str()));
}

#[test]
fn built_in_checks_come_from_the_new_system() {
    let (_work, mut fleet, build_box) = laptop_box();
    let (mut laptop, good) = laptop_deployed(&build_box.server.url);

    // A fake systemctl: only good.service is active.
    let systemctl = laptop.fake_tool(
        "systemctl",
        "#!/bin/sh\necho \"$@\" >> \"$0.calls\"\n[ \"$1 $2 $3\" = \"is-active --quiet good.service\" ]\n",
    );
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = open.local_addr().unwrap().port();
    let health = build_box.url("/api/v1/health");
    // The configured checks would fail: the system's own are the ones run.
    laptop.deploy_settings = "health_timeout = \"3s\"\nhealth_checks = [\"false\"]\n".into();
    fleet.set_checks(
        "laptop",
        &[
            "unit:good.service",
            &format!("tcp:127.0.0.1:{port}"),
            &health,
        ],
    );
    fleet.bump_all();
    let checked = out_of(&build_newest(&build_box), "laptop");
    let passed = laptop.deploy(&["--json"]);
    assert_eq!(code(&passed), 0, "{}", stderr(&passed));
    assert_eq!(laptop.running().as_deref(), Some(checked.as_str()));
    let calls = std::fs::read_to_string(systemctl.with_extension("calls")).unwrap();
    assert!(calls.contains("is-active --quiet good.service"), "{calls}");

    for (check, expected) in [
        ("unit:bad.service".to_string(), "the unit is not active"),
        (
            format!("tcp:127.0.0.1:{}", crate::util::free_port()),
            "no connection opened",
        ),
        (build_box.url("/api/v1/nosuch"), "answered 404"),
        ("https://127.0.0.1:1/health".to_string(), "got no answer"),
        ("echo from-the-shell; false".to_string(), "from-the-shell"),
    ] {
        fleet.set_checks("laptop", &[&check]);
        fleet.bump_all();
        build_newest(&build_box);
        let before = laptop.running().unwrap();
        let failed = laptop.deploy(&["--json"]);
        assert_eq!(code(&failed), 1, "{check}: {}", stderr(&failed));
        let message = report_of(&failed)["message"].as_str().unwrap().to_string();
        assert!(message.contains(expected), "{check}: {message}");
        assert_eq!(laptop.running(), Some(before));
    }
    assert_ne!(laptop.running().as_deref(), Some(good.as_str()));
}

#[test]
fn activation_gets_sigterm_then_sigkill_at_its_own_timeout() {
    let (_work, mut fleet, build_box) = laptop_box();
    let (mut laptop, good) = laptop_deployed(&build_box.server.url);

    fleet.bump("laptop", Activation::IgnoresTerm);
    build_newest(&build_box);
    // The health timeout is long; the activation's own bound is what stops it.
    laptop.deploy_settings = "health_timeout = \"300s\"\nactivation_timeout = \"2s\"\n".into();
    let started = Instant::now();
    let stopped = laptop.deploy(&["--json"]);
    let took = started.elapsed();
    assert_eq!(code(&stopped), 1, "{}", stderr(&stopped));
    assert!(
        took >= Duration::from_secs(31),
        "SIGKILL came early: {took:?}"
    );
    assert!(took < Duration::from_secs(60), "{took:?}");
    let message = report_of(&stopped)["message"].as_str().unwrap().to_string();
    assert!(message.contains("activation_timeout"), "{message}");
    assert!(message.contains("tried again later"), "{message}");
    let pid = laptop.hanging_pid().unwrap();
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(stderr(&stopped).contains("SIGTERM, then SIGKILL"));
    assert_eq!(laptop.generation().unwrap().1, good);
    assert_eq!(laptop.running().as_deref(), Some(good.as_str()));
}

#[test]
fn under_systemd_the_activation_is_a_transient_unit() {
    let (_work, _fleet, build_box) = laptop_box();
    let mut laptop = FleetHost::new("laptop", &build_box.server.url);
    // A stand-in for systemd-run: records its arguments and runs what follows --wait.
    let systemd_run = laptop.fake_tool(
        "systemd-run",
        "#!/bin/sh\necho \"$@\" >> \"$0.calls\"\nwhile [ \"$1\" != --wait ]; do shift; done\nshift\nexec \"$@\"\n",
    );
    laptop
        .deploy_settings
        .push_str("activate_with = \"systemd-run\"\n");
    let deployed = laptop.deploy(&["--json"]);
    assert_eq!(code(&deployed), 0, "{}", stderr(&deployed));
    let path = laptop.running().unwrap();
    let calls = std::fs::read_to_string(systemd_run.with_extension("calls")).unwrap();
    assert_eq!(
        calls.trim(),
        format!(
            "-E LOCALE_ARCHIVE -E NIXOS_INSTALL_BOOTLOADER --collect --no-ask-password --pipe --quiet --same-dir --service-type=exec --unit=atuin-bootstrap-switch-to-configuration --property=TimeoutStopSec=30 --wait {path}/bin/switch-to-configuration switch"
        )
    );
}

#[test]
fn a_machine_that_is_not_nixos_is_refused() {
    assert!(
        !std::path::Path::new("/etc/NIXOS").exists(),
        "this test needs a machine that is not NixOS"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[client]\nserver = \"http://127.0.0.1:1\"\n[deploy]\nhost = \"laptop\"\nstate_dir = {:?}\n",
            dir.path().join("state").display().to_string()
        ),
    )
    .unwrap();
    let output = crate::util::command_in(dir.path())
        .arg("--config")
        .arg(&config)
        .arg("deploy")
        .output()
        .unwrap();
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("not NixOS"), "{}", stderr(&output));
    assert!(stdout(&output).is_empty());
}

/// Puts `content` (a file tree) into `store` under the store path `path`, as a copy from
/// another cache would: `nix-store --import` of a hand-made export (its NAR, no references,
/// no signature).
fn plant(store: &str, path: &str, content: &std::path::Path) {
    fn number(n: u64) -> Vec<u8> {
        n.to_le_bytes().to_vec()
    }
    fn string(text: &str) -> Vec<u8> {
        let mut bytes = number(text.len() as u64);
        bytes.extend(text.as_bytes());
        bytes.resize(bytes.len().next_multiple_of(8), 0);
        bytes
    }
    let nar = crate::util::nix::dump(&content.display().to_string());
    let mut export = number(1);
    export.extend(nar);
    export.extend(number(0x4558_494e));
    export.extend(string(path));
    export.extend(number(0)); // references
    export.extend(string("")); // deriver
    export.extend(number(0)); // no signature
    export.extend(number(0)); // the end
    let mut import = std::process::Command::new("nix-store")
        .args(["--store", store, "--import"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    import.stdin.take().unwrap().write_all(&export).unwrap();
    assert!(import.wait().unwrap().success());
}

#[test]
fn a_local_copy_that_is_not_the_boxs_build_is_refused() {
    let (_work, _fleet, build_box) = laptop_box();
    let path = latest_system(&build_box, "laptop");
    let mut laptop = FleetHost::new("laptop", &build_box.server.url);
    let (root, store) = laptop.own_store();

    // The host's store already holds other content under the system's path (a pushed upload
    // taken earlier under the name of this build): `nix copy` skips it, the deploy refuses it.
    let fake = laptop.dir.path().join("fake");
    std::fs::create_dir_all(fake.join("bin")).unwrap();
    std::fs::write(fake.join("nixos-version"), "pushed\n").unwrap();
    std::fs::write(fake.join("bin/switch-to-configuration"), "#!/bin/sh\n").unwrap();
    plant(&store, &path, &fake);
    let refused = laptop.deploy(&["--json"]);
    assert_eq!(code(&refused), 1, "{}", stderr(&refused));
    let report = report_of(&refused);
    assert_eq!(report["state"], "failed");
    let message = report["message"].as_str().unwrap();
    assert!(message.contains(&path), "{message}");
    assert!(
        message.contains("differs from the box's build"),
        "{message}"
    );
    assert!(message.contains("nix store delete"), "{message}");
    assert!(laptop.generation().is_none());
    assert!(laptop.activations().is_empty());
    assert_eq!(
        std::fs::read_to_string(root.join(&path[1..]).join("nixos-version")).unwrap(),
        "pushed\n"
    );

    // The copy removed as the message says: the box's build arrives and runs, without a
    // `--retry` (the refusal was not held against the build).
    let deleted = std::process::Command::new("nix")
        .args(["--extra-experimental-features", "nix-command"])
        .args(["store", "delete", "--store", &store, &path])
        .output()
        .unwrap();
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let deployed = laptop.deploy(&["--json"]);
    assert_eq!(code(&deployed), 0, "{}", stderr(&deployed));
    assert_eq!(report_of(&deployed)["state"], "deployed");
    assert_eq!(laptop.generation(), Some((1, path.clone())));
    assert_ne!(
        std::fs::read_to_string(root.join(&path[1..]).join("nixos-version")).unwrap(),
        "pushed\n"
    );
}
