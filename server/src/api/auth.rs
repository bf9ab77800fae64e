//! Who may write: a request names its token as `Authorization: Bearer <token>` or as the
//! password of HTTP Basic (any user name, so a plain netrc line works for `nix copy`), and the
//! token needs the scope of what it asks. Tokens are read from the state dir on every check, so
//! creating or revoking one takes effect without a restart. Scheme names are case-insensitive
//! (RFC 9110, section 11.1): `Bearer`, `bearer` and `BEARER` are one scheme.
//!
//! With no token at all, builds and reports are open (as before tokens existed); uploads and
//! pins never are: while no token may push (or deploy), pushing (or pinning) is off.
//!
//! A report names its host: a token bound to a host reports only for it, and once a host has a
//! bound token, tokens bound to no host may no longer report for it (so a stolen shared token
//! cannot speak for a machine that has its own).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hyper::Request;
use hyper::header::AUTHORIZATION;

use crate::api::AppState;
use crate::http::response::HttpError;
use crate::tokens::{Scope, TokenInfo, Tokens};

/// Who a write was allowed for: the token's name, or `None` when writes are open.
pub(crate) type Caller = Option<String>;

/// Checks that `request` may do what `scope` covers; the caller's token name when one was
/// needed.
pub(crate) fn require_scope<B>(
    state: &AppState,
    request: &Request<B>,
    scope: Scope,
) -> Result<Caller, HttpError> {
    // One reading of the token file answers every question of this request.
    check(&state.tokens.snapshot()?, request, scope)
}

/// `require_scope` for builds and cancels (`Scope::Build`).
pub(crate) fn require_token<B>(state: &AppState, request: &Request<B>) -> Result<(), HttpError> {
    require_scope(state, request, Scope::Build).map(drop)
}

/// `require_scope` for a host's report (`Scope::Report`): a token bound to a host reports only
/// for it; a token bound to none may not report for a host that has its own.
pub(crate) fn require_report<B>(
    state: &AppState,
    request: &Request<B>,
    host: &str,
) -> Result<Caller, HttpError> {
    check_report(&state.tokens.snapshot()?, request, host)
}

fn check_report<B>(tokens: &Tokens, request: &Request<B>, host: &str) -> Result<Caller, HttpError> {
    let Some(found) = identify(tokens, request, Scope::Report)? else {
        return Ok(None);
    };
    match found.host.as_deref() {
        Some(bound) if bound != host => Err(HttpError::Forbidden(format!(
            "token {:?} is bound to host {bound:?} and may report only for it, not for {host:?}",
            found.name
        ))),
        Some(_) => Ok(Some(found.name)),
        None if tokens.host_is_bound(host) => Err(HttpError::Forbidden(format!(
            "host {host:?} has a token of its own (made with --host {host}); only that token \
             may report for it, not {:?}",
            found.name
        ))),
        None => Ok(Some(found.name)),
    }
}

/// The token `request` presents, whatever its scopes: `GET /api/v1/token`, for a client (the
/// wizard) to check a token before it keeps it. `401` without one or with one that is not valid.
pub(crate) fn presented<B>(state: &AppState, request: &Request<B>) -> Result<TokenInfo, HttpError> {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(presented_token)
        .ok_or_else(|| HttpError::Unauthorized(MISSING_TOKEN.into()))?;
    state
        .tokens
        .identify(&token)?
        .ok_or_else(|| HttpError::Unauthorized(INVALID_TOKEN.into()))
}

fn check<B>(tokens: &Tokens, request: &Request<B>, scope: Scope) -> Result<Caller, HttpError> {
    Ok(identify(tokens, request, scope)?.map(|found| found.name))
}

