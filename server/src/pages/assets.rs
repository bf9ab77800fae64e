//! The pages' only files: one stylesheet, one small script and an icon of ours, embedded in the
//! binary as static strings and served by this server (the tailnet may be offline, so
//! nothing comes from a CDN).

use hyper::StatusCode;
use hyper::header::{CACHE_CONTROL, HeaderValue};

use super::html::add_page_headers;
use crate::http::response::{HttpError, HttpResult, with_type};

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/live.js");
const ICON: &str = include_str!("assets/icon.svg");

/// `GET /assets/<name>`.
pub(crate) fn respond(name: &str) -> HttpResult {
    let (content_type, text) = match name {
        "style.css" => ("text/css; charset=utf-8", STYLE),
        "live.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "icon.svg" => ("image/svg+xml", ICON),
        _ => return Err(HttpError::NotFound("no such file".into())),
    };
    let mut response = with_type(StatusCode::OK, content_type, text);
    add_page_headers(&mut response);
    // Short: a new version of the server may change them under the same name.
    response.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}
