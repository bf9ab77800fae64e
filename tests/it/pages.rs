//! The status pages in a real browser (headless Chromium over the DevTools protocol) against
//! a real server with real jobs: what the status page and a job page show after their script
//! ran, that they follow the box live (a job's end, a log as it is written) without a reload,
//! that text from outside (log lines, targets, commit messages) stays text, and that nothing
//! is fetched from anywhere but the server. Also the pages with JavaScript off (plain GETs).

use std::time::Duration;

use serde_json::json;

use crate::util::browser::Browser;
use crate::util::build_server::{BuildBox, wait_for};
use crate::util::flake_repo::FlakeRepo;
use crate::util::fleet::Fleet;
use crate::util::http::{get, get_json, post, request};

const LIVE: Duration = Duration::from_secs(20);

/// Every `http://` or `https://` in `html` names the server itself.
fn names_no_other_site(html: &str, server: &str) {
    for (at, _) in html.match_indices("http") {
        let rest = &html[at..];
        if rest.starts_with("http://") || rest.starts_with("https://") {
            assert!(
                rest.starts_with(server),
                "the page names another site: {}",
                &rest[..rest.len().min(80)]
            );
        }
    }
}

/// What every page must keep to: its own files only, nothing refused, no dialog.
fn loaded_only_from(browser: &mut Browser, server: &str) {
    let urls = browser.requested_urls();
    assert!(!urls.is_empty());
    for url in &urls {
        assert!(
            url.starts_with(server),
            "fetched from outside the box: {url}"
        );
    }
    assert_eq!(
        browser.dialogs(),
        Vec::<serde_json::Value>::new(),
        "a dialog opened"
    );
    assert_eq!(
        browser.errors(),
        Vec::<String>::new(),
        "the page logged errors"
    );
}

#[test]
fn the_status_page_shows_the_box_and_follows_it() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    build.settle();
    let (_, broken) = build.request(r#"{"targets": ["broken"]}"#);
    let broken = broken["id"].as_u64().unwrap();
    build.wait_finished(broken);
    let laptop = get_json(&build.url("/api/v1/hosts/laptop"));
    let path = laptop["latest"]["path"].as_str().unwrap();
    let reported = post(
        &build.url("/api/v1/hosts/laptop/report"),
        &json!({"state": "deployed", "path": path}).to_string(),
        &[],
    );
    assert_eq!(reported.status, 200, "{}", reported.text());
    let (_, hang) = build.request(r#"{"targets": ["hang"]}"#);
    let hang = hang["id"].as_u64().unwrap();
    build.wait_job(hang, |job| job["progress"]["current"].is_string());
    let key = get_json(&build.url("/api/v1/status"))["cache"]["public_keys"][0]
        .as_str()
        .unwrap()
        .to_string();

    // JavaScript off: the page as served is complete, and names no other site.
    let page = get(&build.url("/"));
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    let html = page.text();
    for expected in [
        format!("href=\"/jobs/{hang}\""),
        format!("href=\"/jobs/{broken}\""),
        key.clone(),
        "<progress".to_string(),
        "id=\"host-laptop\"".to_string(),
    ] {
        assert!(html.contains(&expected), "no {expected} in {html}");
    }
    names_no_other_site(&html, &build.server.url);
    assert!(html.len() < 32 * 1024, "{} bytes", html.len());
    let head = request("HEAD", &build.url("/"), &[]);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(head.body.is_empty());

    // In the browser, after the script ran.
    let mut browser = Browser::start(1200, 1000);
    browser.goto(&build.url("/"));
    browser.eval("window.sameDocument = true");
    browser.wait_for(
        &format!(
            "document.querySelector('#running [data-job=\"{hang}\"] progress') !== null \
             && document.querySelector('#running').innerText.includes('0 of 1 derivations')"
        ),
        LIVE,
    );
    let state_of = |id: u64| {
        format!(
            "(document.querySelector('#job-{id} [data-state]') || {{dataset: {{}}}}).dataset.state"
        )
    };
    assert_eq!(browser.eval(&state_of(broken)), "failed");
    assert_eq!(browser.eval(&state_of(hang)), "running");
    assert!(
        browser
            .eval(&format!(
                "document.querySelector('#job-{broken}').innerText"
            ))
            .as_str()
            .unwrap()
            .contains("failed")
    );
    assert_eq!(
        browser.eval("document.querySelector('#host-laptop [data-state]').dataset.state"),
        "up_to_date"
    );
    assert_eq!(
        browser.eval("document.querySelector('#host-desktop [data-state]').dataset.state"),
        "never_seen"
    );
    assert_eq!(
        browser.eval("document.querySelector('#cache-keys').textContent"),
        key
    );
    let snippet = browser.eval("document.querySelector('#nix-conf').textContent");
    assert_eq!(
        snippet,
        format!(
            "extra-substituters = {}\nextra-trusted-public-keys = {key}",
            build.server.url
        )
    );
    assert_eq!(
        browser.eval("document.querySelector('button[data-copy=\"nix-conf\"]').hidden"),
        false
    );

    // The job ends: the page shows it by itself, without a reload.
    let cancelled = post(&build.url(&format!("/api/v1/jobs/{hang}/cancel")), "", &[]);
    assert_eq!(cancelled.status, 200, "{}", cancelled.text());
    browser.wait_for(
        &format!(
            "{} === 'cancelled' && document.querySelector('#running').innerText.includes('Nothing is building')",
            state_of(hang)
        ),
        LIVE,
    );
    assert_eq!(
        browser.eval("window.sameDocument"),
        true,
        "the page reloaded"
    );
    loaded_only_from(&mut browser, &build.server.url);
}

const GATED: &str = r#"{
  outputs = { self }: let
    mk = name: script: derivation {
      inherit name;
      nonce = "@NONCE@";
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ "-c" "PATH=/bin:/usr/bin\n${script}" ];
    };
  in {
    packages.x86_64-linux.gated = mk "gated" ''
      echo 'before the gate'
      echo '<script>alert(1)</script>'
      while [ ! -e @GATES@/one ]; do sleep 0.1; done
      echo 'after the gate'
      while [ ! -e @GATES@/two ]; do sleep 0.1; done
      echo 'the last words of the build' >&2
      exit 1
    '';
  };
}
"#;

