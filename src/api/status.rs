//! `GET /api/v1/health` and `GET /api/v1/status`: the server's version, queue, repository,
//! cache keys and fleet.

use hyper::StatusCode;
use serde_json::json;

use super::AppState;
use crate::http::response::{json, HttpError, HttpResult};

pub fn health() -> HttpResult {
    Ok(json(
        StatusCode::OK,
        &json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
    ))
}

pub async fn status(state: &AppState) -> HttpResult {
    Ok(json(StatusCode::OK, &overview(state).await?))
}

async fn overview(state: &AppState) -> Result<serde_json::Value, HttpError> {
    let config = &state.config;
    let builds = &state.builds;
    let repo = builds.repo_status().map_or_else(
        || {
            json!({
                "url": null,
                "branch": config.repo_branch.value,
                "rev": null,
                "last_poll": null,
                "last_error": null,
            })
        },
        |repo| serde_json::to_value(repo).expect("serialisable status"),
    );
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "queue": builds.jobs().queue_length()?,
        "running": builds.jobs().running_ids(),
        "repo": repo,
        "cache": {
            "public_keys": state.cache.public_keys(),
            "priority": state.cache.priority(),
        },
        "hosts": state.fleet.hosts(builds).await?,
    }))
}
