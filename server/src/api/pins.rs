//! `/api/v1/hosts/{name}/pin`, `…/retry` and `/api/v1/fleet/pin`: pinning a host (or the whole
//! fleet) to a build, releasing it, and asking a host to forget the builds that failed on it.
//! Each answers with the host object(s) as they are after the change. Who may do this (the
//! `deploy` scope) is checked by the route table; what a pin may name, by the fleet.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use super::hosts::{check_name, unknown_host};
use crate::api::AppState;
use crate::fleet::Refused;
use crate::http::request_body;
use crate::http::response::{self, HttpError, HttpResult};
use common::protocol::host::PinRequest;

/// `PUT /api/v1/hosts/{name}/pin` with `{"rev": "…"}` or `{"path": "/nix/store/…"}`.
pub(crate) async fn pin(state: &AppState, name: &str, request: Request<Incoming>) -> HttpResult {
    check_name(name)?;
    let body = pin_body(state, request).await?;
    let pinned = state.fleet.pin(&state.builds, name, &body).await?;
    host_or_refusal(name, pinned)
}

/// `DELETE /api/v1/hosts/{name}/pin`.
pub(crate) async fn unpin(state: &AppState, name: &str) -> HttpResult {
    check_name(name)?;
    let released = state.fleet.unpin(&state.builds, name).await?;
    host_or_refusal(name, released)
}

/// `POST /api/v1/hosts/{name}/retry`.
pub(crate) async fn retry(state: &AppState, name: &str) -> HttpResult {
    check_name(name)?;
    let asked = state.fleet.retry(&state.builds, name).await?;
    host_or_refusal(name, asked)
}

/// `PUT /api/v1/fleet/pin` with `{"rev": "…"}`: every host that has a build, or none.
pub(crate) async fn pin_all(state: &AppState, request: Request<Incoming>) -> HttpResult {
    let body = pin_body(state, request).await?;
    let (Some(rev), None) = (&body.rev, &body.path) else {
        return Err(HttpError::BadRequest(
            "the whole fleet is pinned to a revision: {\"rev\": \"…\"}".into(),
        ));
    };
    match state.fleet.pin_all(&state.builds, rev).await? {
        Ok(hosts) => Ok(response::json(StatusCode::OK, &json!({ "hosts": hosts }))),
        Err(refused) => Err(refusal("", refused)),
    }
}

/// `DELETE /api/v1/fleet/pin`.
pub(crate) async fn unpin_all(state: &AppState) -> HttpResult {
    let hosts = state.fleet.unpin_all(&state.builds).await?;
    Ok(response::json(StatusCode::OK, &json!({ "hosts": hosts })))
}

async fn pin_body(state: &AppState, request: Request<Incoming>) -> Result<PinRequest, HttpError> {
    let body: PinRequest = request_body::json(request, state.config.request_timeout.value).await?;
    if body.rev.is_some() == body.path.is_some() {
        return Err(HttpError::BadRequest(
            "a pin names a revision or a store path: {\"rev\": \"…\"} or \
             {\"path\": \"/nix/store/…\"}"
                .into(),
        ));
    }
    Ok(body)
}

fn host_or_refusal(
    name: &str,
    outcome: Result<common::protocol::host::Host, Refused>,
) -> HttpResult {
    match outcome {
        Ok(host) => Ok(response::json(StatusCode::OK, &host)),
        Err(refused) => Err(refusal(name, refused)),
    }
}

fn refusal(name: &str, refused: Refused) -> HttpError {
    match refused {
        Refused::UnknownHost(known) => unknown_host(name, &known),
        Refused::Unprocessable(why) => HttpError::Unprocessable(why),
    }
}
