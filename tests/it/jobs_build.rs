//! Builds through the API with real `nix build` of a fleet flake in a real git repository:
//! every kind of target, failures with the builder's words, progress, duplicates.

use std::process::Command;

use crate::util::build_server::BuildBox;
use crate::util::fleet::Fleet;
use crate::util::nix::run_ok;

fn roots_of(path: &str) -> String {
    String::from_utf8(run_ok(Command::new("nix-store").args(["--query", "--roots", path])).stdout)
        .unwrap()
}

#[test]
fn every_kind_of_target_builds_and_is_rooted() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    let (status, job) =
        build.request(r#"{"targets": ["laptop", "packages.x86_64-linux.step1", "hello"]}"#);
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["state"], "queued");
    assert_eq!(job["trigger"], "api");
    assert_eq!(job["rev"], fleet.head());
    assert_eq!(
        job["attrs"],
        serde_json::json!([
            "nixosConfigurations.laptop.config.system.build.toplevel",
            "packages.x86_64-linux.step1",
            "packages.x86_64-linux.hello"
        ])
    );
    let id = job["id"].as_u64().unwrap();
    let done = build.wait_finished(id);
    assert_eq!(done["state"], "succeeded", "{done}\n{}", build.log(id));
    for (target, name) in [
        ("laptop", "nixos-system-laptop"),
        ("packages.x86_64-linux.step1", "step1"),
        ("hello", "hello"),
    ] {
        let out = done["outputs"][target].as_str().unwrap();
        assert!(out.ends_with(&format!("-{name}")), "{target}: {out}");
        assert!(std::path::Path::new(out).exists());
        let link = build
            .state
            .join("gcroots")
            .join(target)
            .join(id.to_string());
        assert_eq!(std::fs::read_link(&link).unwrap().to_str(), Some(out));
        assert!(
            roots_of(out).contains(&link.display().to_string()),
            "{target} is not a GC root"
        );
    }
    assert!(done["started_at"].is_string() && done["finished_at"].is_string());
    assert!(build.log(id).contains("hello from the builder"));
}

#[test]
fn no_targets_builds_every_host_keyed_by_host_name() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    let (_, job) = build.request("{}");
    let done = build.wait_finished(job["id"].as_u64().unwrap());
    assert_eq!(done["state"], "succeeded");
    assert_eq!(done["targets"], serde_json::json!(["desktop", "laptop"]));
    assert!(
        done["outputs"]["desktop"]
            .as_str()
            .unwrap()
            .ends_with("-nixos-system-desktop")
    );
    assert!(
        done["outputs"]["laptop"]
            .as_str()
            .unwrap()
            .ends_with("-nixos-system-laptop")
    );
}

#[test]
fn a_failing_derivation_fails_the_job_with_the_builders_words() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    let (_, job) = build.request(r#"{"targets": ["broken"]}"#);
    let id = job["id"].as_u64().unwrap();
    let done = build.wait_finished(id);
    assert_eq!(done["state"], "failed");
    assert!(done["error"].as_str().unwrap().contains("broken"), "{done}");
    let log = build.log(id);
    assert!(log.contains("this builder fails on purpose"), "{log}");
    assert!(!log.contains("@nix"), "the log must be plain text: {log}");
}