#[test]
fn a_job_page_follows_its_log_and_shows_the_failure_first() {
    let gates = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(gates.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let repo = FlakeRepo::new();
    repo.commit(
        &GATED.replace("@GATES@", &gates.path().display().to_string()),
        "<script>alert(2)</script> a gated build",
    );
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::with_poll(&repo.path().display().to_string(), work.path(), "1h", "");
    build.wait_first_fetch();
    let (status, job) = build.request(r#"{"targets": ["gated"]}"#);
    assert_eq!(status, 201, "{job}");
    let id = job["id"].as_u64().unwrap();
    wait_for(LIVE, || build.log(id).contains("<script>").then_some(()))
        .expect("the build never started");

    let mut browser = Browser::start(1000, 900);
    browser.goto(&build.url(&format!("/jobs/{id}")));
    browser.eval("window.sameDocument = true");
    assert_eq!(
        browser.eval("document.querySelector('main').dataset.state"),
        "running"
    );
    let log = "document.querySelector('#log').textContent";
    assert!(
        browser
            .eval(log)
            .as_str()
            .unwrap()
            .contains("<script>alert(1)</script>")
    );

    // A line written now arrives while the job still runs: streamed, not on reload.
    std::fs::write(gates.path().join("one"), "").unwrap();
    browser.wait_for(
        &format!(
            "{log}.includes('after the gate') && document.querySelector('main').dataset.state === 'running'"
        ),
        LIVE,
    );
    // Once it ends, the failure's last lines come first.
    std::fs::write(gates.path().join("two"), "").unwrap();
    browser.wait_for(
        "document.querySelector('main').dataset.state === 'failed' \
         && document.querySelector('#failure #last-lines') !== null",
        LIVE,
    );
    assert_eq!(
        browser.eval("window.sameDocument"),
        true,
        "the page reloaded"
    );
    let last = browser.eval("document.querySelector('#last-lines').textContent");
    assert!(
        last.as_str()
            .unwrap()
            .contains("the last words of the build"),
        "{last}"
    );
    assert_eq!(
        browser.eval("[...document.querySelectorAll('main > section')].map(s => s.id).join(' ')"),
        "head failure facts log-section"
    );
    let log_text = browser.eval(log);
    let log_text = log_text.as_str().unwrap();
    assert_eq!(log_text.matches("after the gate").count(), 1, "{log_text}");
    assert!(log_text.contains("<script>alert(1)</script>"));
    assert_eq!(
        browser.eval("document.scripts.length"),
        1,
        "only our script"
    );
    // The log was streamed once, never fetched whole.
    let logs: Vec<String> = browser
        .requested_urls()
        .into_iter()
        .filter(|u| u.contains("/log"))
        .collect();
    assert_eq!(
        logs,
        vec![build.url(&format!("/api/v1/jobs/{id}/log?follow=true"))]
    );
    loaded_only_from(&mut browser, &build.server.url);

    // JavaScript off: the same, escaped.
    let html = get(&build.url(&format!("/jobs/{id}"))).text();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "{html}");
    let failure = html.find("id=\"failure\"").unwrap();
    assert!(failure < html.find("id=\"log-section\"").unwrap());

    // A target and a commit message with markup, from a flake that no longer evaluates.
    repo.commit(
        "{ outputs = { self }: throw \"broken on purpose\"; }\n",
        "<script>alert(3)</script> broke it",
    );
    let (status, bad) = build.request(r#"{"targets": ["<script>alert(4)</script>"]}"#);
    assert_eq!(status, 201, "{bad}");
    assert_eq!(bad["state"], "failed");
    browser.goto(&build.url("/"));
    browser.wait_for(
        "document.querySelector('#repo').innerText.includes('<script>alert(3)</script> broke it') \
         && document.querySelector('#jobs').innerText.includes('<script>alert(4)</script>')",
        LIVE,
    );
    assert_eq!(
        browser.eval("document.scripts.length"),
        1,
        "only our script"
    );
    browser.goto(&build.url(&format!("/jobs/{}", bad["id"])));
    assert!(
        browser
            .eval("document.querySelector('#head').innerText")
            .as_str()
            .unwrap()
            .contains("<script>alert(4)</script>")
    );
    assert_eq!(
        browser.eval("document.scripts.length"),
        1,
        "only our script"
    );
    loaded_only_from(&mut browser, &build.server.url);
}

/// The README's pictures, taken from the real pages of a real server with real jobs:
/// `cargo test --test it screenshots -- --ignored` writes `docs/status-page.png` and
/// `docs/job-page.png`.
#[test]
#[ignore = "writes the README's screenshots; run by hand"]
fn screenshots() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    let build = BuildBox::start(&fleet, work.path(), "");
    build.settle();
    for targets in [r#"["chain", "hello"]"#, r#"["broken"]"#, r#"["greet"]"#] {
        let (_, job) = build.request(&format!("{{\"targets\": {targets}}}"));
        build.wait_finished(job["id"].as_u64().unwrap());
    }
    let failed = get_json(&build.url("/api/v1/jobs?state=failed"))["jobs"][0]["id"]
        .as_u64()
        .unwrap();
    let host = |name: &str| get_json(&build.url(&format!("/api/v1/hosts/{name}")));
    let laptop = host("laptop")["latest"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    let desktop = host("desktop")["latest"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    for (name, body) in [
        ("laptop", json!({"state": "deployed", "path": laptop})),
        (
            "desktop",
            json!({"state": "rolled_back", "path": desktop, "wanted": desktop,
                   "message": "health check `systemctl is-active --quiet sshd` failed"}),
        ),
    ] {
        let url = build.url(&format!("/api/v1/hosts/{name}/report"));
        assert_eq!(post(&url, &body.to_string(), &[]).status, 200);
    }
    fleet.bump();
    let (_, running) = build.request(r#"{"targets": ["hang"]}"#);
    let running = running["id"].as_u64().unwrap();
    build.wait_job(running, |job| job["progress"]["current"].is_string());

    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let mut browser = Browser::start(1280, 800);
    browser.call("Emulation.setScrollbarsHidden", json!({"hidden": true}));
    browser.goto(&build.url("/"));
    browser.wait_for(
        "document.getElementById('live').textContent === 'live'",
        LIVE,
    );
    std::fs::write(docs.join("status-page.png"), browser.screenshot()).unwrap();
    let mut phone = Browser::start(420, 800);
    phone.call("Emulation.setScrollbarsHidden", json!({"hidden": true}));
    phone.call(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}),
    );
    phone.goto(&build.url(&format!("/jobs/{failed}")));
    std::fs::write(docs.join("job-page.png"), phone.screenshot()).unwrap();
    let _ = post(
        &build.url(&format!("/api/v1/jobs/{running}/cancel")),
        "",
        &[],
    );
}
