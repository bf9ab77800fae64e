//! Who may write: a request names its token as `Authorization: Bearer <token>` or as the
//! password of HTTP Basic (any user name, so a plain netrc line works for `nix copy`), and the
//! token needs the scope of what it asks. Tokens are read from the state dir on every check, so
//! creating or revoking one takes effect without a restart. Scheme names are case-insensitive
//! (RFC 9110, section 11.1): `Bearer`, `bearer` and `BEARER` are one scheme.
//!
//! With no token at all, builds and reports are open (as before tokens existed); uploads and
//! pins never are: while no token may push (or deploy), pushing (or pinning) is off.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hyper::header::AUTHORIZATION;
use hyper::Request;

use crate::api::AppState;
use crate::http::response::HttpError;
use crate::tokens::{Scope, TokenStore};

/// Who a write was allowed for: the token's name, or `None` when writes are open.
pub type Caller = Option<String>;

/// Checks that `request` may do what `scope` covers; the caller's token name when one was
/// needed.
pub fn require_scope<B>(
    state: &AppState,
    request: &Request<B>,
    scope: Scope,
) -> Result<Caller, HttpError> {
    check(&state.tokens, request, scope)
}

/// `require_scope` for builds and cancels (`Scope::Build`).
pub fn require_token<B>(state: &AppState, request: &Request<B>) -> Result<(), HttpError> {
    require_scope(state, request, Scope::Build).map(drop)
}

fn check<B>(tokens: &TokenStore, request: &Request<B>, scope: Scope) -> Result<Caller, HttpError> {
    if scope == Scope::Push {
        if !tokens.any_with(Scope::Push)? {
            return Err(HttpError::Forbidden(
                "pushing to this cache is off: no token may push (turn it on with \
                 `atuin-bootstrap token create NAME --scope push` on the server)"
                    .into(),
            ));
        }
    } else if scope == Scope::Deploy {
        // Moving what hosts run is never open, not even on a box with no token at all.
        if !tokens.any_with(Scope::Deploy)? {
            return Err(HttpError::Forbidden(
                "pinning and retrying hosts is off: no token has the deploy scope (make one \
                 with `atuin-bootstrap token create NAME --scope deploy` on the server)"
                    .into(),
            ));
        }
    } else if !tokens.any()? {
        return Ok(None);
    }
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(presented_token);
    let Some(token) = presented else {
        return Err(HttpError::Unauthorized(missing_token_message(scope).into()));
    };
    let Some(found) = tokens.identify(&token)? else {
        return Err(HttpError::Unauthorized(
            "the API token is not valid (revoked, or for another server)".into(),
        ));
    };
    if !found.scopes.contains(&scope) {
        return Err(HttpError::Forbidden(format!(
            "token {:?} lacks the {scope:?} scope (make one that has it with \
             `atuin-bootstrap token create NAME --scope {scope}`)",
            found.name,
            scope = scope.as_str()
        )));
    }
    Ok(Some(found.name))
}

fn missing_token_message(scope: Scope) -> &'static str {
    match scope {
        Scope::Push => {
            "uploads need a token with the push scope, as `Authorization: Bearer TOKEN` or as \
             the password of a netrc line (`nix copy --netrc-file FILE`)"
        }
        Scope::Deploy => {
            "pinning and retrying hosts needs a token with the deploy scope: pass --token, or \
             set ATUIN_BOOTSTRAP_TOKEN or client.token_file"
        }
        _ => {
            "this server needs an API token for writes: pass --token, or set \
             ATUIN_BOOTSTRAP_TOKEN or client.token_file (make one on the server with \
             `atuin-bootstrap token create NAME`)"
        }
    }
}

/// The token of an `Authorization` value: a Bearer token, or the password of Basic.
fn presented_token(value: &str) -> Option<String> {
    let (scheme, credentials) = value.trim().split_once([' ', '\t'])?;
    let credentials = credentials.trim();
    if credentials.is_empty() {
        return None;
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(credentials.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = BASE64.decode(credentials).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (_user, password) = decoded.split_once(':')?;
        return (!password.is_empty()).then(|| password.to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(authorization: Option<&str>) -> Request<()> {
        let mut builder = Request::builder();
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value);
        }
        builder.body(()).unwrap()
    }

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", BASE64.encode(format!("{user}:{password}")))
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        for value in [
            "Bearer abt_x",
            "bearer abt_x",
            "BEARER abt_x",
            "bEaReR  abt_x ",
        ] {
            assert_eq!(
                presented_token(value).as_deref(),
                Some("abt_x"),
                "{value:?}"
            );
        }
        for scheme in ["Basic", "basic", "BASIC"] {
            let value = basic("anyone", "abt_x").replacen("Basic", scheme, 1);
            assert_eq!(presented_token(&value).as_deref(), Some("abt_x"), "{value}");
        }
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_no_token() {
        let empty_password = basic("user", "");
        for value in [
            "Digest abc",
            "Bearer",
            "Bearer   ",
            "Bearerabt_x",
            "Basic !!!notbase64",
            "Basic dXNlcg==", // "user", no colon
            empty_password.as_str(),
            "",
        ] {
            assert_eq!(presented_token(value), None, "{value:?}");
        }
    }

    #[test]
    fn scopes_decide_and_push_is_off_without_a_push_token() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = TokenStore::new(dir.path());
        // No token at all: builds open, pushing off.
        assert_eq!(check(&tokens, &request(None), Scope::Build).unwrap(), None);
        let error = check(&tokens, &request(None), Scope::Push).unwrap_err();
        assert_eq!(error.status(), 403);
        assert!(
            error.message().contains("--scope push"),
            "{}",
            error.message()
        );

        let builder = tokens.create("ci", &[]).unwrap();
        // A token exists but none may push: still off, even for a valid token.
        let error = check(&tokens, &request(Some(&basic("x", &builder))), Scope::Push);
        assert_eq!(error.unwrap_err().status(), 403);

        let pusher = tokens.create("laptop", &[Scope::Push]).unwrap();
        let bearer = format!("Bearer {pusher}");
        assert_eq!(
            check(&tokens, &request(Some(&bearer)), Scope::Push).unwrap(),
            Some("laptop".into())
        );
        assert_eq!(
            check(&tokens, &request(Some(&basic("x", &pusher))), Scope::Push).unwrap(),
            Some("laptop".into())
        );
        for (authorization, status) in [
            (None, 401),
            (Some("Bearer abt_wrong".to_string()), 401),
            (Some(basic("x", &builder)), 403),
        ] {
            let error = check(&tokens, &request(authorization.as_deref()), Scope::Push);
            assert_eq!(error.unwrap_err().status(), status, "{authorization:?}");
        }
        // The push-only token may not build; the builder may.
        let error = check(&tokens, &request(Some(&bearer)), Scope::Build).unwrap_err();
        assert_eq!(error.status(), 403);
        assert!(error.message().contains("\"build\""), "{}", error.message());
        let ok = check(
            &tokens,
            &request(Some(&format!("bearer {builder}"))),
            Scope::Report,
        );
        assert_eq!(ok.unwrap(), Some("ci".into()));
    }
}
