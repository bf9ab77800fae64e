//! `PUT /<hash>.narinfo`: the last step of an upload. The narinfo is parsed and must agree
//! with what was found in its NAR while it arrived (`NarHash`, `NarSize`, `FileHash`,
//! `FileSize`, `Compression`; nothing is read again), `NarSize` must be within
//! `cache.max_nar_size`, and every reference must be valid in the box's store or pushed
//! already. Then the path joins the pushed area (`cache::pushed_area`): its NAR file moved
//! there as uploaded, its record written beside it. A path the store or the pushed area has
//! already is left as it is (`200`), and a second push of a path waits for the first. The NAR
//! the narinfo names is used up however this ends; a refusal says why and keeps nothing.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use hyper::body::Incoming;
use hyper::header::CONTENT_ENCODING;
use hyper::{Request, StatusCode};

use super::temp::TempFile;
use super::{Received, Uploads, compression_of, decompress};
use crate::cache::Cache;
use crate::cache::lookup::reconcile;
use crate::cache::pushed_area::PushedPath;
use crate::http::request_body::{self, MAX_BODY};
use crate::http::response::{HttpError, HttpResult, text};
use nix_core::base32;
use nix_core::narinfo_parse::{self, UploadedNarinfo};
use nix_core::store_path::{HASH_PART_LEN, is_valid_hash_part};

/// What an accepted narinfo did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Accepted {
    /// The path was added to the pushed area: its full store path and NAR size.
    Added { path: String, nar_size: u64 },
    /// The box's store has the path; nothing changed.
    InStore { path: String },
    /// The path was pushed before; nothing changed but its time, which starts over.
    Pushed { path: String },
}

pub(crate) async fn respond(
    cache: &Cache,
    uploads: &Uploads,
    caller: Option<&str>,
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
    let nar_name = nar_name(&text).map(str::to_string);
    let uploaded = nar_name
        .as_deref()
        .map(|name| TempFile::new(uploads.nars_dir().join(name)));
    let facts = nar_name
        .as_deref()
        .and_then(|name| uploads.received.lock().expect("received lock").remove(name));

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
    let _taking = uploads.take_turn(hash_part).await;
    if let Some(found) = cache.store.path_info_by_hash(store_dir, hash_part).await? {
        if found.path == narinfo.path {
            reconcile(cache, hash_part, &found);
            return Ok(Accepted::InStore { path: found.path });
        }
        return Err(HttpError::Conflict(format!(
            "the store holds {} with the hash of {}",
            found.path, narinfo.path
        )));
    }
    if let Some(mut pushed) = cache.pushed.get(hash_part)? {
        if pushed.path != narinfo.path {
            return Err(HttpError::Conflict(format!(
                "this cache holds {} with the hash of {}",
                pushed.path, narinfo.path
            )));
        }
        pushed.pushed_at = common::timestamp::now();
        cache.pushed.write_record(hash_part, &pushed)?;
        return Ok(Accepted::Pushed { path: pushed.path });
    }
    if narinfo.nar_size > uploads.max_nar_size {
        return Err(HttpError::TooLarge(format!(
            "{} is larger than this cache takes once decompressed ({} bytes, \
             cache.max_nar_size)",
            narinfo.path, uploads.max_nar_size
        )));
    }
    let (Some(uploaded), Some(facts)) = (uploaded.filter(|u| u.path().is_file()), facts) else {
        return Err(HttpError::BadRequest(format!(
            "the NAR {} was not uploaded to this cache (PUT it before its narinfo)",
            narinfo.url
        )));
    };
    agree(&narinfo, &facts)?;
    check_references(cache, &narinfo).await?;
    let name = nar_name.expect("a NAR name with the NAR");
    let stem = compression_of(&name).map(|(_, stem)| stem).unwrap_or("");
    let record = PushedPath {
        path: narinfo.path.clone(),
        deriver: narinfo.deriver.clone(),
        nar_hash: format!("sha256:{}", base32::encode(&facts.nar_hash)),
        nar_size: facts.nar_size,
        references: narinfo.references.clone(),
        ca: narinfo.content_address.clone(),
        compression: facts.compression.to_string(),
        file_hash: format!("sha256:{}", base32::encode(&facts.file_hash)),
        file_size: facts.file_size,
        file: format!("{hash_part}-{stem}{}", &name[stem.len()..]),
        token: caller.map(str::to_string),
        pushed_at: common::timestamp::now(),
    };
    cache.pushed.add(hash_part, &record, uploaded.path())?;
    uploaded.forget();
    Ok(Accepted::Added {
        path: record.path,
        nar_size: record.nar_size,
    })
}

