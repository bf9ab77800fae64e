//! `GET|HEAD /log/<derivation base name>`: the build log Nix kept for a derivation, or one
//! pushed to the cache, as plain text.

use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use super::Cache;
use crate::http::body;
use crate::http::response::{HttpError, HttpResult};
use nix_core::build_logs;

/// Nix's own log, or else one pushed (kept in `pushed_logs`, laid out as Nix's).
pub(crate) fn respond(
    cache: &Cache,
    drv: &str,
    head: bool,
    pushed_logs: &std::path::Path,
) -> HttpResult {
    let opened = match build_logs::open(&cache.location.log_dir, drv) {
        Ok(None) => build_logs::open(pushed_logs, drv),
        other => other,
    }
    .map_err(|e| anyhow::anyhow!("failed to open the build log of {drv}: {e}"))?;
    let Some(reader) = opened else {
        return Err(HttpError::NotFound(
            "no build log for that derivation".into(),
        ));
    };
    let body = if head {
        body::empty()
    } else {
        body::pulled(body::ReadSource(reader), None, None)
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}
