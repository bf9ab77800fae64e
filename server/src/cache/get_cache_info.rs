//! `GET /nix-cache-info`: the store directory, mass-query support and the cache's priority.

use hyper::{Response, StatusCode};

use super::Cache;
use crate::http::body::Body;
use crate::http::response::with_type;

pub(crate) fn respond(cache: &Cache) -> Response<Body> {
    let text = format!(
        "StoreDir: {}\nWantMassQuery: 1\nPriority: {}\n",
        cache.location.store_dir.as_str(),
        cache.priority
    );
    with_type(StatusCode::OK, "text/x-nix-cache-info", text)
}
