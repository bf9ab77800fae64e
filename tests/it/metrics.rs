//! `/metrics` from a real server with real jobs, a report and cache traffic: every name
//! starts `atuin_bootstrap_`, `promtool check metrics` accepts it, and the numbers are the
//! ones the test caused. The alert receiver here is dead: builds go on, the server says so.

use std::collections::BTreeMap;

use serde_json::json;

use crate::util::build_server::{BuildBox, wait_for};
use crate::util::fleet::Fleet;
use crate::util::http::{field, get, get_json, narinfo_fields, post, request};
use crate::util::promtool::promtool_check;

/// `name{labels}` → value, for every sample.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect()
}

#[test]
fn metrics_pass_promtool_and_count_what_happened() {
    let fleet = Fleet::new();
    let work = tempfile::tempdir().unwrap();
    // Nothing listens there: alerts fail, and nothing else does.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/hook", dead.local_addr().unwrap());
    drop(dead);
    let build = BuildBox::start(
        &fleet,
        work.path(),
        &format!("[notify]\nurl = {dead_url:?}"),
    );
    build.settle();
    let (_, broken) = build.request(r#"{"targets": ["broken"]}"#);
    build.wait_finished(broken["id"].as_u64().unwrap());
    let laptop = get_json(&build.url("/api/v1/hosts/laptop"));
    let path = laptop["latest"]["path"].as_str().unwrap().to_string();
    let report = json!({"state": "rolled_back", "path": path, "message": "a check failed"});
    let reported = post(
        &build.url("/api/v1/hosts/laptop/report"),
        &report.to_string(),
        &[],
    );
    assert_eq!(reported.status, 200, "{}", reported.text());

    // Cache traffic: two hits (GET, HEAD), a miss, a NAR.
    let hash = &path["/nix/store/".len()..][..32];
    let narinfo = get(&build.url(&format!("/{hash}.narinfo")));
    assert_eq!(narinfo.status, 200);
    assert_eq!(
        request("HEAD", &build.url(&format!("/{hash}.narinfo")), &[]).status,
        200
    );
    let missing = get(&build.url(&format!("/{}.narinfo", "0".repeat(32))));
    assert_eq!(missing.status, 404);
    let fields = narinfo_fields(&narinfo.text());
    let nar = get(&build.url(&format!("/{}", field(&fields, "URL").unwrap())));
    assert_eq!(nar.status, 200);

    let scraped = get(&build.url("/metrics"));
    assert_eq!(scraped.status, 200);
    assert_eq!(
        scraped.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = scraped.text();
    promtool_check(&text);
    for line in text.lines() {
        let name = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
            .unwrap_or(line);
        assert!(name.starts_with("atuin_bootstrap_"), "{line}");
    }
    let values = samples(&text);
    let value = |name: &str| {
        *values
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    assert_eq!(value("atuin_bootstrap_narinfo_hits_total"), 2.0);
    assert_eq!(value("atuin_bootstrap_narinfo_misses_total"), 1.0);
    assert_eq!(
        value("atuin_bootstrap_cache_requests_total{kind=\"narinfo\",status=\"200\"}"),
        2.0
    );
    assert_eq!(
        value("atuin_bootstrap_cache_requests_total{kind=\"nar\",status=\"200\"}"),
        1.0
    );
    assert_eq!(
        value("atuin_bootstrap_cache_sent_bytes_total{kind=\"nar\"}"),
        nar.body.len() as f64
    );
    // The one NAR asked for was made (a miss) and is kept on disk now.
    assert_eq!(
        value("atuin_bootstrap_nar_cache_requests_total{result=\"miss\"}"),
        1.0
    );
    assert!(value("atuin_bootstrap_nar_cache_limit_bytes") > 0.0);
    // HEAD sends no body; the miss sends its message.
    assert_eq!(
        value("atuin_bootstrap_cache_sent_bytes_total{kind=\"narinfo\"}"),
        (narinfo.body.len() + missing.body.len()) as f64
    );
    assert_eq!(
        value("atuin_bootstrap_jobs{state=\"failed\",trigger=\"api\"}"),
        1.0
    );
    assert_eq!(
        value("atuin_bootstrap_jobs{state=\"succeeded\",trigger=\"poll\"}"),
        1.0
    );
    assert_eq!(value("atuin_bootstrap_queue_length"), 0.0);
    assert_eq!(
        value("atuin_bootstrap_job_duration_seconds_count{state=\"succeeded\"}"),
        1.0
    );
    assert_eq!(
        value("atuin_bootstrap_job_duration_seconds_bucket{state=\"failed\",le=\"+Inf\"}"),
        1.0
    );
    assert!(value("atuin_bootstrap_repo_last_successful_poll_timestamp_seconds") > 1.7e9);
    assert_eq!(value("atuin_bootstrap_repo_poll_errors_total"), 0.0);
    assert_eq!(
        value("atuin_bootstrap_host_state{host=\"laptop\",state=\"rolled_back\"}"),
        1.0
    );
    assert_eq!(
        value("atuin_bootstrap_host_state{host=\"laptop\",state=\"up_to_date\"}"),
        0.0
    );
    assert_eq!(value("atuin_bootstrap_host_behind{host=\"laptop\"}"), 0.0);
    assert!(value("atuin_bootstrap_host_last_seen_timestamp_seconds{host=\"laptop\"}") > 1.7e9);
    // A host that never reported has no per-host samples.
    assert!(!text.contains("host=\"desktop\""), "{text}");

    // The dead receiver: said in the log, and the box builds on.
    wait_for(std::time::Duration::from_secs(20), || {
        std::fs::read_to_string(&build.server.log)
            .unwrap()
            .contains("sending the job_failed alert")
            .then_some(())
    })
    .expect("the failed alert was not logged");
    let (_, hello) = build.request(r#"{"targets": ["hello"]}"#);
    let done = build.wait_finished(hello["id"].as_u64().unwrap());
    assert_eq!(done["state"], "succeeded");
    assert_eq!(get(&build.url("/api/v1/health")).status, 200);
}
