//! `atuin-bootstrap deploy` against a real box: real `nix build` of fixture host systems, real
//! profile generations with `nix-env`, real activation scripts and health checks, real
//! rollback, a second (chroot) store that gets the system only from the box's signed cache,
//! and the box's fleet view.

use std::time::Duration;

use crate::util::build_server::wait_for;
use crate::util::deploy_box::{
    build_newest, host_view, laptop_box, laptop_deployed, latest_system, out_of, start_box,
};
use crate::util::deploy_fleet::{Activation, DeployFleet, FleetHost, report_of};
use crate::util::http::{get, get_json};
use crate::util::output::{code, stderr};

#[test]
fn deploy_switches_reports_and_is_then_up_to_date() {
    let work = tempfile::tempdir().unwrap();
    let fleet = DeployFleet::new(&["laptop", "desktop"]);
    // Only the package is built by default: the hosts have nothing built yet.
    let build_box = start_box(
        &fleet,
        work.path(),
        "[build]\ndefault_targets = [\"hello\"]",
    );
    let laptop = FleetHost::new("laptop", &build_box.server.url);

    let hosts = get_json(&build_box.url("/api/v1/hosts"));
    let names: Vec<&str> = hosts["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["desktop", "laptop"]);
    assert_eq!(hosts["hosts"][1]["state"], "never_seen");
    assert!(hosts["hosts"][1]["latest"].is_null());

    let nothing = laptop.deploy(&[]);
    assert_eq!(code(&nothing), 0, "{}", stderr(&nothing));
    assert!(String::from_utf8_lossy(&nothing.stdout).contains("no successful build"));
    assert!(laptop.generation().is_none());

    let (_, job) = build_box.request(r#"{"targets":["laptop","desktop"]}"#);
    let job = build_box.wait_finished(job["id"].as_u64().unwrap());
    let laptop_path = out_of(&job, "laptop");

    let deployed = laptop.deploy(&["--json"]);
    assert_eq!(code(&deployed), 0, "{}", stderr(&deployed));
    let report = report_of(&deployed);
    assert_eq!(report["state"], "deployed");
    assert_eq!(report["path"], laptop_path.as_str());
    assert_eq!(laptop.generation(), Some((1, laptop_path.clone())));
    assert_eq!(
        laptop.activations(),
        vec![(laptop_path.clone(), "switch".to_string())]
    );
    assert_eq!(laptop.running().as_deref(), Some(laptop_path.as_str()));

    let view = host_view(&build_box, "laptop");
    assert_eq!(view["state"], "up_to_date", "{view}");
    assert_eq!(view["behind"], false);
    assert_eq!(view["latest"]["job"], job["id"]);
    assert_eq!(view["running"]["path"], laptop_path.as_str());
    assert_eq!(view["running"]["rev"], job["rev"]);
    assert_eq!(view["running"]["job"], job["id"]);
    assert_eq!(view["last_report"]["state"], "deployed");
    assert!(view["last_seen"].is_string());
    let desktop = host_view(&build_box, "desktop");
    assert_eq!(desktop["state"], "never_seen");
    assert_eq!(desktop["behind"], true);

    // Again: nothing to do, no new generation, no activation.
    let again = laptop.deploy(&["--json"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(report_of(&again)["state"], "up_to_date");
    assert_eq!(laptop.generations(), vec![1]);
    assert_eq!(laptop.activations().len(), 1);
    // A dry run tells the box nothing.
    let seen = host_view(&build_box, "laptop")["last_report"].clone();
    std::thread::sleep(Duration::from_millis(1100));
    let dry = laptop.deploy(&["--dry-run"]);
    assert_eq!(code(&dry), 0, "{}", stderr(&dry));
    assert_eq!(host_view(&build_box, "laptop")["last_report"], seen);

    // bs shows the fleet; bs --json carries it.
    let status = crate::util::command_in(&laptop.dir.path().join("home"))
        .args(["status", "--server", &build_box.server.url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    let laptop_line = text
        .lines()
        .find(|l| l.starts_with("laptop "))
        .unwrap_or_else(|| panic!("no laptop row in bs:\n{text}"));
    assert!(laptop_line.contains("up to date"), "{laptop_line}");
    assert!(
        laptop_line.contains(&job["rev"].as_str().unwrap()[..8]),
        "{laptop_line}"
    );
    let desktop_line = text.lines().find(|l| l.starts_with("desktop ")).unwrap();
    assert!(desktop_line.contains("never seen"), "{desktop_line}");
    let json = crate::util::command_in(&laptop.dir.path().join("home"))
        .args(["status", "--json", "--server", &build_box.server.url])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["hosts"][1]["name"], "laptop");
    assert_eq!(json["hosts"][1]["state"], "up_to_date");

    // An unknown host: 404 naming the known ones, and deploy exits 3.
    let missing = get(&build_box.url("/api/v1/hosts/nosuch"));
    assert_eq!(missing.status, 404);
    assert!(
        missing.text().contains("desktop, laptop"),
        "{}",
        missing.text()
    );
    let unknown = laptop.deploy(&["--host", "nosuch"]);
    assert_eq!(code(&unknown), 3);
    assert!(stderr(&unknown).contains("known hosts: desktop, laptop"));
}

#[test]
fn a_second_store_gets_the_system_only_from_the_signed_cache() {
    let (_work, _fleet, build_box) = laptop_box();
    let path = latest_system(&build_box, "laptop");
    let key = get_json(&build_box.url("/api/v1/status"))["cache"]["public_keys"][0]
        .as_str()
        .unwrap()
        .to_string();
    let mut laptop = FleetHost::new("laptop", &build_box.server.url);
    let (root, store) = laptop.own_store();
    let in_store = |store: &str| {
        std::process::Command::new("nix-store")
            .args(["--store", store, "--check-validity", &path])
            .output()
            .unwrap()
            .status
            .success()
    };

    // Only another key is trusted for the box: the download is refused, nothing is built,
    // nothing changes.
    laptop
        .deploy_settings
        .push_str("public_keys = [\"other-box:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]\n");
    let refused = laptop.deploy(&["--json"]);
    assert_eq!(code(&refused), 3, "{}", stderr(&refused));
    let report = report_of(&refused);
    assert_eq!(report["state"], "failed");
    assert!(
        report["message"]
            .as_str()
            .unwrap()
            .contains("could not give"),
        "{report}"
    );
    assert!(!in_store(&store));
    assert!(laptop.generation().is_none());
    assert!(laptop.activations().is_empty());
    assert_eq!(host_view(&build_box, "laptop")["state"], "failed");

    // The box's announced build key, trusted for this download alone (the host's nix.conf
    // does not trust it): the path arrives in the host's own store, signature checked, and
    // runs.
    laptop.deploy_settings = "health_timeout = \"20s\"\n".into();
    assert!(!laptop.nix_config.contains(&key));
    let deployed = laptop.deploy(&["--json"]);
    assert_eq!(code(&deployed), 0, "{}", stderr(&deployed));
    assert_eq!(report_of(&deployed)["state"], "deployed");
    assert!(in_store(&store));
    assert!(root.join(&path[1..]).exists());
    assert_eq!(laptop.generation(), Some((1, path.clone())));
    assert_eq!(host_view(&build_box, "laptop")["state"], "up_to_date");
}

#[test]
fn a_failed_activation_rolls_back_and_is_not_tried_again() {
    let (_work, mut fleet, build_box) = laptop_box();
    let laptop = FleetHost::new("laptop", &build_box.server.url);
    let first = laptop.deploy(&[]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let (_, good) = laptop.generation().unwrap();

    fleet.bump("laptop", Activation::Fails);
    let broken = out_of(&build_newest(&build_box), "laptop");
    let rolled = laptop.deploy(&["--json"]);
    assert_eq!(code(&rolled), 1, "{}", stderr(&rolled));
    let report = report_of(&rolled);
    assert_eq!(report["state"], "rolled_back");
    assert_eq!(report["path"], good.as_str());
    let message = report["message"].as_str().unwrap();
    assert!(message.contains("activation failed (exit 4)"), "{message}");
    assert!(message.contains("activation broke on purpose"), "{message}");
    // The profile is back on the generation from before, the failed one is gone, and the old
    // system was activated again.
    assert_eq!(laptop.generation(), Some((1, good.clone())));
    assert_eq!(laptop.generations(), vec![1]);
    let modes: Vec<(String, String)> = laptop.activations();
    assert_eq!(
        modes[1..],
        [
            (broken.clone(), "switch".to_string()),
            (good.clone(), "switch".to_string())
        ]
    );
    assert_eq!(laptop.running().as_deref(), Some(good.as_str()));
    let view = host_view(&build_box, "laptop");
    assert_eq!(view["state"], "rolled_back");
    assert_eq!(view["behind"], true);
    assert!(
        view["last_report"]["message"]
            .as_str()
            .unwrap()
            .contains("broke on purpose")
    );

    // No deploy loop: the same build is not tried again, and the box keeps showing it.
    let skipped = laptop.deploy(&[]);
    assert_eq!(code(&skipped), 0, "{}", stderr(&skipped));
    assert!(String::from_utf8_lossy(&skipped.stdout).contains("again"));
    assert_eq!(laptop.activations().len(), 3);
    assert_eq!(host_view(&build_box, "laptop")["state"], "rolled_back");

    // A newer build is tried.
    fleet.bump("laptop", Activation::Works);
    let fixed = out_of(&build_newest(&build_box), "laptop");
    let deployed = laptop.deploy(&[]);
    assert_eq!(code(&deployed), 0, "{}", stderr(&deployed));
    assert_eq!(laptop.running().as_deref(), Some(fixed.as_str()));
    assert_eq!(laptop.generations(), vec![1, 2]);
    assert_eq!(host_view(&build_box, "laptop")["state"], "up_to_date");
}

#[test]
fn failed_checks_and_hung_activations_roll_back() {
    let (_work, mut fleet, build_box) = laptop_box();
    let mut laptop = FleetHost::new("laptop", &build_box.server.url);
    let first = laptop.deploy(&[]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let (_, good) = laptop.generation().unwrap();

    // A health check that never passes.
    fleet.bump_all();
    build_newest(&build_box);
    let flag = laptop.dir.path().join("healthy");
    laptop.deploy_settings = format!(
        "health_timeout = \"3s\"\nhealth_checks = [\"true\", \"echo checking; test -e {}\"]\n",
        flag.display()
    );
    let rolled = laptop.deploy(&["--json"]);
    assert_eq!(code(&rolled), 1, "{}", stderr(&rolled));
    let message = report_of(&rolled)["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("health check `echo checking; test -e"),
        "{message}"
    );
    assert!(message.contains("checking"), "{message}");
    assert_eq!(laptop.generation().unwrap().1, good);
    assert_eq!(laptop.running().as_deref(), Some(good.as_str()));

    // An activation that hangs is stopped at its own timeout and rolled back.
    fleet.bump("laptop", Activation::Hangs);
    build_newest(&build_box);
    laptop.deploy_settings = "activation_timeout = \"2s\"\n".into();
    let started = std::time::Instant::now();
    let hung = laptop.deploy(&["--json"]);
    assert_eq!(code(&hung), 1, "{}", stderr(&hung));
    assert!(started.elapsed() < Duration::from_secs(30));
    let message = report_of(&hung)["message"].as_str().unwrap().to_string();
    assert!(message.contains("did not finish"), "{message}");
    assert_eq!(laptop.generation().unwrap().1, good);
    let pid = laptop.hanging_pid().expect("the hanging activation ran");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the hung activation was not killed"
    );
}

#[test]
fn rollback_by_hand_and_boot_mode() {
    let (_work, mut fleet, build_box) = laptop_box();
    let (laptop, first) = laptop_deployed(&build_box.server.url);
    fleet.bump_all();
    build_newest(&build_box);
    assert_eq!(code(&laptop.deploy(&[])), 0);
    let (_, second) = laptop.generation().unwrap();
    assert_ne!(first, second);

    let back = laptop.deploy(&["--rollback", "--json"]);
    assert_eq!(code(&back), 0, "{}", stderr(&back));
    let report = report_of(&back);
    assert_eq!(report["state"], "rolled_back");
    assert_eq!(report["path"], first.as_str());
    assert_eq!(laptop.generation(), Some((1, first.clone())));
    assert_eq!(laptop.running().as_deref(), Some(first.as_str()));
    assert_eq!(host_view(&build_box, "laptop")["state"], "rolled_back");
    // The one left is unwanted: not deployed again until a newer build.
    let skipped = laptop.deploy(&[]);
    assert_eq!(code(&skipped), 0);
    assert_eq!(laptop.generation().unwrap().0, 1);
    // Nothing older to go back to.
    let none = laptop.deploy(&["--rollback"]);
    assert_eq!(code(&none), 2, "{}", stderr(&none));
    assert!(stderr(&none).contains("no earlier generation"));

    // Boot mode: the profile takes it, the running system stays until a reboot (which the
    // host says it needs, see deploy_reboot).
    fleet.bump_all();
    let third = out_of(&build_newest(&build_box), "laptop");
    let boot = laptop.deploy(&["--mode", "boot", "--json"]);
    assert_eq!(code(&boot), 0, "{}", stderr(&boot));
    assert_eq!(report_of(&boot)["state"], "reboot_needed");
    assert_eq!(laptop.generation().unwrap().1, third);
    assert_eq!(laptop.running().as_deref(), Some(first.as_str()));
    assert_eq!(
        laptop.activations().last().unwrap(),
        &(third.clone(), "boot".to_string())
    );
    let again = laptop.deploy(&["--mode", "boot", "--json"]);
    assert_eq!(report_of(&again)["state"], "reboot_needed");
    assert_eq!(laptop.activations().len(), 4);
}

#[test]
fn lock_kill_midway_dry_run_and_an_unreachable_box() {
    let (_work, mut fleet, build_box) = laptop_box();
    let (mut laptop, good) = laptop_deployed(&build_box.server.url);
    fleet.bump("laptop", Activation::Hangs);
    let hanging = out_of(&build_newest(&build_box), "laptop");

    // Dry run: the plan, nothing changed, nothing reported.
    let seen_before = host_view(&build_box, "laptop")["last_report"].clone();
    let plan = laptop.deploy(&["--dry-run"]);
    assert_eq!(code(&plan), 0, "{}", stderr(&plan));
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(text.contains(&hanging) && text.contains(&good), "{text}");
    assert!(text.contains("switch-to-configuration switch"), "{text}");
    assert_eq!(laptop.generations(), vec![1]);
    assert_eq!(laptop.activations().len(), 1);
    assert_eq!(host_view(&build_box, "laptop")["last_report"], seen_before);

    // A deploy that hangs in activation holds the lock; a second one is refused.
    let mut first = {
        use std::os::unix::process::CommandExt;
        // Its own process group, as a shell session gives it.
        laptop.command(&[]).process_group(0).spawn().unwrap()
    };
    wait_for(Duration::from_secs(30), || laptop.hanging_pid()).expect("activation never ran");
    assert_eq!(host_view(&build_box, "laptop")["state"], "deploying");
    let second = laptop.deploy(&[]);
    assert_eq!(code(&second), 2, "{}", stderr(&second));
    assert!(
        stderr(&second).contains(&format!("pid {}", first.id())),
        "{}",
        stderr(&second)
    );

    // Killed midway (-9, its whole process group, as a closed SSH session would): the
    // activation lives on in a session of its own; the profile is consistent (the new
    // generation, not yet checked), and the next run carries on, and rolls back to the
    // generation from before.
    // SAFETY: kill takes plain integers; a process already gone only gets ESRCH.
    unsafe { libc::kill(-(first.id() as i32), libc::SIGKILL) };
    first.wait().unwrap();
    let pid = laptop.hanging_pid().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .trim_start()
        .chars()
        .next();
    assert!(
        matches!(state, Some('S' | 'R')),
        "the activation died with its agent: {stat}"
    );
    // SAFETY: kill takes plain integers; a process already gone only gets ESRCH.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    // SAFETY: kill takes plain integers; a process already gone only gets ESRCH.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_eq!(laptop.generation(), Some((2, hanging.clone())));
    laptop.deploy_settings = "activation_timeout = \"2s\"\n".into();
    let carried = laptop.deploy(&["--json"]);
    assert_eq!(code(&carried), 1, "{}", stderr(&carried));
    assert!(
        stderr(&carried).contains("carrying on"),
        "{}",
        stderr(&carried)
    );
    assert_eq!(laptop.generation(), Some((1, good.clone())));
    assert_eq!(laptop.generations(), vec![1]);

    // The box cannot be reached: exit 3, nothing changed.
    let mut away = FleetHost::new("laptop", "http://127.0.0.1:1");
    away.deploy_settings = String::new();
    let unreachable = away.deploy(&[]);
    assert_eq!(code(&unreachable), 3, "{}", stderr(&unreachable));
    assert!(stderr(&unreachable).contains("cannot reach"));
    assert!(away.generation().is_none());
}

#[test]
fn watch_follows_new_builds_and_waits_out_the_box() {
    let (work, mut fleet, mut build_box) = laptop_box();
    let mut laptop = FleetHost::new("laptop", &build_box.server.url);
    laptop.deploy_settings.push_str("interval = \"1s\"\n");
    let mut watcher = laptop
        .command(&["--watch"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let first = host_view(&build_box, "laptop")["latest"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for(Duration::from_secs(30), || {
        (laptop.running().as_deref() == Some(first.as_str())).then_some(())
    })
    .expect("the watcher never deployed the first build");

    fleet.bump_all();
    let second = out_of(&build_newest(&build_box), "laptop");
    wait_for(Duration::from_secs(30), || {
        (laptop.running().as_deref() == Some(second.as_str())).then_some(())
    })
    .expect("the watcher never deployed the new build");
    let seen = host_view(&build_box, "laptop")["last_seen"].clone();
    wait_for(Duration::from_secs(10), || {
        (host_view(&build_box, "laptop")["last_seen"] != seen).then_some(())
    })
    .expect("the watcher's asks are no heartbeat");

    // The box goes away and comes back on the same address: the watcher waits, then goes on.
    let url = build_box.server.url.clone();
    build_box.stop();
    std::thread::sleep(Duration::from_secs(3));
    assert!(watcher.try_wait().unwrap().is_none(), "the watcher gave up");
    build_box.restart_on(work.path(), &url);
    let seen = host_view(&build_box, "laptop")["last_seen"].clone();
    wait_for(Duration::from_secs(30), || {
        (host_view(&build_box, "laptop")["last_seen"] != seen).then_some(())
    })
    .expect("the watcher did not come back to the box");
    assert_eq!(host_view(&build_box, "laptop")["state"], "up_to_date");
    watcher.kill().unwrap();
    watcher.wait().unwrap();

    // Under systemd, a switch that worked ends the agent, so that the new system's agent (and
    // its settings) takes over when the service manager starts it again.
    fleet.bump_all();
    let third = out_of(&build_newest(&build_box), "laptop");
    let mut service = laptop
        .command(&["--watch"])
        .env("INVOCATION_ID", "0123456789abcdef")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_for(Duration::from_secs(30), || service.try_wait().unwrap())
        .expect("the agent under systemd kept running after its switch");
    assert!(status.success());
    assert_eq!(laptop.running().as_deref(), Some(third.as_str()));
}

#[test]
fn reports_are_checked_and_need_a_token_once_one_exists() {
    let (_work, _fleet, build_box) = laptop_box();
    let url = build_box.url("/api/v1/hosts/laptop/report");
    let post = |body: &str, headers: &[(&str, &str)]| crate::util::http::post(&url, body, headers);

    for (body, expected) in [
        ("{", "malformed"),
        (r#"{"state":"bogus","path":"/nix/store/x"}"#, "malformed"),
        (r#"{"state":"deployed"}"#, "malformed"),
        (r#"{"state":"deployed","path":"/etc/passwd"}"#, "store path"),
        (
            r#"{"state":"deployed","path":"/nix/store/00000000000000000000000000000000-x","extra":1}"#,
            "malformed",
        ),
    ] {
        let reply = post(body, &[]);
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
        assert!(reply.text().contains(expected), "{body}: {}", reply.text());
    }
    let bad_name = crate::util::http::post(
        &build_box.url("/api/v1/hosts/a%20b/report"),
        r#"{"state":"deployed","path":"/nix/store/00000000000000000000000000000000-x"}"#,
        &[],
    );
    assert_eq!(bad_name.status, 400);

    // A path the box never built is kept, marked unknown; a host not in the flake that
    // reports joins the fleet view.
    let stranger = "/nix/store/00000000000000000000000000000000-own-build";
    let reply = post(
        &format!(r#"{{"state":"deployed","path":"{stranger}"}}"#),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let host = reply.json();
    assert_eq!(host["running"]["known"], false);
    assert!(host["running"]["rev"].is_null() && host["running"]["job"].is_null());
    assert_eq!(host["state"], "local");
    let reply = crate::util::http::post(
        &build_box.url("/api/v1/hosts/pi/report"),
        &format!(r#"{{"state":"up_to_date","path":"{stranger}","message":"hi"}}"#),
        &[],
    );
    assert_eq!(reply.status, 200);
    let names: Vec<String> = get_json(&build_box.url("/api/v1/hosts"))["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["laptop", "pi"]);

    // Once a token exists, reports need it.
    let token = crate::util::command_in(&build_box.home)
        .args(["token", "create", "laptop", "--state-dir"])
        .arg(&build_box.state)
        .output()
        .unwrap();
    let token = String::from_utf8(token.stdout).unwrap();
    let token = token.lines().last().unwrap().trim().to_string();
    let body = format!(r#"{{"state":"deployed","path":"{stranger}"}}"#);
    assert_eq!(post(&body, &[]).status, 401);
    let bearer = format!("Bearer {token}");
    assert_eq!(post(&body, &[("Authorization", &bearer)]).status, 200);
    let laptop = FleetHost::new("laptop", &build_box.server.url);
    let refused = laptop.deploy(&[]);
    assert_eq!(code(&refused), 3, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("401"), "{}", stderr(&refused));
    assert!(laptop.generation().is_none());
    let with_token = laptop
        .command(&[])
        .env("ATUIN_BOOTSTRAP_TOKEN", &token)
        .output()
        .unwrap();
    assert_eq!(code(&with_token), 0, "{}", stderr(&with_token));
}

#[test]
fn retention_keeps_each_hosts_newest_system() {
    let work = tempfile::tempdir().unwrap();
    let mut fleet = DeployFleet::new(&["laptop"]);
    let build_box = start_box(&fleet, work.path(), "[build]\nkeep_per_target = 0");
    fleet.bump_all();
    build_newest(&build_box);
    let (_, job) = build_box.request(r#"{"targets":["hello"]}"#);
    build_box.wait_finished(job["id"].as_u64().unwrap());
    let newest = host_view(&build_box, "laptop")["latest"]["job"]
        .as_u64()
        .unwrap();
    let roots = |target: &str| build_box.root_jobs(target);
    assert_eq!(roots("laptop"), vec![newest]);
    assert!(roots("hello").is_empty());
    let gc = crate::util::command_in(&build_box.home)
        .args(["gc", "--state-dir"])
        .arg(&build_box.state)
        .output()
        .unwrap();
    assert!(
        gc.status.success(),
        "{}",
        String::from_utf8_lossy(&gc.stderr)
    );
    assert_eq!(roots("laptop"), vec![newest]);
}
