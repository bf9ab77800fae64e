//! `GET /api/v1/token`: what the presented token is (`{"name", "scopes", "host"}`), so a
//! client can check a token before it keeps it (the wizard does) and say what it may do.
//! `401` without a token or with one that is not valid. Never the token or its hash.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use super::{AppState, auth};
use crate::http::response::{HttpResult, json};

pub(crate) fn respond(state: &AppState, request: &Request<Incoming>) -> HttpResult {
    let token = auth::presented(state, request)?;
    Ok(json(
        StatusCode::OK,
        &json!({ "name": token.name, "scopes": token.scopes, "host": token.host }),
    ))
}
