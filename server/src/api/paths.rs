//! `GET /api/v1/paths/<hash part or store path>`: where a path the cache serves came from
//! (`built`, `substituted` or `pushed`, with the token and time of a push) and which keys
//! sign it.

use hyper::StatusCode;

use super::AppState;
use crate::cache::provenance;
use crate::http::response::{HttpError, HttpResult, json};
use nix_core::store_path::{HASH_PART_LEN, is_valid_hash_part};

pub(crate) async fn get(state: &AppState, wanted: &str) -> HttpResult {
    let cache = &state.cache;
    let (hash_part, full) = match cache.store_dir().basename_of(wanted) {
        Some(base) => (&base[..HASH_PART_LEN.min(base.len())], Some(wanted)),
        None => (wanted, None),
    };
    if !is_valid_hash_part(hash_part) {
        return Err(HttpError::BadRequest(format!(
            "{wanted:?} is neither a store path of {} nor the hash part of one",
            cache.store_dir().as_str()
        )));
    }
    let found = provenance::of(cache, hash_part)
        .await?
        .filter(|p| full.is_none_or(|full| p.path == full));
    match found {
        Some(provenance) => Ok(json(StatusCode::OK, &provenance)),
        None => Err(HttpError::NotFound("no such path in this cache".into())),
    }
}
