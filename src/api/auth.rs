//! Write access: once any API token exists (made by `atuin-bootstrap token create`), a POST
//! needs `Authorization: Bearer <token>`. Tokens are read from the state dir on every check,
//! so creating or revoking one takes effect without a restart. The scheme's name is
//! case-insensitive (RFC 9110, section 11.1): `Bearer`, `bearer` and `BEARER` are one scheme.

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
        .and_then(bearer_token);
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

/// The token of an `Authorization` value of the Bearer scheme, in any case of the scheme's name.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_scheme_is_case_insensitive() {
        for value in [
            "Bearer abt_x",
            "bearer abt_x",
            "BEARER abt_x",
            "bEaReR  abt_x ",
        ] {
            assert_eq!(bearer_token(value), Some("abt_x"), "{value:?}");
        }
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_no_bearer_token() {
        for value in [
            "Basic dXNlcjpwYXNz",
            "Bearer",
            "Bearer   ",
            "Bearerabt_x",
            "",
        ] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }
}
