//! What a host is to run, on a real box over a real git repository with real `nix build`s of
//! fixture host systems: `latest` follows the branch by ancestry (a build of an older commit
//! never becomes it), pins move `target` and survive a restart, they need a `deploy` token,
//! the new report states show, and `atuin-bootstrap fleet` exits as the other clients do.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::util::build_server::BuildBox;
use crate::util::deploy_box::host_view;
use crate::util::deploy_fleet::DeployFleet;
use crate::util::fleet::head_of;
use crate::util::http::{Reply, get_json, try_send};
use crate::util::output::code;

/// Builds `body` (a job request) and waits for it to succeed.
fn build(build_box: &BuildBox, body: &str) -> Value {
    let (status, job) = build_box.request(body);
    assert!(status == 201 || status == 200, "{status} {job}");
    let job = build_box.wait_finished(job["id"].as_u64().unwrap());
    assert_eq!(job["state"], "succeeded", "{job}");
    job
}

/// A token with `scope`, made on the box's state dir.
fn token(build_box: &BuildBox, name: &str, scope: &str) -> String {
    let out = crate::util::command_in(&build_box.home)
        .args(["token", "create", name, "--scope", scope, "--state-dir"])
        .arg(&build_box.state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines().last().unwrap().trim().to_string()
}

fn send(build_box: &BuildBox, method: &str, path: &str, body: Option<&str>, token: &str) -> Reply {
    let bearer = format!("Bearer {token}");
    let headers: Vec<(&str, &str)> = if token.is_empty() {
        Vec::new()
    } else {
        vec![("Authorization", bearer.as_str())]
    };
    try_send(
        method,
        &build_box.url(path),
        &headers,
        body.map(str::as_bytes),
    )
    .unwrap_or_else(|| panic!("{method} {path} got no answer"))
}

/// `atuin-bootstrap fleet ARGS --server …` with `token` in the environment.
fn fleet_cli(build_box: &BuildBox, home: &Path, token: &str, args: &[&str]) -> Output {
    crate::util::command_in(home)
        .arg("fleet")
        .args(args)
        .args(["--server", &build_box.server.url])
        .env("ATUIN_BOOTSTRAP_TOKEN", token)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn latest_follows_the_branch_and_pins_move_the_target() {
    let work = tempfile::tempdir().unwrap();
    let mut fleet = DeployFleet::new(&["laptop", "desktop"]);
    let older = head_of(fleet.path());
    // The box builds only a package by itself, so each host build here is asked for.
    let mut build_box = BuildBox::with_poll(
        &fleet.path().display().to_string(),
        work.path(),
        "1h",
        "[build]\ndefault_targets = [\"hello\"]",
    );
    build_box.settle();
    let hosts = r#"{"targets":["laptop","desktop"]}"#;
    build(&build_box, hosts);
    let newer = fleet.bump_all();
    let new_job = build(&build_box, hosts);
    assert_eq!(new_job["rev"], newer.as_str());
    let new_laptop = new_job["outputs"]["laptop"].as_str().unwrap().to_string();

    // A build of the older commit, asked for after the newer one, only warms the cache.
    let old_job = build(
        &build_box,
        &format!(
            r#"{{"targets":["laptop","desktop"],"rev":"{}"}}"#,
            &older[..8]
        ),
    );
    assert!(old_job["id"].as_u64() > new_job["id"].as_u64());
    let old_laptop = old_job["outputs"]["laptop"].as_str().unwrap().to_string();
    assert_ne!(old_laptop, new_laptop);
    let view = host_view(&build_box, "laptop");
    assert_eq!(view["latest"]["rev"], newer.as_str(), "{view}");
    assert_eq!(view["latest"]["job"], new_job["id"]);
    assert_eq!(view["target"]["path"], new_laptop.as_str());
    assert_eq!(view["target"]["source"], "latest");
    assert_eq!(view["target"]["job"], new_job["id"]);
    assert_eq!(view["target"]["pushed"], serde_json::json!([]));
    assert!(view["pinned"].is_null());
    assert!(view["retry_at"].is_null());

    // A newer commit with no host build: latest stays where the branch last built the host.
    let newest = fleet.bump_all();
    let hello = build(&build_box, r#"{"targets":["hello"]}"#);
    assert_eq!(hello["rev"], newest.as_str());
    let hello_path = hello["outputs"]["hello"].as_str().unwrap().to_string();
    assert_eq!(
        host_view(&build_box, "laptop")["latest"]["rev"],
        newer.as_str()
    );

    // Pins need a token with the deploy scope, even on a box with no token at all.
    let pin_old = format!(r#"{{"rev":"{}"}}"#, &older[..8]);
    let refused = send(
        &build_box,
        "PUT",
        "/api/v1/hosts/laptop/pin",
        Some(&pin_old),
        "",
    );
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(
        refused.text().contains("deploy scope"),
        "{}",
        refused.text()
    );
    let builder = token(&build_box, "ci", "build");
    let reporter = token(&build_box, "laptop", "report");
    let deployer = token(&build_box, "ops", "deploy");
    let no_token = send(
        &build_box,
        "PUT",
        "/api/v1/hosts/laptop/pin",
        Some(&pin_old),
        "",
    );
    assert_eq!(no_token.status, 401, "{}", no_token.text());
    let wrong = send(
        &build_box,
        "PUT",
        "/api/v1/hosts/laptop/pin",
        Some(&pin_old),
        &builder,
    );
    assert_eq!(wrong.status, 403, "{}", wrong.text());
    for path in ["/api/v1/hosts/laptop/retry", "/api/v1/hosts/laptop/pin"] {
        let method = if path.ends_with("retry") {
            "POST"
        } else {
            "DELETE"
        };
        assert_eq!(send(&build_box, method, path, None, &builder).status, 403);
    }
    assert!(host_view(&build_box, "laptop")["pinned"].is_null());

    // Pinned to the older commit (short id): the target goes back, latest does not.
    let pinned = send(
        &build_box,
        "PUT",
        "/api/v1/hosts/laptop/pin",
        Some(&pin_old),
        &deployer,
    );
    assert_eq!(pinned.status, 200, "{}", pinned.text());
    let host = pinned.json();
    assert_eq!(host["pinned"]["rev"], older.as_str(), "{host}");
    assert_eq!(host["pinned"]["path"], old_laptop.as_str());
    assert!(host["pinned"]["at"].is_string());
    assert_eq!(host["target"]["path"], old_laptop.as_str());
    assert_eq!(host["target"]["rev"], older.as_str());
    assert_eq!(host["target"]["source"], "pinned");
    assert_eq!(host["latest"]["rev"], newer.as_str());
    assert_eq!(
        host_view(&build_box, "desktop")["target"]["source"],
        "latest"
    );

    // What has no build is refused, naming why; the pin stays as it was.
    let refusals = [
        (
            format!(r#"{{"rev":"{}"}}"#, &newest[..10]),
            "no successful build at",
        ),
        (r#"{"rev":"deadbeef"}"#.to_string(), "no commit deadbeef"),
        (r#"{"rev":"HEAD~1"}"#.to_string(), "not a commit id"),
        (
            format!(r#"{{"path":"{hello_path}"}}"#),
            "not the output of a successful build of host laptop",
        ),
        (
            r#"{"path":"/nix/store/00000000000000000000000000000000-nope"}"#.to_string(),
            "not the output",
        ),
        (r#"{"path":"/etc/passwd"}"#.to_string(), "not a store path"),
    ];
    for (body, why) in &refusals {
        let reply = send(
            &build_box,
            "PUT",
            "/api/v1/hosts/laptop/pin",
            Some(body),
            &deployer,
        );
        assert_eq!(reply.status, 422, "{body}: {}", reply.text());
        assert!(reply.text().contains(why), "{body}: {}", reply.text());
    }
    for body in [
        r#"{}"#,
        r#"{"rev":"abcd","path":"/nix/store/x"}"#,
        r#"{"ref":"x"}"#,
    ] {
        let reply = send(
            &build_box,
            "PUT",
            "/api/v1/hosts/laptop/pin",
            Some(body),
            &deployer,
        );
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
    }
    let unknown = send(
        &build_box,
        "PUT",
        "/api/v1/hosts/nosuch/pin",
        Some(&pin_old),
        &deployer,
    );
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    assert_eq!(
        host_view(&build_box, "laptop")["pinned"]["rev"],
        older.as_str()
    );

    // The host's reports: running its pin is up to date; reboot_needed shows while the
    // target is the build it was about; a system the box never built for it is local.
    let report = |body: String| {
        let reply = send(
            &build_box,
            "POST",
            "/api/v1/hosts/laptop/report",
            Some(&body),
            &reporter,
        );
        assert_eq!(reply.status, 200, "{body}: {}", reply.text());
        reply.json()
    };
    let host = report(format!(r#"{{"state":"deployed","path":"{old_laptop}"}}"#));
    assert_eq!(host["state"], "up_to_date", "{host}");
    assert_eq!(host["behind"], false);
    let host = report(format!(
        r#"{{"state":"reboot_needed","path":"{old_laptop}","wanted":"{old_laptop}"}}"#
    ));
    assert_eq!(host["state"], "reboot_needed", "{host}");
    assert_eq!(host["last_report"]["state"], "reboot_needed");
    let own = "/nix/store/11111111111111111111111111111111-nixos-system-laptop-by-hand";
    let host = report(format!(r#"{{"state":"local","path":"{own}"}}"#));
    assert_eq!(host["state"], "local", "{host}");
    assert_eq!(host["behind"], true);
    assert_eq!(host["running"]["known"], false);
    // Seen by the box too: an up-to-date report of a system it never built.
    let host = report(format!(r#"{{"state":"up_to_date","path":"{own}"}}"#));
    assert_eq!(host["state"], "local", "{host}");
    // Running the newest build while pinned to the older one: behind (its target moved).
    let host = report(format!(r#"{{"state":"deployed","path":"{new_laptop}"}}"#));
    assert_eq!(host["state"], "behind", "{host}");

    // A pin by store path, and the fleet view and bs show it.
    let by_path = format!(r#"{{"path":"{new_laptop}"}}"#);
    let host = send(
        &build_box,
        "PUT",
        "/api/v1/hosts/laptop/pin",
        Some(&by_path),
        &deployer,
    )
    .json();
    assert!(host["pinned"]["rev"].is_null(), "{host}");
    assert_eq!(host["pinned"]["path"], new_laptop.as_str());
    assert_eq!(host["target"]["rev"], newer.as_str());
    assert_eq!(host["target"]["job"], new_job["id"]);
    assert_eq!(host["state"], "up_to_date");
    let hosts = get_json(&build_box.url("/api/v1/hosts"));
    assert_eq!(hosts["hosts"][1]["pinned"]["path"], new_laptop.as_str());
    let page = crate::util::http::get(&build_box.url("/")).text();
    assert!(
        page.contains(&format!("data-pinned=\"{new_laptop}\"")),
        "{page}"
    );

    // Released: back to the branch's newest.
    let host = send(
        &build_box,
        "DELETE",
        "/api/v1/hosts/laptop/pin",
        None,
        &deployer,
    )
    .json();
    assert!(host["pinned"].is_null(), "{host}");
    assert_eq!(host["target"]["source"], "latest");
    assert_eq!(host["target"]["path"], new_laptop.as_str());

    // Retry: a time the host's deploy compares with the last it acted on.
    let host = send(
        &build_box,
        "POST",
        "/api/v1/hosts/laptop/retry",
        None,
        &deployer,
    )
    .json();
    let first_retry = host["retry_at"].as_str().unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let host = send(
        &build_box,
        "POST",
        "/api/v1/hosts/laptop/retry",
        None,
        &deployer,
    )
    .json();
    assert!(
        host["retry_at"].as_str().unwrap() > first_retry.as_str(),
        "{host}"
    );
    assert!(host_view(&build_box, "desktop")["retry_at"].is_null());

    // The whole fleet: to a commit every host has a build of, or to none.
    let all_new = send(
        &build_box,
        "PUT",
        "/api/v1/fleet/pin",
        Some(&format!(r#"{{"rev":"{}"}}"#, &newest[..8])),
        &deployer,
    );
    assert_eq!(all_new.status, 422, "{}", all_new.text());
    assert!(
        all_new.text().contains("desktop, laptop"),
        "{}",
        all_new.text()
    );
    assert!(host_view(&build_box, "desktop")["pinned"].is_null());
    let all_old = send(
        &build_box,
        "PUT",
        "/api/v1/fleet/pin",
        Some(&pin_old),
        &deployer,
    );
    assert_eq!(all_old.status, 200, "{}", all_old.text());
    for host in all_old.json()["hosts"].as_array().unwrap() {
        assert_eq!(host["pinned"]["rev"], older.as_str(), "{host}");
        assert_eq!(host["target"]["rev"], older.as_str(), "{host}");
    }

    // Pins outlive the server.
    build_box.stop();
    build_box.restart(work.path());
    build_box.wait_first_fetch();
    let view = host_view(&build_box, "desktop");
    assert_eq!(view["pinned"]["rev"], older.as_str(), "{view}");
    assert_eq!(view["latest"]["rev"], newer.as_str());
    assert_eq!(
        host_view(&build_box, "laptop")["retry_at"],
        host["retry_at"]
    );

    // The CLI: a table, one line per change, --json, and the clients' exit codes.
    let home = work.path().join("cli-home");
    std::fs::create_dir_all(&home).unwrap();
    let list = fleet_cli(&build_box, &home, "", &[]);
    assert_eq!(code(&list), 0, "{}", text(&list.stderr));
    let table = text(&list.stdout);
    let laptop_row = table
        .lines()
        .find(|l| l.starts_with("laptop "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        laptop_row.contains(&format!("{} (pinned)", &older[..8])),
        "{laptop_row}"
    );
    let status = crate::util::command_in(&home)
        .args(["status", "--server", &build_box.server.url])
        .output()
        .unwrap();
    let bs = text(&status.stdout);
    let bs_row = bs
        .lines()
        .find(|l| l.starts_with("laptop "))
        .unwrap_or_else(|| panic!("{bs}"));
    assert!(
        bs_row.contains(&format!("pinned to {}", &older[..8])),
        "{bs_row}"
    );

    let unpin = fleet_cli(&build_box, &home, &deployer, &["unpin", "laptop"]);
    assert_eq!(code(&unpin), 0, "{}", text(&unpin.stderr));
    assert_eq!(
        text(&unpin.stdout),
        format!(
            "laptop unpinned: it follows the branch again (newest build {})\n",
            &newer[..8]
        )
    );
    let pin = fleet_cli(
        &build_box,
        &home,
        &deployer,
        &["pin", "laptop", &older[..8], "--json"],
    );
    assert_eq!(code(&pin), 0, "{}", text(&pin.stderr));
    let json: Value = serde_json::from_slice(&pin.stdout).unwrap();
    assert_eq!(json["pinned"]["rev"], older.as_str());
    let pin = fleet_cli(
        &build_box,
        &home,
        &deployer,
        &["pin", "laptop", &new_laptop],
    );
    assert_eq!(code(&pin), 0, "{}", text(&pin.stderr));
    assert_eq!(text(&pin.stdout).lines().count(), 1);
    assert!(text(&pin.stdout).starts_with(&format!("laptop pinned to {new_laptop}")));
    let retry = fleet_cli(&build_box, &home, &deployer, &["retry", "laptop"]);
    assert_eq!(code(&retry), 0, "{}", text(&retry.stderr));
    assert!(text(&retry.stdout).starts_with("laptop will try again"));
    let all = fleet_cli(&build_box, &home, &deployer, &["unpin", "--all"]);
    assert_eq!(code(&all), 0, "{}", text(&all.stderr));
    assert!(
        get_json(&build_box.url("/api/v1/hosts"))["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["pinned"].is_null())
    );
    let all = fleet_cli(&build_box, &home, &deployer, &["pin", "--all", &older[..8]]);
    assert_eq!(code(&all), 0, "{}", text(&all.stderr));
    assert_eq!(
        text(&all.stdout),
        format!("2 hosts pinned to {}: desktop, laptop\n", &older[..8])
    );

    for (token, args, exit, said) in [
        (
            builder.as_str(),
            vec!["pin", "laptop", &older[..8]],
            3,
            "403",
        ),
        ("", vec!["retry", "laptop"], 3, "401"),
        (
            deployer.as_str(),
            vec!["pin", "laptop", &newest[..8]],
            3,
            "no successful build",
        ),
        (deployer.as_str(), vec!["unpin", "nosuch"], 3, "known hosts"),
        (
            deployer.as_str(),
            vec!["pin", "laptop"],
            2,
            "fleet pin HOST",
        ),
        (
            deployer.as_str(),
            vec!["pin", "laptop", "main"],
            2,
            "neither a commit id",
        ),
        (
            deployer.as_str(),
            vec!["pin", "--all", "a", "b"],
            2,
            "one revision",
        ),
        (deployer.as_str(), vec!["unpin"], 2, "HOST"),
        (deployer.as_str(), vec!["nope"], 2, "nope"),
    ] {
        let out = fleet_cli(&build_box, &home, token, &args);
        assert_eq!(code(&out), exit, "{args:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(said),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let away = crate::util::command_in(&home)
        .args(["fleet", "--server", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(code(&away), 3, "{}", text(&away.stderr));
}

#[test]
fn retention_keeps_the_build_on_the_branch_after_an_older_rebuild() {
    let work = tempfile::tempdir().unwrap();
    let mut fleet = DeployFleet::new(&["laptop"]);
    let older = head_of(fleet.path());
    let build_box = BuildBox::with_poll(
        &fleet.path().display().to_string(),
        work.path(),
        "1h",
        "[build]\ndefault_targets = [\"hello\"]\nkeep_per_target = 0",
    );
    build_box.settle();
    fleet.bump_all();
    let on_branch = build(&build_box, r#"{"targets":["laptop"]}"#);
    let rebuilt = build(
        &build_box,
        &format!(r#"{{"targets":["laptop"],"rev":"{older}"}}"#),
    );
    let roots = || build_box.root_jobs("laptop");
    let expected = vec![
        on_branch["id"].as_u64().unwrap(),
        rebuilt["id"].as_u64().unwrap(),
    ];
    assert_eq!(roots(), expected);
    // The offline gc reads the branch from the mirror too.
    let gc = crate::util::command_in(&build_box.home)
        .args(["gc", "--config"])
        .arg(&build_box.config)
        .output()
        .unwrap();
    assert!(gc.status.success(), "{}", text(&gc.stderr));
    assert_eq!(roots(), expected);
}
