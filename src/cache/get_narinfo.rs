//! `GET|HEAD /<hash>.narinfo`: the path's signed narinfo, from the cache's lookup.

use hyper::StatusCode;

use super::lookup::lookup;
use super::Cache;
use crate::http::response::{with_type, HttpError, HttpResult};
use crate::nix::store_path::is_valid_hash_part;

pub async fn respond(cache: &Cache, hash_part: &str) -> HttpResult {
    if !is_valid_hash_part(hash_part) {
        return Err(HttpError::BadRequest("malformed store path hash".into()));
    }
    match lookup(cache, hash_part).await? {
        Some(path) => Ok(with_type(
            StatusCode::OK,
            "text/x-nix-narinfo",
            path.narinfo.clone(),
        )),
        None => Err(HttpError::NotFound("no such path in this cache".into())),
    }
}
