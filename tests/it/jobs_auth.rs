//! API tokens: once one exists, every POST but the webhooks needs it (without a restart);
//! reads stay open; a revoked token stops working at once.

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
    token_command(&build, &["revoke", "ci"]);
    let revoked = post(
        &jobs,
        r#"{"targets":["step2"]}"#,
        &[("Authorization", bearer.as_str())],
    );
    assert_eq!(revoked.status, 201, "no token left: writes are open again");
}
