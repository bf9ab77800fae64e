//! `/api/v1/hosts…`: the fleet view, one host, and a host's deploy report (pins and retries:
//! `pins`).

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use crate::api::AppState;
use crate::fleet::HostLookup;
use crate::http::request_body;
use crate::http::response::{self, HttpError, HttpResult};
use crate::nix::store_path::is_valid_basename;
use crate::protocol::host::{is_valid_host_name, Report};

/// Longest message a report may carry; longer ones are cut, with a mark saying so (the host
/// keeps the full text in its own log).
pub const MAX_MESSAGE: usize = 4 * 1024;
/// Longest message of a host in `/api/v1/status`, which lists every host: the whole message is
/// under `/api/v1/hosts/NAME`.
pub const MAX_STATUS_MESSAGE: usize = 256;

/// `message` cut to at most `max` bytes (at a character boundary), marked as cut.
pub fn cut(message: &mut String, max: usize) {
    if message.len() <= max {
        return;
    }
    let mark = " … (cut)";
    let mut end = max.saturating_sub(mark.len());
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message.truncate(end);
    message.push_str(mark);
}

pub async fn list(state: &AppState) -> HttpResult {
    let hosts = state.fleet.hosts(&state.builds).await?;
    Ok(response::json(StatusCode::OK, &json!({ "hosts": hosts })))
}

pub async fn get(state: &AppState, name: &str) -> HttpResult {
    check_name(name)?;
    match state.fleet.lookup(&state.builds, name).await? {
        HostLookup::Found(host) => Ok(response::json(StatusCode::OK, &host)),
        HostLookup::Unknown(known) => Err(unknown_host(name, &known)),
    }
}

pub async fn report(state: &AppState, name: &str, request: Request<Incoming>) -> HttpResult {
    check_name(name)?;
    let Some(mut report) =
        request_body::json::<Option<Report>>(request, state.config.request_timeout.value).await?
    else {
        return Err(HttpError::BadRequest(
            "a report needs a body: {\"state\": …, \"path\": \"/nix/store/…\"}".into(),
        ));
    };
    check_store_path(&report.path, "path")?;
    if let Some(wanted) = &report.wanted {
        check_store_path(wanted, "wanted")?;
    }
    if let Some(message) = &mut report.message {
        cut(message, MAX_MESSAGE);
    }
    let host = state.fleet.report(&state.builds, name, &report).await?;
    Ok(response::json(StatusCode::OK, &host))
}

pub(super) fn check_name(name: &str) -> Result<(), HttpError> {
    if is_valid_host_name(name) {
        Ok(())
    } else {
        Err(HttpError::BadRequest(format!(
            "{name:?} is not a host name (letters, digits, '-', '_' and '.')"
        )))
    }
}

fn check_store_path(path: &str, field: &str) -> Result<(), HttpError> {
    let fine = path
        .strip_prefix("/nix/store/")
        .is_some_and(is_valid_basename);
    if fine {
        Ok(())
    } else {
        Err(HttpError::BadRequest(format!(
            "the report's {field} must be a store path (/nix/store/<hash>-<name>), not {path:?}"
        )))
    }
}

pub(super) fn unknown_host(name: &str, known: &[String]) -> HttpError {
    let known = if known.is_empty() {
        "none yet".to_string()
    } else {
        known.join(", ")
    };
    HttpError::NotFound(format!(
        "no host named {name:?} in the fleet (known hosts: {known})"
    ))
}
