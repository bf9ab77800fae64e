//! Credentials of the fleet repository: never shown (status, pages, jobs, metrics, the API's
//! refusals, the server's log, `config show`), and `repo.credentials_file` fetching from a real
//! git server over https (nginx with a throwaway certificate in front of `git http-backend`
//! behind Basic authentication) with none in the URL.

use std::time::Duration;

use crate::util::build_server::{BuildBox, wait_for};
use crate::util::fleet::Fleet;
use crate::util::git_http::{GitHttp, GitHttps};
use crate::util::http::{get, get_json, post};

const SECRETS: [&str; 3] = ["SECRETPASS", "TOKENVALUE", "s3cr3t-user"];

fn assert_hidden(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
    }
}

/// A bare copy of the fleet under `root` as `fleet.git`.
fn bare_fleet(fleet: &Fleet, root: &std::path::Path) {
    let status = std::process::Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(fleet.path())
        .arg(root.join("fleet.git"))
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn credentials_in_the_repository_url_are_never_shown() {
    let work = tempfile::tempdir().unwrap();
    let fleet = Fleet::new();
    bare_fleet(&fleet, work.path());
    // The git server wants other credentials: every fetch fails with what gix says about it.
    let git = GitHttp::start(work.path(), "someone", "else");
    let url = format!(
        "{}/fleet.git?ref=main&access_token=TOKENVALUE",
        git.base
            .replace("http://", "http://s3cr3t-user:SECRETPASS@")
    );
    let server = BuildBox::with_poll(&url, work.path(), "2s", "");
    let status = wait_for(Duration::from_secs(30), || {
        let status = get_json(&server.url("/api/v1/status"));
        status["repo"]["last_error"].is_string().then_some(status)
    })
    .expect("the fetch never failed");
    let shown = status["repo"]["url"].as_str().unwrap();
    assert_eq!(
        shown,
        format!(
            "{}/fleet.git?ref=main&access_token=***",
            git.base.replace("http://", "http://***@")
        )
    );
    let error = status["repo"]["last_error"].as_str().unwrap();
    println!("last_error: {error}");
    assert!(error.contains("***"), "{error}");

    let refused = post(&server.url("/api/v1/jobs"), "{}", &[]);
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert_hidden("POST /api/v1/jobs", &refused.text());
    let refused = post(&server.url("/api/v1/jobs"), r#"{"rev":"abcdef12"}"#, &[]);
    assert_hidden("POST /api/v1/jobs with a rev", &refused.text());
    for path in [
        "/api/v1/status",
        "/api/v1/jobs",
        "/api/v1/hosts",
        "/",
        "/metrics",
        "/jobs/1",
    ] {
        let reply = get(&server.url(path));
        assert_hidden(path, &reply.text());
    }
    // A few more failed fetches, then the log.
    std::thread::sleep(Duration::from_secs(3));
    let log = std::fs::read_to_string(&server.server.log).unwrap();
    assert!(
        log.contains("fetching the fleet repository failed"),
        "{log}"
    );
    assert_hidden("the server's log", &log);
    let mirror_config =
        std::fs::read_to_string(server.state.join("repo.git").join("config")).unwrap();
    assert_hidden("the mirror's git config", &mirror_config);

    let shown = crate::util::command_in(&server.home)
        .arg("--config")
        .arg(&server.config)
        .args(["config", "show"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(shown.contains("access_token=***"), "{shown}");
    assert_hidden("config show", &shown);
}

/// gix sends credentials only over https ("will not send credentials in clear text over
/// http"): over plain http the file's credential is found and offered for the right URL (and
/// refused by gix for the scheme), and nothing of it is shown. The https test below fetches.
#[test]
fn a_credentials_file_is_used_for_its_host_and_never_shown() {
    let work = tempfile::tempdir().unwrap();
    let fleet = Fleet::new();
    bare_fleet(&fleet, work.path());
    let git = GitHttp::start(work.path(), "fleet-reader", "SECRETPASS");
    let credentials = work.path().join("git-credentials");
    std::fs::write(
        &credentials,
        format!(
            "https://other:x@github.com\n{}\n",
            git.base
                .replace("http://", "http://fleet-reader:SECRETPASS@")
        ),
    )
    .unwrap();
    let url = format!("{}/fleet.git", git.base);
    let first_error = |server: &BuildBox| {
        wait_for(Duration::from_secs(30), || {
            get_json(&server.url("/api/v1/status"))["repo"]["last_error"]
                .as_str()
                .map(str::to_string)
        })
        .expect("the fetch never failed")
    };
    let with_file = BuildBox::with_poll(
        &url,
        &work.path().join("with"),
        "1h",
        &format!("credentials_file = {:?}", credentials.display().to_string()),
    );
    let error = first_error(&with_file);
    println!("with the credentials file: {error}");
    assert!(error.contains("clear text"), "{error}");
    let status = get_json(&with_file.url("/api/v1/status"));
    assert_eq!(status["repo"]["url"], url);
    assert_hidden("status", &status.to_string());
    let log = std::fs::read_to_string(&with_file.server.log).unwrap();
    assert_hidden("the server's log", &log);
    let mirror_config =
        std::fs::read_to_string(with_file.state.join("repo.git").join("config")).unwrap();
    assert_hidden("the mirror's git config", &mirror_config);

    // Without the file the server asks for credentials and gets none.
    let without = BuildBox::with_poll(&url, &work.path().join("without"), "1h", "");
    let error = first_error(&without);
    println!("without the credentials file: {error}");
    assert!(!error.contains("clear text"), "{error}");
}

/// The whole way over https: nginx with a certificate the server trusts (`SSL_CERT_FILE`) in
/// front of `git http-backend` behind Basic authentication, the credentials only in the file.
#[test]
fn a_credentials_file_fetches_over_https_with_nothing_in_the_url() {
    let work = tempfile::tempdir().unwrap();
    let fleet = Fleet::new();
    bare_fleet(&fleet, work.path());
    let Some(git) = GitHttps::start(
        work.path(),
        &work.path().join("tls"),
        "fleet-reader",
        "SECRETPASS",
    ) else {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "nginx and openssl are needed for this test (.ci/run installs them)"
        );
        println!("skipped: needs nginx and openssl");
        return;
    };
    let credentials = work.path().join("git-credentials");
    std::fs::write(
        &credentials,
        format!(
            "https://other:x@github.com\n{}\n",
            git.base
                .replace("https://", "https://fleet-reader:SECRETPASS@")
        ),
    )
    .unwrap();
    let url = format!("{}/fleet.git", git.base);
    let cert = git.cert.display().to_string();
    let server = BuildBox::with_env(
        &url,
        &work.path().join("box"),
        "1h",
        &format!("credentials_file = {:?}", credentials.display().to_string()),
        &[("SSL_CERT_FILE", cert.as_str())],
    );
    let status = wait_for(Duration::from_secs(30), || {
        let status = get_json(&server.url("/api/v1/status"));
        (status["repo"]["rev"].is_string() || status["repo"]["last_error"].is_string())
            .then_some(status)
    })
    .expect("the first fetch never ended");
    assert_eq!(status["repo"]["rev"], fleet.head(), "{status}");
    assert_eq!(status["repo"]["url"], url);
    let log = std::fs::read_to_string(&server.server.log).unwrap();
    assert_hidden("the server's log", &log);
    let mirror_config =
        std::fs::read_to_string(server.state.join("repo.git").join("config")).unwrap();
    assert_hidden("the mirror's git config", &mirror_config);

    // The same server without the file is refused: the credentials came from it.
    let without = BuildBox::with_env(
        &url,
        &work.path().join("without"),
        "1h",
        "",
        &[("SSL_CERT_FILE", cert.as_str())],
    );
    let error = wait_for(Duration::from_secs(30), || {
        get_json(&without.url("/api/v1/status"))["repo"]["last_error"]
            .as_str()
            .map(str::to_string)
    })
    .unwrap();
    println!("over https without the credentials file: {error}");
    assert!(error.contains("repo.credentials_file"), "{error}");
}
