//! `GET /api/v1/health` and `GET /api/v1/status`: the server's version, queue, repository,
//! cache keys and fleet.

use hyper::StatusCode;
use serde_json::json;

use super::AppState;
use crate::builds::jobs::model::JobState;
use crate::http::response::{HttpError, HttpResult, json};
use common::protocol::status::{CacheStatus, NarCacheStatus, PushedStatus, RepoStatus, Status};

pub(crate) fn health() -> HttpResult {
    Ok(json(
        StatusCode::OK,
        &json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
    ))
}

pub(crate) async fn status(state: &AppState) -> HttpResult {
    Ok(json(StatusCode::OK, &overview(state).await?))
}

async fn overview(state: &AppState) -> Result<Status, HttpError> {
    let builds = &state.builds;
    let repo = match builds.repo_status() {
        Some(repo) => RepoStatus {
            url: Some(repo.url),
            branch: repo.branch,
            rev: repo.rev,
            last_poll: repo.last_poll,
            last_error: repo.last_error,
            note: builds.tip_note(),
        },
        None => RepoStatus {
            url: None,
            branch: state.config.repo_branch.value.clone(),
            rev: None,
            last_poll: None,
            last_error: None,
            note: None,
        },
    };
    Ok(Status {
        version: env!("CARGO_PKG_VERSION").to_string(),
        queue: builds.jobs().history().count_in_state(JobState::Queued)?,
        running: builds.jobs().running_ids(),
        repo,
        cache: CacheStatus {
            public_keys: state.cache.public_keys(),
            push_public_key: Some(state.cache.push_public_key()),
            priority: state.cache.priority(),
            nar_cache: nar_cache_status(state),
        },
        hosts: {
            let mut hosts = state.fleet.hosts(builds).await?;
            for report in hosts.iter_mut().filter_map(|h| h.last_report.as_mut()) {
                if let Some(message) = &mut report.message {
                    super::hosts::cut(message, super::hosts::MAX_STATUS_MESSAGE);
                }
            }
            hosts
        },
        builders: builds.builders(),
        inputs: builds.input_status(),
        pushed: {
            let totals = state.cache.pushed.totals();
            PushedStatus {
                count: totals.count,
                bytes: totals.bytes,
            }
        },
        publish: state.publisher.as_ref().map(|p| p.status()),
    })
}

fn nar_cache_status(state: &AppState) -> NarCacheStatus {
    let stats = state.cache.nar_files_stats();
    let asked = stats.hits + stats.misses;
    NarCacheStatus {
        bytes: stats.bytes,
        limit_bytes: stats.limit,
        files: stats.files,
        hits: stats.hits,
        misses: stats.misses,
        hit_rate_percent: (stats.hits * 100).checked_div(asked).unwrap_or(0),
    }
}
