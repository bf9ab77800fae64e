//! Write access: once any API token exists (made by `atuin-bootstrap token create`), a POST
//! needs `Authorization: Bearer <token>`. Tokens are read from the state dir on every check,
//! so creating or revoking one takes effect without a restart.

use hyper::header::AUTHORIZATION;
use hyper::Request;

use crate::api::AppState;
use crate::http::response::HttpError;

pub fn require_token<B>(state: &AppState, request: &Request<B>) -> Result<(), HttpError> {
    if !state.tokens.any()? {
        return Ok(());
    }
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = presented else {
        return Err(HttpError::Unauthorized(
            "this server needs an API token for writes: pass --token, or set \
             ATUIN_BOOTSTRAP_TOKEN or client.token_file (make one on the server with \
             `atuin-bootstrap token create NAME`)"
                .into(),
        ));
    };
    if state.tokens.verify(token)? {
        Ok(())
    } else {
        Err(HttpError::Unauthorized(
            "the API token is not valid (revoked, or for another server)".into(),
        ))
    }
}
