//! The Nix binary cache served from the local store: routes the cache's URLs to one handler
//! each and holds what they share (store access, signing keys, the narinfo memo). Knows
//! nothing of the build API.

mod cache_info;
pub mod keys;
mod log;
mod memo;
mod nar;
mod narinfo;

use hyper::{Method, Request};

use crate::nix::narinfo::Compression;
use crate::nix::signing::SecretKey;
use crate::nix::store::{StoreAccess, StoreLocation};
use crate::server::response::{HttpError, HttpResult};
use memo::{PathMemo, SignatureMemo};

/// Everything the cache endpoints need, built once when the server starts.
pub struct Cache {
    store: StoreAccess,
    location: StoreLocation,
    keys: Vec<SecretKey>,
    priority: u32,
    compression: Compression,
    memo: PathMemo,
    signatures: SignatureMemo,
}

impl Cache {
    pub fn new(
        location: StoreLocation,
        keys: Vec<SecretKey>,
        priority: u32,
        compression: Compression,
    ) -> Cache {
        let store = StoreAccess::choose(&location);
        tracing::info!("reading store metadata through the {}", store.describe());
        Cache {
            store,
            location,
            keys,
            priority,
            compression,
            memo: PathMemo::default(),
            signatures: SignatureMemo::default(),
        }
    }

    pub fn public_keys(&self) -> Vec<String> {
        self.keys.iter().map(SecretKey::public_key).collect()
    }

    pub fn priority(&self) -> u32 {
        self.priority
    }

    /// Answers a request for one of the cache's URLs; `None` when the path is not one.
    pub async fn handle<B>(&self, request: &Request<B>) -> Option<HttpResult> {
        let path = request.uri().path();
        let route = if path == "/nix-cache-info" {
            Route::CacheInfo
        } else if let Some(name) = path.strip_prefix("/nar/") {
            Route::Nar(name)
        } else if let Some(name) = path.strip_prefix("/log/") {
            Route::Log(name)
        } else if let Some(hash) = path
            .strip_prefix('/')
            .and_then(|p| p.strip_suffix(".narinfo"))
        {
            Route::Narinfo(hash)
        } else {
            return None;
        };
        let head = match *request.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => return Some(Err(HttpError::MethodNotAllowed)),
        };
        Some(match route {
            Route::CacheInfo => Ok(cache_info::respond(self)),
            Route::Narinfo(hash) => narinfo::respond(self, hash).await,
            Route::Nar(name) => nar::respond(self, name, request.headers(), head).await,
            Route::Log(name) => log::respond(self, name, head),
        })
    }
}

enum Route<'a> {
    CacheInfo,
    Narinfo(&'a str),
    Nar(&'a str),
    Log(&'a str),
}
