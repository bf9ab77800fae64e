//! Watching the fleet repository: a new commit is built without anyone asking, webhooks
//! with a good signature build at once and bad ones are refused, and fetch errors show in
//! the status without stopping the server.

use std::time::Duration;

use hmac::{KeyInit, Mac};

use crate::util::build_server::{BuildBox, wait_for};
use crate::util::fleet::Fleet;
use crate::util::http::{get_json, post};

fn jobs(build: &BuildBox) -> Vec<serde_json::Value> {
    get_json(&build.url("/api/v1/jobs?limit=100"))["jobs"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_new_commit_is_built_without_anyone_asking() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::with_poll(&fleet.path().display().to_string(), work.path(), "1s", "");

    let first = fleet.head();
    let initial = wait_for(Duration::from_secs(30), || {
        jobs(&build)
            .into_iter()
            .find(|j| j["rev"] == first.as_str())
    })
    .expect("the first tip was not built");
    assert_eq!(initial["trigger"], "poll");
    let status = get_json(&build.url("/api/v1/status"));
    assert_eq!(status["repo"]["rev"], first);
    assert!(status["repo"]["last_poll"].is_string());
    assert!(status["repo"]["last_error"].is_null());

    let second = fleet.bump();
    let job = wait_for(Duration::from_secs(30), || {
        jobs(&build)
            .into_iter()
            .find(|j| j["rev"] == second.as_str())
    })
    .expect("the new commit was not built");
    assert_eq!(job["trigger"], "poll");
    assert_eq!(job["targets"], serde_json::json!(["desktop", "laptop"]));
    let done = build.wait_finished(job["id"].as_u64().unwrap());
    assert_eq!(done["state"], "succeeded");
}

fn sign(secret: &str, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[test]
fn webhooks_with_a_good_signature_build_and_bad_ones_get_401() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let secret_file = work.path().join("webhook.secret");
    std::fs::write(&secret_file, "s3cret\n").unwrap();
    let build = BuildBox::start(
        &fleet,
        work.path(),
        &format!(
            "webhook_secret_file = {:?}\n",
            secret_file.display().to_string()
        ),
    );
    build.wait_first_fetch();
    let rev = fleet.bump();
    let body = format!(
        r#"{{"ref": "refs/heads/main", "after": "{rev}", "repository": {{"name": "fleet"}}}}"#
    );

    let forged = post(
        &build.url("/api/v1/webhooks/github"),
        &body,
        &[
            ("X-GitHub-Event", "push"),
            (
                "X-Hub-Signature-256",
                &format!("sha256={}", sign("wrong", &body)),
            ),
        ],
    );
    assert_eq!(forged.status, 401);
    let unsigned = post(
        &build.url("/api/v1/webhooks/forgejo"),
        &body,
        &[("X-Forgejo-Event", "push")],
    );
    assert_eq!(unsigned.status, 401);
    assert!(jobs(&build).iter().all(|j| j["rev"] != rev.as_str()));

    let good = post(
        &build.url("/api/v1/webhooks/github"),
        &body,
        &[
            ("X-GitHub-Event", "push"),
            (
                "X-Hub-Signature-256",
                &format!("sha256={}", sign("s3cret", &body)),
            ),
        ],
    );
    assert_eq!(good.status, 202, "{}", good.text());
    let job = good.json();
    assert_eq!(job["rev"], rev);
    assert_eq!(job["trigger"], "webhook");
    assert_eq!(
        build.wait_finished(job["id"].as_u64().unwrap())["state"],
        "succeeded"
    );

    // Forgejo/Gitea: hex signature without prefix.
    let rev2 = fleet.bump();
    let body2 = format!(r#"{{"ref": "refs/heads/main", "after": "{rev2}"}}"#);
    let gitea = post(
        &build.url("/api/v1/webhooks/forgejo"),
        &body2,
        &[
            ("X-Gitea-Event", "push"),
            ("X-Gitea-Signature", &sign("s3cret", &body2)),
        ],
    );
    assert_eq!(gitea.status, 202, "{}", gitea.text());
    assert_eq!(gitea.json()["rev"], rev2);

    // Another branch is acknowledged and not built.
    let other =
        r#"{"ref": "refs/heads/feature", "after": "1111111111111111111111111111111111111111"}"#;
    let ignored = post(
        &build.url("/api/v1/webhooks/github"),
        other,
        &[
            ("X-GitHub-Event", "push"),
            (
                "X-Hub-Signature-256",
                &format!("sha256={}", sign("s3cret", other)),
            ),
        ],
    );
    assert_eq!(ignored.status, 202);
    assert!(ignored.json()["ignored"].is_string());
}

#[test]
fn fetch_errors_show_in_status_and_the_server_keeps_serving() {
    let work = tempfile::tempdir().unwrap();
    let broken = BuildBox::with_poll("/nonexistent/fleet", work.path(), "1s", "");
    let status = wait_for(Duration::from_secs(20), || {
        let status = get_json(&broken.url("/api/v1/status"));
        status["repo"]["last_error"].is_string().then_some(status)
    })
    .expect("no fetch error reported");
    assert!(
        status["repo"]["last_error"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/fleet"),
        "{status}"
    );
    assert!(status["repo"]["rev"].is_null());
    let (code, reply) = broken.request("{}");
    assert_eq!(code, 422, "{reply}");
    assert_eq!(get_json(&broken.url("/api/v1/health"))["status"], "ok");
}

#[test]
fn a_repository_git_refuses_shows_gits_reason_in_the_status() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    // Git refuses a repository another user owns ("dubious ownership"); only root can give
    // it away here, so others refuse one from a future git instead.
    // SAFETY: geteuid has no preconditions.
    let expected = if unsafe { libc::geteuid() } == 0 {
        crate::util::nix::run_ok(
            std::process::Command::new("chown")
                .args(["-R", "nobody"])
                .arg(fleet.path()),
        );
        "detected dubious ownership in repository at"
    } else {
        crate::util::nix::run_ok(
            std::process::Command::new("git")
                .arg("-C")
                .arg(fleet.path())
                .args(["config", "core.repositoryformatversion", "99"]),
        );
        "Expected git repo version <= 1, found 99"
    };
    let build = BuildBox::with_poll(&fleet.path().display().to_string(), work.path(), "1s", "");
    let status = wait_for(Duration::from_secs(20), || {
        let status = get_json(&build.url("/api/v1/status"));
        status["repo"]["last_error"].is_string().then_some(status)
    })
    .expect("no fetch error reported");
    let last_error = status["repo"]["last_error"].as_str().unwrap();
    let said = format!(
        "failed to fetch branch main from {}: {expected}",
        fleet.path().display()
    );
    assert!(last_error.starts_with(&said), "{last_error}");
    assert!(!last_error.contains("fill whole buffer"), "{last_error}");
}

/// Posts a signed GitHub push of `rev` to main as delivery `delivery`.
fn deliver(build: &BuildBox, secret: &str, rev: &str, delivery: &str) -> crate::util::http::Reply {
    let body = format!(r#"{{"ref": "refs/heads/main", "after": "{rev}"}}"#);
    let signature = format!("sha256={}", sign(secret, &body));
    post(
        &build.url("/api/v1/webhooks/github"),
        &body,
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", delivery),
            ("X-Hub-Signature-256", &signature),
        ],
    )
}

#[test]
fn one_webhook_delivery_posted_three_times_makes_one_job() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let secret_file = work.path().join("webhook.secret");
    std::fs::write(&secret_file, "s3cret\n").unwrap();
    let mut build = BuildBox::start(
        &fleet,
        work.path(),
        &format!(
            "webhook_secret_file = {:?}\n",
            secret_file.display().to_string()
        ),
    );
    build.settle();
    let rev = fleet.bump();
    let delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

    let first = deliver(&build, "s3cret", &rev, delivery);
    assert_eq!(first.status, 202, "{}", first.text());
    let id = first.json()["id"].as_u64().unwrap();
    assert_eq!(build.wait_finished(id)["state"], "succeeded");

    // The forge delivers it again once the build is done: the same job, no new one.
    let second = deliver(&build, "s3cret", &rev, delivery);
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(second.json()["id"], id);
    // Again after the branch moved on and the server restarted: still the job it made.
    fleet.bump();
    build.stop();
    build.restart(work.path());
    let third = deliver(&build, "s3cret", &rev, delivery);
    assert_eq!(third.status, 200, "{}", third.text());
    assert_eq!(third.json()["id"], id);
    assert_eq!(third.json()["rev"], rev.as_str());
    let of_rev: Vec<_> = jobs(&build)
        .into_iter()
        .filter(|j| j["rev"] == rev.as_str())
        .collect();
    assert_eq!(of_rev.len(), 1, "{of_rev:?}");
}

#[test]
fn a_poll_or_webhook_of_a_built_revision_makes_no_new_job() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let secret_file = work.path().join("webhook.secret");
    std::fs::write(&secret_file, "s3cret\n").unwrap();
    let build = BuildBox::with_poll(
        &fleet.path().display().to_string(),
        work.path(),
        "1s",
        &format!(
            "webhook_secret_file = {:?}\n",
            secret_file.display().to_string()
        ),
    );
    let built_by_poll = |rev: &str| {
        let job = wait_for(Duration::from_secs(30), || {
            jobs(&build).into_iter().find(|j| j["rev"] == rev)
        })
        .unwrap_or_else(|| panic!("{rev} was not built"));
        assert_eq!(job["trigger"], "poll");
        build.wait_finished(job["id"].as_u64().unwrap())
    };
    let first = fleet.head();
    let first_job = built_by_poll(&first);
    assert_eq!(first_job["state"], "succeeded");
    let second = fleet.bump();
    assert_eq!(built_by_poll(&second)["state"], "succeeded");
    let count = jobs(&build).len();

    // The branch goes back to a commit that was built: the poll sees it move, builds nothing.
    crate::util::nix::run_ok(
        std::process::Command::new("git")
            .arg("-C")
            .arg(fleet.path())
            .args(["reset", "-q", "--hard", &first]),
    );
    wait_for(Duration::from_secs(30), || {
        (get_json(&build.url("/api/v1/status"))["repo"]["rev"] == first.as_str()).then_some(())
    })
    .expect("the poll never saw the branch move back");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(jobs(&build).len(), count, "{:#?}", jobs(&build));

    // A webhook for it is answered with the job that built it.
    let reply = deliver(&build, "s3cret", &first, "another-delivery");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["id"], first_job["id"]);
    assert_eq!(jobs(&build).len(), count);

    // Asking through the API still builds it again.
    let (code, again) = build.request(&format!(r#"{{"rev": "{first}"}}"#));
    assert_eq!(code, 201, "{again}");
    assert_ne!(again["id"], first_job["id"]);
}

#[test]
fn a_packages_only_flake_makes_no_failing_job_and_says_why_once() {
    let repo = crate::util::fixtures::single_package_flake("hello", "echo hi > $out");
    let git = |args: &[&str]| {
        crate::util::nix::run_ok(
            std::process::Command::new("git")
                .arg("-C")
                .arg(repo.path())
                .args(args),
        )
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-q",
        "-m",
        "one",
    ]);
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::with_poll(&repo.path().display().to_string(), work.path(), "1h", "");
    build.wait_first_fetch();
    let status = wait_for(Duration::from_secs(30), || {
        let status = get_json(&build.url("/api/v1/status"));
        status["repo"]["note"].is_string().then_some(status)
    })
    .expect("the status never said why nothing was built");
    let note = status["repo"]["note"].as_str().unwrap();
    assert!(note.contains("nothing to build by default"), "{note}");
    let jobs = get_json(&build.url("/api/v1/jobs"));
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0, "{jobs}");
    // Naming the target builds it.
    let (status, job) = build.request(r#"{"targets":["hello"]}"#);
    assert_eq!(status, 201, "{job}");
}
