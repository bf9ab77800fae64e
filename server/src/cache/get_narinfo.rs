//! `GET|HEAD /<hash>.narinfo`: the path's signed narinfo, from the box's store (signed by the
//! build keys) or, only when the store lacks it, from the pushed paths (signed by the push
//! key).

use hyper::StatusCode;

use super::Cache;
use super::lookup::lookup;
use super::pushed_serve;
use crate::http::response::{HttpError, HttpResult, with_type};
use nix_core::store_path::is_valid_hash_part;

pub(crate) async fn respond(cache: &Cache, hash_part: &str) -> HttpResult {
    if !is_valid_hash_part(hash_part) {
        return Err(HttpError::BadRequest("malformed store path hash".into()));
    }
    match lookup(cache, hash_part).await? {
        Some(path) => Ok(with_type(
            StatusCode::OK,
            "text/x-nix-narinfo",
            path.narinfo.clone(),
        )),
        None => match pushed_serve::narinfo(cache, hash_part)? {
            Some(narinfo) => Ok(with_type(StatusCode::OK, "text/x-nix-narinfo", narinfo)),
            None => Err(HttpError::NotFound("no such path in this cache".into())),
        },
    }
}
