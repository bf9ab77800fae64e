//! What clients read of the server's failures — a job's error and log, the repository's
//! `last_error` — says what happened without naming a path in the server's state dir.

use std::time::Duration;

use crate::util::build_server::{BuildBox, wait_for};
use crate::util::fleet::Fleet;
use crate::util::http::{get, get_json};

/// Fails when `text` names the state dir (or anything else in the test's work dir).
fn assert_no_server_path(text: &str, work: &std::path::Path) {
    let work = work.display().to_string();
    assert!(!text.contains(&work), "a server path leaked: {text}");
}

#[test]
fn job_errors_and_logs_name_no_state_dir_path() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    // Job 1 (the first tip, built by the first poll) cannot open its log: a directory is in
    // the way. Job 2 (one target) is rooted by nix's own out-link, where a directory is in the
    // way, which nix names. Job 3 (two targets) needs gcroots/.building, where a file is.
    std::fs::create_dir_all(state.join("logs/1.log")).unwrap();
    std::fs::create_dir_all(state.join("gcroots/hello/2/in-the-way")).unwrap();
    std::fs::write(state.join("gcroots/.building"), "in the way").unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");

    build.wait_first_fetch();
    wait_for(Duration::from_secs(30), || {
        let jobs = get_json(&build.url("/api/v1/jobs"))["jobs"].clone();
        (!jobs.as_array()?.is_empty()).then_some(())
    })
    .expect("the first tip was never queued");
    let first = build.wait_finished(1);
    assert_eq!(first["state"], "failed", "{first}");
    let error = first["error"].as_str().unwrap();
    assert!(
        error.starts_with("failed to open the job log: ") && error.contains("directory"),
        "{error}"
    );
    assert_no_server_path(&first.to_string(), work.path());

    let (code, job) = build.request(r#"{"targets": ["hello"]}"#);
    assert_eq!((code, job["id"].as_u64()), (201, Some(2)), "{job}");
    let second = build.wait_finished(2);
    assert_eq!(second["state"], "failed", "{second}");
    // Nix's own words, with the state dir masked.
    let error = second["error"].as_str().unwrap();
    assert!(error.contains("'<state dir>/gcroots/hello/2'"), "{error}");
    assert_no_server_path(&second.to_string(), work.path());
    let log = build.log(2);
    assert!(log.contains("<state dir>/gcroots/hello/2"), "{log}");
    assert_no_server_path(&log, work.path());

    let (code, job) = build.request(r#"{"targets": ["hello", "greet"]}"#);
    assert_eq!((code, job["id"].as_u64()), (201, Some(3)), "{job}");
    let third = build.wait_finished(3);
    assert_eq!(third["state"], "failed", "{third}");
    let error = third["error"].as_str().unwrap();
    assert_eq!(
        error,
        "failed to make the directory of the job's GC root links: not a directory"
    );
    assert_no_server_path(&build.log(3), work.path());
    assert_no_server_path(
        &get(&build.url("/api/v1/jobs?limit=100")).text(),
        work.path(),
    );
}

#[test]
fn a_stale_lock_in_the_mirror_is_named_without_its_path() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    build.settle();
    let built = fleet.head();
    // A git process that died while updating the branch leaves its lock behind.
    let lock = build.state.join("repo.git/refs/heads/main.lock");
    std::fs::write(&lock, "").unwrap();
    fleet.bump();

    // The request fetches first; the fetch fails, and the mirror's tip is built instead.
    let (code, job) = build.request(r#"{"targets": ["hello"]}"#);
    assert!(matches!(code, 200 | 201), "{code} {job}");
    assert_eq!(job["rev"], built.as_str());
    let status = get_json(&build.url("/api/v1/status"));
    let last_error = status["repo"]["last_error"].as_str().unwrap_or_default();
    assert!(
        last_error.contains("locked by another git process")
            && last_error.contains("stale lock file"),
        "{status}"
    );
    assert_no_server_path(&status.to_string(), work.path());
    assert!(
        std::fs::read_to_string(work.path().join("server.log"))
            .unwrap()
            .contains(&lock.display().to_string()),
        "the server's log names the lock file"
    );

    // Once the lock is gone, the next fetch clears the error.
    std::fs::remove_file(&lock).unwrap();
    let (_, job) = build.request(r#"{"targets": ["hello"]}"#);
    assert_eq!(job["rev"], fleet.head().as_str());
    let status = get_json(&build.url("/api/v1/status"));
    assert!(status["repo"]["last_error"].is_null(), "{status}");
}

#[test]
fn a_fleet_without_a_flake_lock_is_told_to_lock_and_commit_it() {
    // A fleet whose flake has an input but no flake.lock: the box evaluates in pure mode,
    // where Nix cannot lock the input itself.
    let dep = tempfile::tempdir().unwrap();
    std::fs::write(
        dep.path().join("flake.nix"),
        "{ outputs = _: { value = 1; }; }\n",
    )
    .unwrap();
    crate::util::nix::run_ok(
        std::process::Command::new("git")
            .arg("-C")
            .arg(dep.path())
            .args(["init", "-q", "-b", "main"]),
    );
    crate::util::fleet::commit_all(dep.path(), "dep");
    let fleet = Fleet::new();
    let flake = fleet.path().join("flake.nix");
    let text = std::fs::read_to_string(&flake).unwrap().replacen(
        "{\n  outputs = { self }:",
        &format!(
            "{{\n  inputs.dep.url = \"git+file://{}\";\n  outputs = {{ self, dep }}:",
            dep.path().display()
        ),
        1,
    );
    assert!(text.contains("inputs.dep.url"), "{text}");
    std::fs::write(&flake, text).unwrap();
    crate::util::fleet::commit_all(fleet.path(), "an input, not locked");
    assert!(!fleet.path().join("flake.lock").exists());

    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    build.wait_first_fetch();
    wait_for(Duration::from_secs(60), || {
        let jobs = get_json(&build.url("/api/v1/jobs"))["jobs"].clone();
        (!jobs.as_array()?.is_empty()).then_some(())
    })
    .expect("the tip was never queued");
    let job = build.wait_finished(1);
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(
        error.starts_with(
            "the fleet flake has no flake.lock: run `nix flake lock` in the fleet repo and commit flake.lock"
        ),
        "{error}"
    );
    assert!(!error.contains("--show-trace"), "{error}");
}
