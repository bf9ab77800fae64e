//! Alerts from a real server to a real local HTTP receiver: a failed job, the first success
//! of the same targets after it (recovered), a host's rollback — each once, as docs/reference.md's
//! JSON, tried again when the receiver answers 503 — and ntfy's plain-text form.

use std::time::Duration;

use serde_json::json;

use crate::util::build_server::BuildBox;
use crate::util::flake_repo::FlakeRepo;
use crate::util::fleet::Fleet;
use crate::util::http::{get_json, post};
use crate::util::receiver::Receiver;

const ARRIVES: Duration = Duration::from_secs(20);
/// How long to wait to be sure no alert comes.
const QUIET: Duration = Duration::from_secs(3);

const FLAKY: &str = r#"{
  outputs = { self }: let
    mk = name: script: derivation {
      inherit name;
      nonce = "@NONCE@";
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ "-c" "PATH=/bin:/usr/bin\n${script}\necho ${name} > $out" ];
    };
  in {
    nixosConfigurations.laptop.config.system.build.toplevel = mk "nixos-system-laptop" "true";
    packages.x86_64-linux.flaky = mk "flaky" "@FLAKY@";
  };
}
"#;

fn flake(flaky: &str) -> String {
    FLAKY.replace("@FLAKY@", flaky)
}

#[test]
fn failures_recoveries_and_rollbacks_are_posted_once_each() {
    let receiver = Receiver::start(&[503]);
    let repo = FlakeRepo::new();
    repo.commit(&flake("echo flaky fails here >&2; exit 1"), "flaky fails");
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::with_poll(
        &repo.path().display().to_string(),
        work.path(),
        "1h",
        &format!("[notify]\nurl = {:?}", receiver.url),
    );
    build.settle();

    // Failed: the receiver's 503 is tried again.
    let (_, failed) = build.request(r#"{"targets": ["flaky"]}"#);
    let failed = failed["id"].as_u64().unwrap();
    build.wait_finished(failed);
    let refused = receiver.next(ARRIVES).expect("no alert for the failed job");
    assert_eq!(refused.answered, 503);
    let alert = receiver
        .next(ARRIVES)
        .expect("the alert was not tried again");
    assert_eq!(
        (alert.method.as_str(), alert.path.as_str()),
        ("POST", "/hook")
    );
    assert_eq!(alert.header("content-type"), Some("application/json"));
    assert_eq!(alert.body, refused.body);
    let body = alert.json();
    assert_eq!(body["event"], "job_failed");
    assert_eq!(body["job"]["id"], failed);
    assert_eq!(body["job"]["state"], "failed");
    assert_eq!(body["job"]["targets"], json!(["flaky"]));
    assert!(body["host"].is_null());
    assert_eq!(body["url"], build.url(&format!("/jobs/{failed}")));
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("job {failed} failed: flaky")),
        "{message}"
    );

    // Fixed at the next commit: recovered, once.
    repo.commit(&flake("echo fixed"), "flaky fixed");
    let (_, fixed) = build.request(r#"{"targets": ["flaky"]}"#);
    let fixed = fixed["id"].as_u64().unwrap();
    assert_eq!(build.wait_finished(fixed)["state"], "succeeded");
    let alert = receiver.next(ARRIVES).expect("no alert for the recovery");
    let body = alert.json();
    assert_eq!(body["event"], "job_recovered");
    assert_eq!(body["job"]["id"], fixed);
    assert_eq!(body["url"], build.url(&format!("/jobs/{fixed}")));
    let (_, again) = build.request(r#"{"targets": ["flaky"]}"#);
    assert_eq!(
        build.wait_finished(again["id"].as_u64().unwrap())["state"],
        "succeeded"
    );

    // A rollback: alerted once, not for the same rollback reported again.
    let laptop = get_json(&build.url("/api/v1/hosts/laptop"));
    let latest = laptop["latest"]["path"].as_str().unwrap();
    let report = |message: &str| {
        let body = json!({"state": "rolled_back", "path": latest, "wanted": latest,
                          "message": message});
        let reply = post(
            &build.url("/api/v1/hosts/laptop/report"),
            &body.to_string(),
            &[],
        );
        assert_eq!(reply.status, 200, "{}", reply.text());
    };
    report("health check `true` failed");
    let alert = receiver.next(ARRIVES).expect("no alert for the rollback");
    let body = alert.json();
    assert_eq!(body["event"], "host_rolled_back");
    assert_eq!(body["host"]["name"], "laptop");
    assert_eq!(body["host"]["state"], "rolled_back");
    assert!(body["job"].is_null());
    assert_eq!(body["url"], build.url("/#host-laptop"));
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("health check `true` failed")
    );
    report("health check `true` failed");
    report("not deploying it again: it failed here");
    if let Some(extra) = receiver.next(QUIET) {
        panic!("one alert too many: {}", extra.text());
    }
}

#[test]
fn ntfy_gets_plain_text_with_title_tags_and_click_for_the_events_chosen() {
    let receiver = Receiver::start(&[]);
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(
        &fleet,
        work.path(),
        &format!(
            "[notify]\nurl = {:?}\nformat = \"ntfy\"\non = [\"job_failed\"]",
            receiver.url
        ),
    );
    build.settle();
    let (_, broken) = build.request(r#"{"targets": ["broken"]}"#);
    let broken = broken["id"].as_u64().unwrap();
    build.wait_finished(broken);
    let alert = receiver.next(ARRIVES).expect("no alert for the failed job");
    assert_eq!(
        alert.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        alert.header("title"),
        Some(format!("atuin-bootstrap: job {broken} failed").as_str())
    );
    assert_eq!(
        alert.header("click"),
        Some(build.url(&format!("/jobs/{broken}")).as_str())
    );
    assert!(alert.header("tags").unwrap().contains("job_failed"));
    assert!(
        alert
            .text()
            .starts_with(&format!("job {broken} failed: broken"))
    );
    // Host reports are not among the chosen events.
    let laptop = get_json(&build.url("/api/v1/hosts/laptop"));
    let latest = laptop["latest"]["path"].as_str().unwrap();
    post(
        &build.url("/api/v1/hosts/laptop/report"),
        &json!({"state": "rolled_back", "path": latest}).to_string(),
        &[],
    );
    assert!(receiver.next(QUIET).is_none());
}
