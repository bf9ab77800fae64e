//! `POST /api/v1/webhooks/{github,forgejo}`: a forge's push event, authenticated by its
//! HMAC-SHA256 signature with `repo.webhook_secret_file` (no API token). A push to the watched
//! branch fetches at once and builds the new tip (`202` with the new job); a redelivery, or a
//! tip already built, is answered with the job there is (`200`). A push to the repository of a
//! watched flake input fetches that input and builds it when it moved. Other events are
//! acknowledged and ignored.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use super::jobs::http_error;
use crate::api::AppState;
use crate::builds::webhooks::{self, Forge, WebhookError};
use crate::http::request_body;
use crate::http::response::{self, HttpError, HttpResult};

pub(crate) async fn handle(
    state: &AppState,
    forge: Forge,
    request: Request<Incoming>,
) -> HttpResult {
    let Some(secret_file) = state.builds.webhook_secret_file.clone() else {
        return Err(HttpError::NotFound(
            "webhooks are not enabled on this server (set repo.webhook_secret_file)".into(),
        ));
    };
    let secret = webhooks::read_secret(&secret_file)?;
    let headers = request.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let body = request_body::read(request, state.config.request_timeout.value).await?;
    webhooks::verify(forge, &secret, header, &body).map_err(|e| match e {
        WebhookError::MissingSignature | WebhookError::BadSignature => {
            HttpError::Unauthorized(e.to_string())
        }
        WebhookError::Malformed(_) => HttpError::BadRequest(e.to_string()),
    })?;
    let event = webhooks::event_kind(forge, header).unwrap_or_else(|| "push".into());
    if event == "ping" {
        return Ok(response::json(StatusCode::OK, &json!({ "status": "pong" })));
    }
    if event != "push" {
        return Ok(ignored(&format!("{event} events are not built")));
    }
    let push = webhooks::parse_push(&body).map_err(|e| HttpError::BadRequest(e.to_string()))?;
    let Some(branch) = push.branch else {
        return Ok(ignored("the push is not to a branch"));
    };
    if push.after.is_none() {
        return Ok(ignored("the branch was deleted"));
    }
    // A push to the repository of a watched flake input: fetch it now and build what moved.
    if let Some(jobs) = state.builds.on_input_push(&push.repository_urls).await {
        return Ok(match jobs.into_iter().next() {
            Some((job, true)) => response::json(StatusCode::ACCEPTED, &job),
            Some((job, false)) => response::json(StatusCode::OK, &job),
            None => ignored("a watched input's repository: nothing new to build"),
        });
    }
    let delivery = webhooks::delivery_id(forge, header);
    let delivery = delivery.as_deref().map(|id| (forge, id));
    match state
        .builds
        .on_push(&branch, delivery)
        .await
        .map_err(http_error)?
    {
        Some((job, true)) => Ok(response::json(StatusCode::ACCEPTED, &job)),
        Some((job, false)) => Ok(response::json(StatusCode::OK, &job)),
        None => Ok(ignored(&format!("{branch} is not the watched branch"))),
    }
}

fn ignored(reason: &str) -> hyper::Response<crate::http::body::Body> {
    response::json(StatusCode::ACCEPTED, &json!({ "ignored": reason }))
}