/// The narinfo says what the NAR was found to be.
fn agree(narinfo: &UploadedNarinfo, facts: &Received) -> Result<(), HttpError> {
    if narinfo.compression != facts.compression {
        return Err(HttpError::BadRequest(format!(
            "the narinfo says Compression: {}, the NAR's name says {}",
            narinfo.compression, facts.compression
        )));
    }
    if facts.nar_size != narinfo.nar_size {
        return Err(mismatch(format!(
            "the NAR has {} bytes, its NarSize says {}",
            facts.nar_size, narinfo.nar_size
        )));
    }
    if facts.nar_hash != narinfo.nar_hash {
        return Err(mismatch(format!(
            "NarHash mismatch: the NAR's hash is sha256:{}, its narinfo says sha256:{}",
            base32::encode(&facts.nar_hash),
            base32::encode(&narinfo.nar_hash)
        )));
    }
    if let Some(size) = narinfo.file_size.filter(|&s| s != facts.file_size) {
        return Err(mismatch(format!(
            "the file has {} bytes, its FileSize says {size}",
            facts.file_size
        )));
    }
    if let Some(expected) = narinfo.file_hash.filter(|h| *h != facts.file_hash) {
        return Err(mismatch(format!(
            "FileHash mismatch: the file's hash is sha256:{}, its narinfo says sha256:{}",
            base32::encode(&facts.file_hash),
            base32::encode(&expected)
        )));
    }
    Ok(())
}

fn mismatch(message: String) -> HttpError {
    HttpError::Unprocessable(message)
}

/// The answer to an accepted narinfo.
pub(crate) fn reply(accepted: &Accepted) -> HttpResult {
    Ok(text(
        StatusCode::OK,
        match accepted {
            Accepted::Added { path, .. } => format!("added {path}\n"),
            Accepted::InStore { path } => format!("{path} is already in the box's store\n"),
            Accepted::Pushed { path } => format!("{path} was already pushed\n"),
        },
    ))
}

/// After an accepted narinfo: counts an added path and logs who pushed it.
pub(crate) fn record(uploads: &Uploads, caller: Option<&str>, accepted: &Accepted) {
    let Accepted::Added { path, nar_size } = accepted else {
        return;
    };
    let who = caller.unwrap_or("(no token)");
    tracing::info!("token {who} pushed {path} ({nar_size} bytes)");
    uploads.counters.paths.fetch_add(1, Ordering::Relaxed);
    uploads
        .counters
        .bytes
        .fetch_add(*nar_size, Ordering::Relaxed);
}

/// The uploaded NAR a narinfo's `URL:` names, if it names one.
fn nar_name(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|line| line.strip_prefix("URL:"))
        .map(str::trim)
        .and_then(|url| url.strip_prefix("nar/"))
        .filter(|name| compression_of(name).is_some())
}

/// Every reference but the path itself must be valid in the store or pushed already.
async fn check_references(cache: &Cache, narinfo: &UploadedNarinfo) -> Result<(), HttpError> {
    let store_dir = &cache.location.store_dir;
    for reference in &narinfo.references {
        if *reference == narinfo.path {
            continue;
        }
        let basename = store_dir.basename_of(reference).unwrap_or_default();
        let hash = &basename[..HASH_PART_LEN.min(basename.len())];
        let in_store = cache.store.path_info_by_hash(store_dir, hash).await?;
        if in_store.is_some_and(|f| f.path == *reference) {
            continue;
        }
        if cache
            .pushed
            .get(hash)?
            .is_some_and(|p| p.path == *reference)
        {
            continue;
        }
        return Err(HttpError::Unprocessable(format!(
            "reference {reference} of {} is not in this cache (push it first)",
            narinfo.path
        )));
    }
    Ok(())
}

impl Uploads {
    /// Waits until no other narinfo of `hash_part` is being taken; held until dropped.
    async fn take_turn(&self, hash_part: &str) -> Turn<'_> {
        let lock = self
            .taking
            .lock()
            .expect("taking lock")
            .entry(hash_part.to_string())
            .or_default()
            .clone();
        let guard = lock.clone().lock_owned().await;
        Turn {
            uploads: self,
            hash_part: hash_part.to_string(),
            lock: Some(lock),
            guard: Some(guard),
        }
    }
}

/// A narinfo's turn: forgotten from the map when nobody else waits for it.
struct Turn<'a> {
    uploads: &'a Uploads,
    hash_part: String,
    lock: Option<Arc<tokio::sync::Mutex<()>>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let lock = self.lock.take().expect("a turn's lock");
        let mut taking = self.uploads.taking.lock().expect("taking lock");
        // The map's and ours: nobody else holds or waits for it.
        if Arc::strong_count(&lock) == 2 {
            taking.remove(&self.hash_part);
        }
    }
}
