//! The JSON API under `/api/v1/`. For now: health and status; jobs come with the build
//! server.

use hyper::{Method, Request, StatusCode};
use serde_json::json;

use super::response::{json, HttpError, HttpResult};
use super::AppState;

pub async fn handle<B>(state: &AppState, request: Request<B>) -> HttpResult {
    let path = request.uri().path();
    let route = path.strip_prefix("/api/v1").unwrap_or("");
    match (request.method(), route) {
        (&Method::GET, "/health") => Ok(json(
            StatusCode::OK,
            &json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
        )),
        (&Method::GET, "/status") => Ok(json(StatusCode::OK, &status(state))),
        (_, "/health" | "/status") => Err(HttpError::MethodNotAllowed),
        _ => Err(HttpError::NotFound("no such API endpoint".into())),
    }
}

fn status(state: &AppState) -> serde_json::Value {
    let config = &state.config;
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "queue": 0,
        "running": [],
        "repo": {
            "url": config.repo_url.as_ref().map(|u| u.value.clone()),
            "branch": config.repo_branch.value,
            "rev": null,
            "last_poll": null,
            "last_error": null,
        },
        "cache": {
            "public_keys": state.cache.public_keys(),
            "priority": state.cache.priority(),
        },
    })
}
