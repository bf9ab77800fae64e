//! Stopping builds: a cancelled build leaves no builder behind, and a server killed mid-build
//! queues the job again when it comes back, with its history intact, its attempt counted and
//! a line in its log.

use std::time::Duration;

use crate::util::build_server::{BuildBox, wait_for};
use crate::util::fleet::Fleet;
use crate::util::http::{get_json, post};

fn alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks whether the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn builder_pid(fleet: &Fleet) -> i32 {
    wait_for(Duration::from_secs(30), || {
        std::fs::read_to_string(fleet.pid_file())
            .ok()
            .and_then(|t| t.trim().parse().ok())
    })
    .expect("the hanging builder never started")
}

#[test]
fn cancelling_a_running_build_leaves_no_builder() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    let (_, job) = build.request(r#"{"targets": ["hang"]}"#);
    let id = job["id"].as_u64().unwrap();
    let pid = builder_pid(&fleet);
    assert!(alive(pid));
    // The builder runs before Nix's word of it has been read: wait for both.
    let running = build.wait_job(id, |j| j["progress"]["current"] == "hang");
    assert_eq!(running["state"], "running", "{running}");
    wait_for(Duration::from_secs(30), || {
        build.log(id).contains("hanging").then_some(())
    })
    .expect("the builder's line never reached the log");

    let reply = post(&build.url(&format!("/api/v1/jobs/{id}/cancel")), "", &[]);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["state"], "cancelled");
    assert!(
        wait_for(Duration::from_secs(5), || (!alive(pid)).then_some(())).is_some(),
        "the builder {pid} survived the cancel"
    );
    assert!(build.log(id).contains("hanging"));

    // Cancelling again: it has ended.
    let again = post(&build.url(&format!("/api/v1/jobs/{id}/cancel")), "", &[]);
    assert_eq!(again.status, 409);
    let missing = post(&build.url("/api/v1/jobs/424242/cancel"), "", &[]);
    assert_eq!(missing.status, 404);
}

#[test]
fn a_queued_job_cancels_at_once() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    let (_, hang) = build.request(r#"{"targets": ["hang"]}"#);
    let (_, queued) = build.request(r#"{"targets": ["hello"]}"#);
    assert_eq!(queued["state"], "queued");
    let reply = post(
        &build.url(&format!("/api/v1/jobs/{}/cancel", queued["id"])),
        "",
        &[],
    );
    assert_eq!(reply.json()["state"], "cancelled");
    post(
        &build.url(&format!("/api/v1/jobs/{}/cancel", hang["id"])),
        "",
        &[],
    );
}

#[test]
fn a_server_killed_mid_build_queues_the_job_again_and_keeps_history() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let mut build = BuildBox::start(&fleet, work.path(), "");
    let (_, done) = build.request(r#"{"targets": ["hello"]}"#);
    let done_id = done["id"].as_u64().unwrap();
    build.wait_finished(done_id);
    let (_, job) = build.request(r#"{"targets": ["hang"]}"#);
    let id = job["id"].as_u64().unwrap();
    let first_builder = builder_pid(&fleet);
    let running = build.wait_job(id, |j| j["state"] == "running");
    assert_eq!(running["attempt"], 1, "{running}");
    let before = get_json(&build.url("/api/v1/jobs?limit=100"))["jobs"]
        .as_array()
        .unwrap()
        .len();

    // SAFETY: SIGKILL to our own child.
    unsafe { libc::kill(build.server.child.id() as i32, libc::SIGKILL) };
    let _ = build.server.child.wait();
    // Nix goes down with the server (it gets SIGTERM when its parent dies) and so does its builder.
    assert!(
        wait_for(Duration::from_secs(15), || (!alive(first_builder))
            .then_some(()))
        .is_some(),
        "the builder outlived the killed server"
    );
    std::fs::remove_file(fleet.pid_file()).unwrap();

    build.restart(work.path());
    let again = build.wait_job(id, |j| j["state"] == "running");
    assert_eq!(again["id"], id);
    assert_eq!(again["attempt"], 2, "{again}");
    let second_builder = builder_pid(&fleet);
    assert_ne!(second_builder, first_builder);
    // One log, the second run after a line that says so.
    let log = build.log(id);
    let marker = format!("--- server restarted; job {id} runs again (attempt 2) ---\n");
    let (first_run, second_run) = log
        .split_once(&marker)
        .unwrap_or_else(|| panic!("no restart marker in the log:\n{log}"));
    assert!(
        first_run.contains("hanging") && second_run.contains("hanging"),
        "{log}"
    );
    assert_eq!(build.job(done_id)["attempt"], 1);
    let after = get_json(&build.url("/api/v1/jobs?limit=100"))["jobs"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(after, before, "jobs were lost or added");
    assert_eq!(build.job(done_id)["state"], "succeeded");
    post(&build.url(&format!("/api/v1/jobs/{id}/cancel")), "", &[]);
}

#[test]
fn a_followed_log_streams_until_the_job_ends() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    let (_, job) = build.request(r#"{"targets": ["hang"]}"#);
    let id = job["id"].as_u64().unwrap();
    builder_pid(&fleet);
    let url = build.url(&format!("/api/v1/jobs/{id}/log?follow=true"));
    let follower = std::thread::spawn(move || crate::util::http::get(&url));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !follower.is_finished(),
        "the followed log ended while the job ran"
    );
    post(&build.url(&format!("/api/v1/jobs/{id}/cancel")), "", &[]);
    let reply = follower.join().unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let text = reply.text();
    assert!(
        text.contains("hanging") && text.contains("cancelled"),
        "{text}"
    );
}
