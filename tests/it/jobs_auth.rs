//! API tokens: once one exists, every POST but the webhooks needs it (without a restart);
//! reads stay open; a revoked token stops working at once (on the next request, also once the
//! server keeps what it read of the file); the last one goes only with
//! `--force`, and loudly.

use std::process::Command;

use crate::util::build_server::BuildBox;
use crate::util::fleet::Fleet;
use crate::util::http::{get, post};
use crate::util::nix::run_ok;

fn token_command(build: &BuildBox, args: &[&str]) -> String {
    let output = run_ok(
        Command::new(crate::util::binary())
            .env("HOME", &build.home)
            .arg("token")
            .args(args)
            .arg("--state-dir")
            .arg(&build.state),
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn writes_need_a_token_once_one_exists() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    let jobs = build.url("/api/v1/jobs");
    // No token yet: open.
    assert_eq!(post(&jobs, r#"{"targets":["hello"]}"#, &[]).status, 201);

    let printed = token_command(&build, &["create", "ci"]);
    let token = printed.lines().last().unwrap().trim().to_string();
    assert!(token.len() >= 32, "{printed}");
    let stored = std::fs::read_to_string(build.state.join("tokens.json")).unwrap();
    assert!(!stored.contains(&token), "the token itself was stored");

    let none = post(&jobs, r#"{"targets":["step1"]}"#, &[]);
    assert_eq!(none.status, 401);
    assert!(none.json()["error"].as_str().unwrap().contains("token"));
    let wrong = post(
        &jobs,
        r#"{"targets":["step1"]}"#,
        &[("Authorization", "Bearer abt_wrong")],
    );
    assert_eq!(wrong.status, 401);
    let cancel = post(&build.url("/api/v1/jobs/1/cancel"), "", &[]);
    assert_eq!(cancel.status, 401);
    let bearer = format!("Bearer {token}");
    let right = post(
        &jobs,
        r#"{"targets":["step1"]}"#,
        &[("Authorization", bearer.as_str())],
    );
    assert_eq!(right.status, 201, "{}", right.text());
    // The scheme's name is case-insensitive (RFC 9110).
    for scheme in ["BEARER", "bearer", "bEaReR"] {
        let header = format!("{scheme} {token}");
        let reply = post(
            &jobs,
            r#"{"targets":["step1"]}"#,
            &[("Authorization", header.as_str())],
        );
        assert!(
            matches!(reply.status, 200 | 201),
            "{scheme}: {} {}",
            reply.status,
            reply.text()
        );
    }
    // Reads stay open.
    assert_eq!(get(&jobs).status, 200);
    assert_eq!(get(&build.url("/api/v1/status")).status, 200);

    assert!(token_command(&build, &["list"]).contains("ci"));
    // The server keeps what it read of a token file that has not changed for a while: a revoke
    // still counts from the very next request.
    token_command(&build, &["create", "other"]);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    for _ in 0..2 {
        let kept = post(
            &jobs,
            r#"{"targets":["step1"]}"#,
            &[("Authorization", bearer.as_str())],
        );
        assert!(matches!(kept.status, 200 | 201), "{}", kept.text());
    }
    token_command(&build, &["revoke", "ci"]);
    let refused = post(
        &jobs,
        r#"{"targets":["step2"]}"#,
        &[("Authorization", bearer.as_str())],
    );
    assert_eq!(refused.status, 401, "a revoked token still counted");
    token_command(&build, &["revoke", "other", "--force"]);
    let revoked = post(
        &jobs,
        r#"{"targets":["step2"]}"#,
        &[("Authorization", bearer.as_str())],
    );
    assert_eq!(revoked.status, 201, "no token left: writes are open again");
}

/// `token` on a state dir, without a server: (exit code, stdout, stderr).
fn token_run(state: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let home = state.join("home");
    let output = Command::new(crate::util::binary())
        .env_clear()
        .env("HOME", &home)
        .arg("token")
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .output()
        .unwrap();
    // The first line of stderr says which state dir was used (tested in cli.rs); the rest is
    // what this command said.
    let stderr = String::from_utf8(output.stderr).unwrap();
    let (note, said) = stderr.split_once('\n').unwrap_or((&stderr, ""));
    assert!(note.contains(&state.display().to_string()), "{note}");
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        said.to_string(),
    )
}

#[test]
fn the_last_token_goes_only_with_force_and_loudly() {
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let (code, out, _) = token_run(&state, &["list"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("writes are open"), "{out}");

    for name in ["ci", "laptop"] {
        assert_eq!(token_run(&state, &["create", name]).0, Some(0));
    }
    let (code, out, err) = token_run(&state, &["revoke", "ci"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("revoked"), "{out}");
    assert!(
        !err.contains("open"),
        "one token is left, nothing opened: {err}"
    );
    let (_, out, _) = token_run(&state, &["list"]);
    assert!(out.contains("laptop") && !out.contains("open"), "{out}");

    // The last one: refused without --force, with a sentence saying how.
    let (code, out, err) = token_run(&state, &["revoke", "laptop"]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("--force") && err.contains("last"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let (_, out, _) = token_run(&state, &["list"]);
    assert!(
        out.contains("laptop"),
        "the refused revoke removed it: {out}"
    );

    // With --force: gone, and stderr says what that means.
    let (code, out, err) = token_run(&state, &["revoke", "laptop", "--force"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("revoked"), "{out}");
    assert!(
        err.contains("writes are open to anyone who can reach the server"),
        "{err}"
    );
    let (code, out, _) = token_run(&state, &["list"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("writes are open"), "{out}");
}

#[test]
fn scopes_decide_what_a_token_may_do_and_list_shows_them() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    let plain = token_command(&build, &["create", "ci"]);
    let plain = plain.lines().last().unwrap().trim().to_string();
    let pusher = token_command(&build, &["create", "laptop", "--scope", "push"]);
    let pusher = pusher.lines().last().unwrap().trim().to_string();
    let listed = token_command(&build, &["list"]);
    assert!(
        listed.contains("ci\t") && listed.contains("\tbuild,report\tany host\n"),
        "{listed}"
    );
    assert!(
        listed.contains("laptop\t") && listed.contains("\tpush\tany host\n"),
        "{listed}"
    );

    let jobs = build.url("/api/v1/jobs");
    let push_only = format!("Bearer {pusher}");
    let refused = post(
        &jobs,
        r#"{"targets":["hello"]}"#,
        &[("Authorization", &push_only)],
    );
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(refused.json()["error"].as_str().unwrap().contains("build"));
    let report = build.url("/api/v1/hosts/laptop/report");
    let refused = post(
        &report,
        r#"{"state":"deployed"}"#,
        &[("Authorization", &push_only)],
    );
    assert_eq!(refused.status, 403, "{}", refused.text());
    // The default token builds, also given as a Basic password.
    use base64::Engine;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("anyone:{plain}"))
    );
    let accepted = post(
        &jobs,
        r#"{"targets":["hello"]}"#,
        &[("Authorization", &basic)],
    );
    assert_eq!(accepted.status, 201, "{}", accepted.text());

    let (code, _, err) = token_run(&build.state, &["create", "x", "--scope", "admin"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("unknown scope"), "{err}");
}

#[test]
fn a_token_bound_to_a_host_reports_only_for_it_and_tells_what_it_is() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    let shared = token_command(&build, &["create", "shared"]);
    let shared = format!("Bearer {}", shared.lines().last().unwrap().trim());
    let laptop = token_command(&build, &["create", "laptop", "--host", "laptop"]);
    let laptop = format!("Bearer {}", laptop.lines().last().unwrap().trim());
    let listed = token_command(&build, &["list"]);
    assert!(
        listed.contains("laptop\t") && listed.contains("\tbuild,report\thost=laptop\n"),
        "{listed}"
    );

    // What a token is: name, scopes, host; 401 for none or a wrong one, said once.
    let me = get_with(&build.url("/api/v1/token"), &laptop);
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(
        me.json(),
        serde_json::json!({"name": "laptop", "scopes": ["build", "report"], "host": "laptop"})
    );
    for authorization in ["Bearer abt_garbage", ""] {
        let refused = get_with(&build.url("/api/v1/token"), authorization);
        assert_eq!(refused.status, 401, "{}", refused.text());
        let said = refused.json()["error"].as_str().unwrap().to_string();
        assert!(!said.contains("abt_garbage"), "{said}");
        if authorization.is_empty() {
            assert_eq!(
                said.matches("Authorization: Bearer TOKEN").count(),
                1,
                "{said}"
            );
            assert_eq!(said.matches("--token").count(), 1, "{said}");
        }
    }

    let deployed = format!(
        r#"{{"state":"deployed","path":"/nix/store/{}-x"}}"#,
        "a".repeat(32)
    );
    let report = |host: &str, token: &str| {
        post(
            &build.url(&format!("/api/v1/hosts/{host}/report")),
            &deployed,
            &[("Authorization", token)],
        )
    };
    assert_eq!(report("laptop", &laptop).status, 200);
    let other = report("desktop", &laptop);
    assert_eq!(other.status, 403, "{}", other.text());
    assert!(other.text().contains("bound to host"), "{}", other.text());
    // The shared token may not speak for the laptop any more, but may for a host without one.
    let taken = report("laptop", &shared);
    assert_eq!(taken.status, 403, "{}", taken.text());
    assert!(taken.text().contains("--host laptop"), "{}", taken.text());
    assert_eq!(report("desktop", &shared).status, 200);
}

fn get_with(url: &str, authorization: &str) -> crate::util::http::Reply {
    let headers: Vec<(&str, &str)> = if authorization.is_empty() {
        Vec::new()
    } else {
        vec![("Authorization", authorization)]
    };
    crate::util::http::request("GET", url, &headers)
}