/// The token `request` presents when it has `scope`; `None` when writes are open (no token
/// exists, and the scope is not push).
fn identify<B>(
    tokens: &Tokens,
    request: &Request<B>,
    scope: Scope,
) -> Result<Option<TokenInfo>, HttpError> {
    if scope == Scope::Push {
        if !tokens.any_with(Scope::Push) {
            return Err(HttpError::Forbidden(
                "pushing to this cache is off: no token may push (turn it on with \
                 `atuin-bootstrap token create NAME --scope push` on the server)"
                    .into(),
            ));
        }
    } else if scope == Scope::Deploy {
        // Moving what hosts run is never open, not even on a box with no token at all.
        if !tokens.any_with(Scope::Deploy) {
            return Err(HttpError::Forbidden(
                "pinning and retrying hosts is off: no token has the deploy scope (make one \
                 with `atuin-bootstrap token create NAME --scope deploy` on the server)"
                    .into(),
            ));
        }
    } else if !tokens.any() {
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
    let Some(found) = tokens.identify(&token) else {
        return Err(HttpError::Unauthorized(INVALID_TOKEN.into()));
    };
    if !found.scopes.contains(&scope) {
        return Err(HttpError::Forbidden(lacks_scope(&found, scope)));
    }
    Ok(Some(found))
}

/// Which scopes to make a new token with: the ones it has and the one it lacks, so the new
/// token does not lose what the old one could do.
fn lacks_scope(found: &TokenInfo, scope: Scope) -> String {
    let mut wanted = found.scopes.clone();
    wanted.push(scope);
    wanted.sort();
    wanted.dedup();
    let wanted: Vec<&str> = wanted.iter().map(|s| s.as_str()).collect();
    let host = found
        .host
        .as_ref()
        .map(|h| format!(" --host {h}"))
        .unwrap_or_default();
    format!(
        "token {:?} lacks the {scope} scope; create one with `atuin-bootstrap token create NAME \
         --scope {}{host}` to keep what it can do too",
        found.name,
        wanted.join(","),
        scope = scope.as_str()
    )
}

const INVALID_TOKEN: &str = "the API token is not valid (revoked, or made on another server)";

/// Said once, for both kinds of client: the header a raw API client sends, and the CLI's ways.
const MISSING_TOKEN: &str = "this server needs an API token: send `Authorization: Bearer TOKEN` \
     (the CLI: --token, ATUIN_BOOTSTRAP_TOKEN or client.token_file); an admin makes one on the \
     server with `atuin-bootstrap token create NAME`";

fn missing_token_message(scope: Scope) -> &'static str {
    match scope {
        Scope::Push => {
            "uploads need a token with the push scope, as `Authorization: Bearer TOKEN` or as \
             the password of a netrc line (`nix copy --netrc-file FILE`)"
        }
        Scope::Deploy => {
            "pinning and retrying hosts needs a token with the deploy scope, as \
             `Authorization: Bearer TOKEN` (the CLI: --token, ATUIN_BOOTSTRAP_TOKEN or \
             client.token_file)"
        }
        _ => MISSING_TOKEN,
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
    use crate::tokens::TokenStore;

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
        assert_eq!(
            check(&tokens.snapshot().unwrap(), &request(None), Scope::Build).unwrap(),
            None
        );
        let error = check(&tokens.snapshot().unwrap(), &request(None), Scope::Push).unwrap_err();
        assert_eq!(error.status(), 403);
        assert!(
            error.message().contains("--scope push"),
            "{}",
            error.message()
        );

        let builder = tokens.create("ci", &[]).unwrap();
        // A token exists but none may push: still off, even for a valid token.
        let error = check(
            &tokens.snapshot().unwrap(),
            &request(Some(&basic("x", &builder))),
            Scope::Push,
        );
        assert_eq!(error.unwrap_err().status(), 403);

        let pusher = tokens.create("laptop", &[Scope::Push]).unwrap();
        let bearer = format!("Bearer {pusher}");
        assert_eq!(
            check(
                &tokens.snapshot().unwrap(),
                &request(Some(&bearer)),
                Scope::Push
            )
            .unwrap(),
            Some("laptop".into())
        );
        assert_eq!(
            check(
                &tokens.snapshot().unwrap(),
                &request(Some(&basic("x", &pusher))),
                Scope::Push
            )
            .unwrap(),
            Some("laptop".into())
        );
        for (authorization, status) in [
            (None, 401),
            (Some("Bearer abt_wrong".to_string()), 401),
            (Some(basic("x", &builder)), 403),
        ] {
            let error = check(
                &tokens.snapshot().unwrap(),
                &request(authorization.as_deref()),
                Scope::Push,
            );
            assert_eq!(error.unwrap_err().status(), status, "{authorization:?}");
        }
        // The push-only token may not build; the builder may.
        let error = check(
            &tokens.snapshot().unwrap(),
            &request(Some(&bearer)),
            Scope::Build,
        )
        .unwrap_err();
        assert_eq!(error.status(), 403);
        assert!(
            error.message().contains("lacks the build scope")
                && error.message().contains("--scope build,push"),
            "{}",
            error.message()
        );
        let ok = check(
            &tokens.snapshot().unwrap(),
            &request(Some(&format!("bearer {builder}"))),
            Scope::Report,
        );
        assert_eq!(ok.unwrap(), Some("ci".into()));
    }

    #[test]
    fn a_bound_token_reports_only_for_its_host_and_takes_the_host_from_others() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = TokenStore::new(dir.path());
        let shared = tokens.create("shared", &[]).unwrap();
        let shared = format!("Bearer {shared}");
        assert_eq!(
            check_report(
                &tokens.snapshot().unwrap(),
                &request(Some(&shared)),
                "laptop"
            )
            .unwrap(),
            Some("shared".into())
        );
        let laptop = tokens
            .create_for("laptop", &Scope::DEFAULT, Some("laptop"))
            .unwrap();
        let laptop = format!("Bearer {laptop}");
        assert_eq!(
            check_report(
                &tokens.snapshot().unwrap(),
                &request(Some(&laptop)),
                "laptop"
            )
            .unwrap(),
            Some("laptop".into())
        );
        let error = check_report(
            &tokens.snapshot().unwrap(),
            &request(Some(&laptop)),
            "desktop",
        )
        .unwrap_err();
        assert_eq!(error.status(), 403);
        assert!(
            error.message().contains("bound to host"),
            "{}",
            error.message()
        );
        // The shared token may still report for hosts without a token of their own.
        let error = check_report(
            &tokens.snapshot().unwrap(),
            &request(Some(&shared)),
            "laptop",
        )
        .unwrap_err();
        assert_eq!(error.status(), 403);
        assert!(
            error.message().contains("--host laptop"),
            "{}",
            error.message()
        );
        assert!(
            check_report(
                &tokens.snapshot().unwrap(),
                &request(Some(&shared)),
                "desktop"
            )
            .is_ok()
        );
        // A token without the report scope: 403 naming the scopes to keep.
        let pusher = tokens.create("pusher", &[Scope::Push]).unwrap();
        let error = check_report(
            &tokens.snapshot().unwrap(),
            &request(Some(&format!("Bearer {pusher}"))),
            "desktop",
        );
        let message = error.unwrap_err().message();
        assert!(message.contains("--scope report,push"), "{message}");
    }

    #[test]
    fn the_missing_token_message_names_the_header_once() {
        assert_eq!(MISSING_TOKEN.matches("Authorization: Bearer").count(), 1);
        assert_eq!(MISSING_TOKEN.matches("--token").count(), 1);
    }
}