#[test]
fn unknown_targets_are_refused_naming_the_hosts_and_packages() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    build.settle();
    let jobs = || {
        crate::util::http::get_json(&build.url("/api/v1/jobs"))["jobs"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = jobs();
    for body in [
        r#"{"targets": ["nosuchthing"]}"#,
        r#"{"targets": ["hello", "packages.x86_64-linux.nosuchthing"]}"#,
        r#"{"targets": ["nixosConfigurations.nosuchthing.config.system.build.toplevel"]}"#,
    ] {
        let (status, reply) = build.request(body);
        assert_eq!(status, 422, "{body}: {reply}");
        let error = reply["error"].as_str().unwrap();
        assert!(error.contains("nosuchthing"), "{error}");
        assert!(error.contains("hosts: desktop, laptop"), "{error}");
        assert!(
            error.contains("hello") && error.contains("chain"),
            "{error}"
        );
    }
    assert_eq!(before, jobs(), "a refused request made a job");
    let bt = crate::util::command_in(&build.home)
        .env("ATUIN_BOOTSTRAP_ARGV0", "bt")
        .args(["nosuchthing", "--server", &build.server.url])
        .output()
        .unwrap();
    assert_eq!(bt.status.code(), Some(3));
    let said = String::from_utf8_lossy(&bt.stderr);
    assert!(
        said.contains("422") && said.contains("nosuchthing"),
        "{said}"
    );
    assert!(
        bt.stdout.is_empty(),
        "bt printed a job id for a refused request"
    );
    // Paths that exist still resolve.
    let (status, job) = build.request(r#"{"targets": ["packages.x86_64-linux.hello"]}"#);
    assert_eq!(status, 201, "{job}");
}

#[test]
fn three_derivations_report_progress_three_of_three() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    let (_, job) = build.request(r#"{"targets": ["chain"]}"#);
    let done = build.wait_finished(job["id"].as_u64().unwrap());
    assert_eq!(done["state"], "succeeded");
    assert_eq!(done["progress"]["done"], 3, "{done}");
    assert_eq!(done["progress"]["total"], 3, "{done}");
    let log = build.log(job["id"].as_u64().unwrap());
    for line in ["step one", "step two", "step three"] {
        assert!(log.contains(line), "{log}");
    }
}

#[test]
fn identical_requests_give_one_job_and_revisions_resolve() {
    let fleet = Fleet::new();
    let first_rev = fleet.head();
    let _ = fleet.bump();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "[build]\nmax_parallel_jobs = 2\n");
    let (status, first) = build.request(r#"{"targets": ["hang", "laptop"]}"#);
    assert_eq!(status, 201);
    let (status, again) = build.request(
        r#"{"targets": ["nixosConfigurations.laptop.config.system.build.toplevel", "packages.x86_64-linux.hang"]}"#,
    );
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["id"], first["id"]);

    // A short id of an older commit on the branch resolves to the full id.
    let (status, older) = build.request(&format!(
        r#"{{"targets": ["hello"], "rev": "{}"}}"#,
        &first_rev[..8]
    ));
    assert_eq!(status, 201, "{older}");
    assert_eq!(older["rev"], first_rev);
    let done = build.wait_finished(older["id"].as_u64().unwrap());
    assert_eq!(
        done["state"],
        "succeeded",
        "{}",
        build.log(older["id"].as_u64().unwrap())
    );

    let (status, unknown) = build.request(r#"{"rev": "0123456789abcdef"}"#);
    assert_eq!(status, 422, "{unknown}");
    let cancel = crate::util::http::post(
        &build.url(&format!("/api/v1/jobs/{}/cancel", first["id"])),
        "",
        &[],
    );
    assert_eq!(cancel.status, 200);
}

#[test]
fn bad_requests_get_clear_4xx() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    for (body, status) in [
        ("{", 400),
        (r#"{"targets": "laptop"}"#, 400),
        (r#"{"target": ["laptop"]}"#, 400),
        (r#"{"targets": ["has space"]}"#, 400),
    ] {
        let (got, reply) = build.request(body);
        assert_eq!(got, status, "{body}: {reply}");
        assert!(reply["error"].is_string());
    }
    // Announcing more than 1 MiB is refused before the body is read.
    let answer = crate::util::http::raw(
        &build.server.url,
        b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\n\r\n{\"targets\": [\"aaaa",
    );
    assert_eq!(crate::util::http::raw_status(&answer), 413, "{answer}");
    // A chunked body that grows past 1 MiB is cut off too.
    let chunk = "a".repeat(1_100_000);
    let mut chunked = format!(
        "POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        chunk.len()
    )
    .into_bytes();
    chunked.extend_from_slice(chunk.as_bytes());
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let answer = crate::util::http::raw(&build.server.url, &chunked);
    assert_eq!(crate::util::http::raw_status(&answer), 413, "{answer}");
    let missing = crate::util::http::get(&build.url("/api/v1/jobs/99999"));
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"].is_string());
    let listed = crate::util::http::get(&build.url("/api/v1/jobs?state=bogus"));
    assert_eq!(listed.status, 400);
}

#[test]
fn one_target_is_rooted_by_nix_itself_and_a_waiting_request_ends_with_the_job() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    let (_, job) = build.request(r#"{"targets": ["chain"]}"#);
    let id = job["id"].as_u64().unwrap();
    // Answered when the job ends, not before.
    let waited = crate::util::http::get_json(&build.url(&format!("/api/v1/jobs/{id}?wait=50")));
    assert_eq!(waited["state"], "succeeded", "{waited}");
    let out = waited["outputs"]["chain"].as_str().unwrap();
    let link = build.state.join("gcroots/chain").join(id.to_string());
    assert_eq!(std::fs::read_link(&link).unwrap().to_str(), Some(out));
    assert!(
        roots_of(out).contains(&link.display().to_string()),
        "the single target is not a GC root"
    );
    assert!(
        !build
            .state
            .join("gcroots/.building")
            .join(id.to_string())
            .exists()
    );
    let bad = crate::util::http::get(&build.url(&format!("/api/v1/jobs/{id}?wait=soon")));
    assert_eq!(bad.status, 400);
    // A failed single-target job leaves no root behind.
    let (_, job) = build.request(r#"{"targets": ["broken"]}"#);
    let id = job["id"].as_u64().unwrap();
    let waited = crate::util::http::get_json(&build.url(&format!("/api/v1/jobs/{id}?wait=50")));
    assert_eq!(waited["state"], "failed");
    assert!(
        !build
            .state
            .join("gcroots/broken")
            .join(id.to_string())
            .exists()
    );
}

#[test]
fn a_system_nothing_here_builds_fails_at_once_naming_it_and_the_builders() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    build.settle();
    let (status, job) = build.request(r#"{"targets": ["hello"], "system": "aarch64-linux"}"#);
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(
        error.contains("aarch64-linux") && error.contains("none is configured"),
        "{error}"
    );
    let (status, reply) = build.request(r#"{"targets": ["hello"], "system": "not a system"}"#);
    assert_eq!(status, 400, "{reply}");
    // The box's own system, named, builds as without it.
    let (status, job) = build.request(r#"{"targets": ["hello"], "system": "x86_64-linux"}"#);
    assert_eq!(status, 201, "{job}");
    let done = build.wait_finished(job["id"].as_u64().unwrap());
    assert_eq!(done["state"], "succeeded", "{done}");
    // bt --system, waited for: exit 1 with the reason.
    let bt = crate::util::command_in(&build.home)
        .env("ATUIN_BOOTSTRAP_ARGV0", "bt")
        .args([
            "hello",
            "--system",
            "riscv64-linux",
            "--wait",
            "--server",
            &build.server.url,
        ])
        .output()
        .unwrap();
    assert_eq!(bt.status.code(), Some(1));
    let said = String::from_utf8_lossy(&bt.stderr);
    assert!(said.contains("riscv64-linux"), "{said}");

    // A target whose own derivation is for another system (an ARM host's configuration) is
    // built as such: with no machine for it, the job fails naming the system and the builders.
    let flake = fleet.path().join("flake.nix");
    let text = std::fs::read_to_string(&flake).unwrap().replace(
        "      hello = ",
        "      arm = derivation { name = \"arm\"; system = \"aarch64-linux\"; builder = \"/bin/sh\"; args = [ \"-c\" \"echo > $out\" ]; };\n      hello = ",
    );
    std::fs::write(&flake, text).unwrap();
    crate::util::fleet::commit_all(fleet.path(), "an aarch64-linux package");
    let (status, job) = build.request(r#"{"targets": ["arm"]}"#);
    assert_eq!(status, 201, "{job}");
    let done = build.wait_finished(job["id"].as_u64().unwrap());
    assert_eq!(done["state"], "failed", "{done}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains("'aarch64-linux'") && error.contains("none is configured"),
        "{error}"
    );
}
