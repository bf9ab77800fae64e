//! The JSON API under `/api/v1/`: routes each path to its handler. Reads stay open; every
//! POST but the webhooks needs a token once any exists (see `auth`).

mod auth;
mod hosts;
mod jobs;
mod request_body;
mod webhooks;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::json;

use super::response::{json, HttpError, HttpResult};
use super::AppState;
use crate::webhooks::Forge;

pub async fn handle(state: &AppState, request: Request<Incoming>) -> HttpResult {
    let path = request.uri().path().to_string();
    let route = path.strip_prefix("/api/v1/").unwrap_or("");
    let segments: Vec<&str> = route.split('/').collect();
    let method = request.method().clone();
    match (&method, segments.as_slice()) {
        (&Method::GET, ["health"]) => Ok(json(
            StatusCode::OK,
            &json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
        )),
        (&Method::GET, ["status"]) => Ok(json(StatusCode::OK, &status(state).await?)),
        (&Method::GET, ["jobs"]) => jobs::list(state, request.uri().query()),
        (&Method::POST, ["jobs"]) => {
            auth::require_token(state, &request)?;
            jobs::create(state, request).await
        }
        (&Method::GET, ["jobs", id]) => jobs::get(state, id),
        (&Method::GET, ["jobs", id, "log"]) => jobs::log(state, id, request.uri().query()),
        (&Method::POST, ["jobs", id, "cancel"]) => {
            auth::require_token(state, &request)?;
            jobs::cancel(state, id).await
        }
        (&Method::GET, ["hosts"]) => hosts::list(state).await,
        (&Method::GET, ["hosts", name]) => hosts::get(state, name).await,
        (&Method::POST, ["hosts", name, "report"]) => {
            auth::require_token(state, &request)?;
            hosts::report(state, name, request).await
        }
        (&Method::POST, ["webhooks", "github"]) => {
            webhooks::handle(state, Forge::GitHub, request).await
        }
        (&Method::POST, ["webhooks", "forgejo"]) => {
            webhooks::handle(state, Forge::Forgejo, request).await
        }
        (_, ["health" | "status" | "jobs"])
        | (_, ["jobs", _])
        | (_, ["jobs", _, "log" | "cancel"])
        | (_, ["webhooks", "github" | "forgejo"])
        | (_, ["hosts"])
        | (_, ["hosts", _])
        | (_, ["hosts", _, "report"]) => Err(HttpError::MethodNotAllowed),
        _ => Err(HttpError::NotFound("no such API endpoint".into())),
    }
}

async fn status(state: &AppState) -> Result<serde_json::Value, HttpError> {
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
