//! One scrape of `/metrics`: the job history's numbers (one grouped query each), the
//! repository watcher's polls, the cache's counters and the hosts that report, written in
//! Prometheus's text format. The flake is never evaluated here, so a scrape stays cheap.

use hyper::StatusCode;

use super::counters::{CacheKind, Counters};
use super::exposition::{Exposition, Kind};
use crate::api::AppState;
use crate::builds::jobs::model::{JobState, Trigger};
use crate::builds::jobs::stats::{self, DURATION_BOUNDS};
use crate::http::response::{HttpResult, with_type};
use common::protocol::host::HostState;
use common::timestamp::unix_seconds;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) fn respond(state: &AppState, counters: &Counters) -> HttpResult {
    let text = render(state, counters)?;
    Ok(with_type(StatusCode::OK, CONTENT_TYPE, text))
}

fn render(state: &AppState, counters: &Counters) -> anyhow::Result<String> {
    let mut out = Exposition::default();
    out.family("build_info", Kind::Gauge, "The running version (always 1).");
    out.sample(
        "build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1u64,
    );
    jobs(&mut out, state)?;
    repo(&mut out, state);
    cache(&mut out, counters);
    nar_cache(&mut out, state);
    pushed(&mut out, state);
    publish(&mut out, state);
    hosts(&mut out, state)?;
    Ok(out.finish())
}

fn jobs(out: &mut Exposition, state: &AppState) -> anyhow::Result<()> {
    let jobs = state.builds.jobs();
    let counts = stats::counts(jobs.history())?;
    out.family(
        "jobs",
        Kind::Gauge,
        "Jobs in the history by state and trigger.",
    );
    for job_state in JobState::ALL {
        for trigger in Trigger::ALL {
            let n = counts
                .iter()
                .find(|c| c.state == job_state && c.trigger == trigger)
                .map_or(0, |c| c.jobs);
            out.sample(
                "jobs",
                &[("state", job_state.as_str()), ("trigger", trigger.as_str())],
                n,
            );
        }
    }
    out.family("queue_length", Kind::Gauge, "Jobs waiting to run.");
    out.sample(
        "queue_length",
        &[],
        jobs.history().count_in_state(JobState::Queued)?,
    );
    out.family(
        "job_duration_seconds",
        Kind::Histogram,
        "How long finished jobs ran, from start to end, by final state.",
    );
    for durations in stats::durations(jobs.history())? {
        let job_state = durations.state.as_str();
        for (bound, n) in DURATION_BOUNDS.iter().zip(&durations.at_most) {
            let le = bound.to_string();
            out.sample(
                "job_duration_seconds_bucket",
                &[("state", job_state), ("le", &le)],
                *n,
            );
        }
        out.sample(
            "job_duration_seconds_bucket",
            &[("state", job_state), ("le", "+Inf")],
            durations.count,
        );
        out.sample(
            "job_duration_seconds_sum",
            &[("state", job_state)],
            durations.sum_seconds,
        );
        out.sample(
            "job_duration_seconds_count",
            &[("state", job_state)],
            durations.count,
        );
    }
    Ok(())
}

fn repo(out: &mut Exposition, state: &AppState) {
    let Some(repo) = state.builds.repo_status() else {
        return;
    };
    out.family(
        "repo_last_successful_poll_timestamp_seconds",
        Kind::Gauge,
        "When a fetch of the fleet repository last worked (Unix time; 0: not yet).",
    );
    let last = repo.last_success.as_deref().and_then(unix_seconds);
    out.sample(
        "repo_last_successful_poll_timestamp_seconds",
        &[],
        last.unwrap_or(0),
    );
    out.family(
        "repo_poll_errors_total",
        Kind::Counter,
        "Fetches of the fleet repository that failed.",
    );
    out.sample("repo_poll_errors_total", &[], repo.poll_errors);
    out.family(
        "repo_last_poll_failed",
        Kind::Gauge,
        "1 when the last fetch of the fleet repository failed.",
    );
    out.sample("repo_last_poll_failed", &[], repo.last_error.is_some());
}

/// The NARs kept on disk: size, limit, files, and how requests were served.
fn nar_cache(out: &mut Exposition, state: &AppState) {
    let stats = state.cache.nar_files_stats();
    for (name, help, value) in [
        (
            "nar_cache_bytes",
            "Bytes of NARs kept on disk.",
            stats.bytes,
        ),
        (
            "nar_cache_limit_bytes",
            "The most bytes of NARs kept on disk (cache.nar_cache_size).",
            stats.limit,
        ),
        ("nar_cache_files", "NAR files kept on disk.", stats.files),
    ] {
        out.family(name, Kind::Gauge, help);
        out.sample(name, &[], value);
    }
    out.family(
        "nar_cache_requests_total",
        Kind::Counter,
        "NAR requests by whether a kept file served them (hit) or the NAR was made (miss).",
    );
    out.sample("nar_cache_requests_total", &[("result", "hit")], stats.hits);
    out.sample(
        "nar_cache_requests_total",
        &[("result", "miss")],
        stats.misses,
    );
}

