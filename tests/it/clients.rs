//! `bt`, `bs`, `bl` and `cancel` as users and scripts run them: the real binary through real
//! symlinks, against a real build server building a fixture flake with real Nix; ids, states,
//! logs, `--json` shapes and the documented exit codes.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::applets::Applets;
use crate::util::build_server::{BuildBox, wait_for};
use crate::util::fleet::Fleet;
use crate::util::http::get_json;
use crate::util::output::{stderr, stdout};

#[test]
fn bt_queues_waits_and_follows_with_the_contracts_exit_codes() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    let applets = Applets::new(work.path(), &build.server.url);

    // Under a pipe: the id alone.
    let queued = applets.run("bt", &["hello"]);
    assert_eq!(queued.status.code(), Some(0), "{}", stderr(&queued));
    let id: u64 = stdout(&queued).trim().parse().expect("bt prints the id");
    assert_eq!(build.job(id)["targets"], serde_json::json!(["hello"]));

    // Waiting under a pipe: the id, then one closing line with what was built.
    let waited = applets.run("bt", &["--wait", "desktop"]);
    assert_eq!(waited.status.code(), Some(0), "{}", stderr(&waited));
    let text = stdout(&waited);
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.contains("succeeded") && last.contains("desktop → /nix/store/"),
        "{text}"
    );

    let json = applets.run("bt", &["--json", "--wait", "chain"]);
    assert_eq!(json.status.code(), Some(0));
    let job: serde_json::Value =
        serde_json::from_str(stdout(&json).trim()).expect("only JSON on stdout");
    assert_eq!(job["state"], "succeeded");
    assert_eq!(job["progress"]["done"], 3);
    assert_eq!(job["progress"]["total"], 3);

    let waited = applets.run("bt", &["-q", "--wait", "step1"]);
    assert_eq!(waited.status.code(), Some(0), "{}", stderr(&waited));
    let printed = stdout(&waited);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 1, "-q prints the id once: {lines:?}");
    let waited_id: u64 = lines[0].parse().unwrap();
    assert_eq!(build.job(waited_id)["state"], "succeeded");

    let failed = applets.run("bt", &["--wait", "broken"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(stderr(&failed).contains("failed"), "{}", stderr(&failed));

    let queued_json = applets.run("bt", &["--json", "laptop"]);
    let job: serde_json::Value = serde_json::from_str(stdout(&queued_json).trim()).unwrap();
    assert!(job["id"].is_u64() && job["attrs"].is_array());

    let followed = applets.run("bt", &["--follow", "greet"]);
    assert_eq!(followed.status.code(), Some(0), "{}", stderr(&followed));
    assert!(
        stdout(&followed).contains("greetings from the builder"),
        "{}",
        stdout(&followed)
    );
    assert!(
        !stdout(&followed).contains('\u{1b}'),
        "no colour under a pipe"
    );

    let followed_fail = applets.run(
        "bt",
        &["--follow", "--json", "broken", "--rev", &fleet.head()[..10]],
    );
    assert_eq!(followed_fail.status.code(), Some(1));
    assert!(stderr(&followed_fail).contains("this builder fails on purpose"));
    let job: serde_json::Value = serde_json::from_str(stdout(&followed_fail).trim()).unwrap();
    assert_eq!(job["state"], "failed");
}

#[test]
fn bs_and_bl_show_jobs_and_logs() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    let applets = Applets::new(work.path(), &build.server.url);
    build.settle();
    let (_, failing) = build.request(r#"{"targets": ["broken"]}"#);
    let failing_id = failing["id"].as_u64().unwrap();
    build.wait_finished(failing_id);

    let status = applets.run("bs", &["--json"]);
    assert_eq!(status.status.code(), Some(0));
    let printed: serde_json::Value = serde_json::from_str(stdout(&status).trim()).unwrap();
    let api = get_json(&build.url("/api/v1/status"));
    assert_eq!(printed["cache"], api["cache"]);
    assert_eq!(printed["repo"]["url"], api["repo"]["url"]);
    // With the recent jobs the overview shows.
    assert_eq!(printed["jobs"][0]["id"], failing_id, "{printed}");

    let overview = applets.run("bs", &[]);
    let text = stdout(&overview);
    assert!(
        text.contains("STATE") && text.contains("broken") && text.contains("failed"),
        "{text}"
    );
    assert!(text.contains(&api["cache"]["public_keys"][0].as_str().unwrap().to_string()));

    // A failed job is shown, and bs still exits 0.
    let one = applets.run("bs", &[&failing_id.to_string()]);
    assert_eq!(one.status.code(), Some(0));
    assert!(stdout(&one).contains("failed"));
    let one_json = applets.run("bs", &[&failing_id.to_string(), "--json"]);
    let job: serde_json::Value = serde_json::from_str(stdout(&one_json).trim()).unwrap();
    assert_eq!(job, build.job(failing_id));

    let log = applets.run("bl", &[&failing_id.to_string()]);
    assert_eq!(log.status.code(), Some(0));
    assert!(stdout(&log).contains("this builder fails on purpose"));
    let newest = applets.run("bl", &[]);
    assert_eq!(stdout(&newest), stdout(&log));
    let followed = applets.run("bl", &["-f", &failing_id.to_string()]);
    assert_eq!(
        followed.status.code(),
        Some(1),
        "bl -f exits with the job's result"
    );

    // A job that built nothing has an empty log, and bl says why.
    let (_, again) = build.request(r#"{"targets": ["hello"]}"#);
    build.wait_finished(again["id"].as_u64().unwrap());
    let (_, noop) = build.request(r#"{"targets": ["hello"]}"#);
    let noop_id = noop["id"].as_u64().unwrap();
    build.wait_finished(noop_id);
    let empty = applets.run("bl", &[&noop_id.to_string()]);
    assert_eq!(empty.status.code(), Some(0));
    assert!(stdout(&empty).is_empty());
    assert!(
        stderr(&empty).contains("nothing needed building"),
        "{}",
        stderr(&empty)
    );

    let unknown = applets.run("bs", &["424242"]);
    assert_eq!(unknown.status.code(), Some(3));
    assert!(
        stderr(&unknown).contains("no job 424242"),
        "{}",
        stderr(&unknown)
    );
    let unknown_log = applets.run("bl", &["424242"]);
    assert_eq!(unknown_log.status.code(), Some(3));
}

#[test]
fn cancel_and_interrupting_a_follow() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    let applets = Applets::new(work.path(), &build.server.url);

    let follower = applets
        .command("bt")
        .args(["--follow", "hang"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let job = wait_for(Duration::from_secs(30), || {
        let jobs = get_json(&build.url("/api/v1/jobs?state=running"));
        jobs["jobs"].as_array().and_then(|j| {
            j.iter()
                .find(|j| j["targets"] == serde_json::json!(["hang"]))
                .cloned()
        })
    })
    .expect("the hang job never ran");
    let id = job["id"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: SIGINT to our own child, as Ctrl-C would.
    unsafe { libc::kill(follower.id() as i32, libc::SIGINT) };
    let output = follower.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    assert!(
        stderr(&output).contains(&format!("atuin-bootstrap cancel {id}")),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        build.job(id)["state"],
        "running",
        "Ctrl-C must leave the job running"
    );

    let cancelled = Command::new(crate::util::binary())
        .env("ATUIN_BOOTSTRAP_SERVER", &build.server.url)
        .args(["cancel", &id.to_string()])
        .output()
        .unwrap();
    assert_eq!(cancelled.status.code(), Some(0), "{}", stderr(&cancelled));
    assert!(stdout(&cancelled).contains("cancelled"));
    assert_eq!(build.job(id)["state"], "cancelled");
}

#[test]
fn unreachable_servers_missing_urls_and_tokens_are_explained() {
    let work = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let applets = Applets::new(work.path(), &url);
    let output = applets.run("bs", &[]);
    assert_eq!(output.status.code(), Some(3));
    let message = stderr(&output);
    assert!(
        message.contains(&url) && message.contains("ATUIN_BOOTSTRAP_SERVER"),
        "{message}"
    );
    assert_eq!(message.trim().lines().count(), 1, "one sentence: {message}");

    let flagged = applets.run("bs", &["--server", &url]);
    assert!(
        stderr(&flagged).contains("--server"),
        "{}",
        stderr(&flagged)
    );

    let no_url = applets
        .command("bt")
        .env_remove("ATUIN_BOOTSTRAP_SERVER")
        .arg("x")
        .output()
        .unwrap();
    assert_eq!(no_url.status.code(), Some(2));

    // A server with a token: bt without one is refused with the way to set it.
    let fleet = Fleet::new();
    let build = BuildBox::start(&fleet, work.path(), "");
    let applets = Applets::new(work.path(), &build.server.url);
    let created = Command::new(crate::util::binary())
        .args(["token", "create", "laptop", "--state-dir"])
        .arg(&build.state)
        .output()
        .unwrap();
    let token = stdout(&created).lines().last().unwrap().to_string();
    let refused = applets.run("bt", &["hello"]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(
        stderr(&refused).contains("ATUIN_BOOTSTRAP_TOKEN"),
        "{}",
        stderr(&refused)
    );
    let with_env = applets
        .command("bt")
        .env("ATUIN_BOOTSTRAP_TOKEN", &token)
        .arg("hello")
        .output()
        .unwrap();
    assert_eq!(with_env.status.code(), Some(0), "{}", stderr(&with_env));
    let token_file = work.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let with_file = applets
        .command("bt")
        .env("ATUIN_BOOTSTRAP_CLIENT__TOKEN_FILE", &token_file)
        .arg("step1")
        .output()
        .unwrap();
    assert_eq!(with_file.status.code(), Some(0), "{}", stderr(&with_file));
}

#[test]
fn a_url_that_is_not_an_atuin_bootstrap_server_is_named_as_such() {
    let home = tempfile::tempdir().unwrap();
    let port = crate::util::free_port();
    let served = tempfile::tempdir().unwrap();
    let mut other = std::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(served.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    crate::util::build_server::wait_for(std::time::Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("the other server never listened");
    for (applet, args) in [("bs", vec![]), ("bt", vec!["hello"]), ("bl", vec!["3"])] {
        let output = crate::util::command_in(home.path())
            .env("ATUIN_BOOTSTRAP_ARGV0", applet)
            .args(&args)
            .args(["--server", &url])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{applet}: {said}");
        assert!(
            said.contains("does not look like an atuin-bootstrap server") && said.contains(&url),
            "{applet}: {said}"
        );
        assert!(!said.contains("no explanation"), "{said}");
    }
    let https = format!("https://127.0.0.1:{port}");
    let output = crate::util::command_in(home.path())
        .env("ATUIN_BOOTSTRAP_ARGV0", "bs")
        .args(["--server", &https])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{said}");
    assert!(
        said.contains("does not speak https") && said.contains(&url),
        "{said}"
    );
    let _ = other.kill();
    let _ = other.wait();
}
