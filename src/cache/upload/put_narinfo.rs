//! `PUT /<hash>.narinfo`: the last step of an upload. The narinfo is parsed and checked, its
//! NAR (uploaded before, named by its `URL`) checked against `NarHash`/`NarSize` (and
//! `FileHash`/`FileSize`), every reference must be valid in the box's store, and only then is
//! the path added (`import`). A path already valid is left as it is. The NAR it names is
//! removed however this ends; a refusal says why and adds nothing.

use hyper::body::Incoming;
use hyper::header::CONTENT_ENCODING;
use hyper::{Request, StatusCode};

use super::temp::{TempDir, TempFile};
use super::{decompress, import, is_upload_name, receive, verify, ConnectionWrites, Uploads};
use crate::cache::Cache;
use crate::http::request_body::{self, MAX_BODY};
use crate::http::response::{text, HttpError, HttpResult};
use crate::nix::narinfo_parse::{self, UploadedNarinfo};
use crate::nix::path_info::PathInfo;
use crate::nix::store_path::{is_valid_hash_part, HASH_PART_LEN};

/// What an accepted narinfo did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// The path was added: its full store path and NAR size.
    Added { path: String, nar_size: u64 },
    /// The path was valid already; nothing changed.
    AlreadyValid { path: String },
}

pub async fn respond(
    cache: &Cache,
    uploads: &Uploads,
    writes: &ConnectionWrites,
    hash_part: &str,
    request: Request<Incoming>,
) -> Result<Accepted, HttpError> {
    if !is_valid_hash_part(hash_part) {
        return Err(HttpError::BadRequest("malformed store path hash".into()));
    }
    let encoding = request
        .headers()
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = request_body::read(request, uploads.idle_timeout).await?;
    let body = decompress::decode_body(encoding.as_deref(), &body, MAX_BODY as u64)
        .map_err(|e| HttpError::BadRequest(format!("malformed narinfo: {e}")))?;
    let text = String::from_utf8(body)
        .map_err(|_| HttpError::BadRequest("malformed narinfo: not UTF-8 text".into()))?;
    // Whatever happens next, the NAR this narinfo names is used up.
    let nar_name = nar_name(&text);
    let uploaded = nar_name.map(|name| TempFile::new(uploads.nars_dir().join(name)));

    let store_dir = &cache.location.store_dir;
    let narinfo = narinfo_parse::parse(&text, store_dir)
        .map_err(|e| HttpError::BadRequest(format!("malformed narinfo: {e:#}")))?;
    let basename = store_dir.basename_of(&narinfo.path).unwrap_or_default();
    if basename.get(..HASH_PART_LEN) != Some(hash_part) {
        return Err(HttpError::BadRequest(format!(
            "the narinfo's StorePath {} does not have the hash of its URL ({hash_part})",
            narinfo.path
        )));
    }
    if let Some(found) = cache.store.path_info_by_hash(store_dir, hash_part).await? {
        if found.path == narinfo.path {
            return Ok(Accepted::AlreadyValid { path: found.path });
        }
        return Err(HttpError::Conflict(format!(
            "the store holds {} with the hash of {}",
            found.path, narinfo.path
        )));
    }
    let Some(uploaded) = uploaded.filter(|u| u.path().is_file()) else {
        return Err(HttpError::BadRequest(format!(
            "the NAR {} was not uploaded to this cache (PUT it before its narinfo)",
            narinfo.url
        )));
    };
    check_references(cache, &narinfo).await?;
    let info = PathInfo {
        path: narinfo.path.clone(),
        deriver: narinfo.deriver.clone(),
        nar_hash: narinfo.nar_hash,
        nar_size: narinfo.nar_size,
        references: narinfo.references.clone(),
        signatures: Vec::new(),
        content_address: narinfo.content_address.clone(),
    };
    let work = TempDir::new_in(&uploads.imports_dir())
        .map_err(|e| anyhow::anyhow!("failed to make an import directory: {e}"))?;
    let plain = import::place_for_nar(work.path(), &info)?;
    let compressed = narinfo.compression != "none";
    let room_needed = if compressed { narinfo.nar_size } else { 0 };
    receive::check_room(work.path(), room_needed, u64::MAX, "the unpacked NAR")?;
    {
        let narinfo = narinfo.clone();
        let upload = uploaded.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            if compressed {
                verify::check(&upload, &narinfo, Some(&plain))
            } else {
                // Linked first, then checked: the bytes checked are the bytes imported.
                std::fs::hard_link(&upload, &plain)
                    .or_else(|_| std::fs::copy(&upload, &plain).map(drop))
                    .map_err(|e| anyhow::anyhow!("failed to place the NAR for import: {e}"))?;
                verify::check(&plain, &narinfo, None)
            }
        })
        .await
        .map_err(|e| anyhow::anyhow!("the NAR check stopped: {e}"))??;
    }
    drop(uploaded);
    let started = std::time::Instant::now();
    import::run(cache, uploads, writes, work.path(), &info).await?;
    tracing::debug!("imported {} in {:?}", info.path, started.elapsed());
    Ok(Accepted::Added {
        path: info.path,
        nar_size: info.nar_size,
    })
}

/// The answer to an accepted narinfo.
pub fn reply(accepted: &Accepted) -> HttpResult {
    Ok(text(
        StatusCode::OK,
        match accepted {
            Accepted::Added { path, .. } => format!("added {path}\n"),
            Accepted::AlreadyValid { path } => format!("{path} is already in the store\n"),
        },
    ))
}

/// The uploaded NAR a narinfo's `URL:` names, if it names one.
fn nar_name(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|line| line.strip_prefix("URL:"))
        .map(str::trim)
        .and_then(|url| url.strip_prefix("nar/"))
        .filter(|name| is_upload_name(name))
}

/// Every reference but the path itself must be valid in the store already.
async fn check_references(cache: &Cache, narinfo: &UploadedNarinfo) -> Result<(), HttpError> {
    let store_dir = &cache.location.store_dir;
    for reference in &narinfo.references {
        if *reference == narinfo.path {
            continue;
        }
        let basename = store_dir.basename_of(reference).unwrap_or_default();
        let hash = &basename[..HASH_PART_LEN.min(basename.len())];
        let found = cache.store.path_info_by_hash(store_dir, hash).await?;
        if found.is_none_or(|f| f.path != *reference) {
            return Err(HttpError::Unprocessable(format!(
                "reference {reference} of {} is not in this cache's store (push it first)",
                narinfo.path
            )));
        }
    }
    Ok(())
}