fn pushed(out: &mut Exposition, state: &AppState) {
    use std::sync::atomic::Ordering;
    let counters = &state.uploads.counters;
    for (name, help, value) in [
        (
            "pushed_paths_total",
            "Paths added to the cache by uploads (nix copy --to) since the server started.",
            counters.paths.load(Ordering::Relaxed),
        ),
        (
            "pushed_bytes_total",
            "NAR bytes of the paths added to the cache by uploads since the server started.",
            counters.bytes.load(Ordering::Relaxed),
        ),
    ] {
        out.family(name, Kind::Counter, help);
        out.sample(name, &[], value);
    }
}

/// How far the published bucket is behind (only with `[publish]`).
fn publish(out: &mut Exposition, state: &AppState) {
    let Some(publisher) = &state.publisher else {
        return;
    };
    let status = publisher.status();
    for (name, help, value) in [
        (
            "publish_pending_paths",
            "Store paths the box keeps that the published bucket lacks.",
            status.pending_paths,
        ),
        (
            "publish_pending_bytes",
            "NAR bytes of the store paths the published bucket lacks.",
            status.pending_bytes,
        ),
        (
            "publish_failing",
            "1 while the last attempt to publish to the bucket failed, else 0.",
            u64::from(status.last_error.is_some()),
        ),
    ] {
        out.family(name, Kind::Gauge, help);
        out.sample(name, &[("bucket", status.bucket.as_str())], value);
    }
}

fn cache(out: &mut Exposition, counters: &Counters) {
    out.family(
        "cache_requests_total",
        Kind::Counter,
        "Binary cache requests by endpoint and HTTP status.",
    );
    for kind in CacheKind::ALL {
        let statuses = counters.requests(kind);
        if statuses.is_empty() {
            out.sample(
                "cache_requests_total",
                &[("kind", kind.label()), ("status", "200")],
                0u64,
            );
        }
        for (status, n) in statuses {
            let status = status.to_string();
            out.sample(
                "cache_requests_total",
                &[("kind", kind.label()), ("status", &status)],
                n,
            );
        }
    }
    out.family(
        "cache_sent_bytes_total",
        Kind::Counter,
        "Body bytes the binary cache sent, by endpoint.",
    );
    for kind in CacheKind::ALL {
        out.sample(
            "cache_sent_bytes_total",
            &[("kind", kind.label())],
            counters.sent(kind),
        );
    }
    out.family(
        "narinfo_hits_total",
        Kind::Counter,
        "Narinfo requests for a path the store has.",
    );
    out.sample(
        "narinfo_hits_total",
        &[],
        counters.requests_with(CacheKind::Narinfo, 200),
    );
    out.family(
        "narinfo_misses_total",
        Kind::Counter,
        "Narinfo requests for a path the store does not have.",
    );
    out.sample(
        "narinfo_misses_total",
        &[],
        counters.requests_with(CacheKind::Narinfo, 404),
    );
}

fn hosts(out: &mut Exposition, state: &AppState) -> anyhow::Result<()> {
    let hosts = state.fleet.reported_hosts(&state.builds)?;
    if hosts.is_empty() {
        return Ok(());
    }
    out.family(
        "host_behind",
        Kind::Gauge,
        "1 when the host runs something other than its target (its pin, else its newest build).",
    );
    for host in &hosts {
        out.sample("host_behind", &[("host", &host.name)], host.behind);
    }
    out.family(
        "host_pinned",
        Kind::Gauge,
        "1 when the host is pinned to a build (it does not follow the branch).",
    );
    for host in &hosts {
        out.sample(
            "host_pinned",
            &[("host", &host.name)],
            host.pinned.is_some(),
        );
    }
    out.family(
        "host_last_seen_timestamp_seconds",
        Kind::Gauge,
        "When the host last reported (Unix time).",
    );
    for host in &hosts {
        let seen = host.last_seen.as_deref().and_then(unix_seconds);
        out.sample(
            "host_last_seen_timestamp_seconds",
            &[("host", &host.name)],
            seen.unwrap_or(0),
        );
    }
    out.family(
        "host_state",
        Kind::Gauge,
        "The host's state: 1 for the one it is in, 0 for the others.",
    );
    for host in &hosts {
        for each in HostState::ALL {
            out.sample(
                "host_state",
                &[("host", &host.name), ("state", each.as_str())],
                host.state == each,
            );
        }
    }
    Ok(())
}
