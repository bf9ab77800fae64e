//! Serving pushed paths, for the narinfo and NAR endpoints, when the box's store lacks them:
//! the narinfo from the path's record, with the `FileHash`/`FileSize`/`Compression` of the
//! file as uploaded and signed by the push key only, and the NAR from that file
//! (`nar/pushed/<hash part>-<file hash>.nar…`), whole or the range asked for.

use bytes::Bytes;
use hyper::header::HeaderMap;

use super::Cache;
use super::get_nar::send_cached;
use super::nar_files::Cached;
use super::pushed_area::PushedPath;
use crate::http::response::{HttpError, HttpResult};
use nix_core::narinfo;
use nix_core::path_info::PathInfo;
use nix_core::signing::{self, SecretKey};
use nix_core::store_path::{HASH_PART_LEN, StoreDir, is_valid_hash_part};

/// Files smaller than this are read whole rather than mapped.
const SMALL_FILE: u64 = 64 * 1024;

/// The URL path (under the cache root) a pushed path's NAR is served at.
pub(crate) fn nar_url(record: &PushedPath) -> String {
    format!("nar/pushed/{}", record.file)
}

/// The signed narinfo of the pushed path with this hash part, if there is one.
pub(crate) fn narinfo(cache: &Cache, hash_part: &str) -> anyhow::Result<Option<Bytes>> {
    let Some(record) = cache.pushed.get(hash_part)? else {
        return Ok(None);
    };
    let info = record.info()?;
    let fingerprint = signing::fingerprint(&info);
    let signatures = cache
        .push_signatures
        .get_or_sign(&fingerprint, || vec![cache.push_key.sign(&fingerprint)]);
    Ok(Some(Bytes::from(render(
        &cache.location.store_dir,
        &record,
        &info,
        &signatures,
    ))))
}

/// A pushed path's narinfo with these signatures: the file as uploaded, at `nar_url`. The
/// published bucket puts the same text, so it reads as the box does.
pub(crate) fn render(
    store_dir: &StoreDir,
    record: &PushedPath,
    info: &PathInfo,
    signatures: &[String],
) -> String {
    narinfo::render_file(
        store_dir,
        info,
        &nar_url(record),
        &record.compression,
        Some((&record.file_hash, record.file_size)),
        signatures,
    )
}

/// The narinfo of a pushed path signed by the push key only, as the box serves it.
pub(crate) fn signed(
    store_dir: &StoreDir,
    record: &PushedPath,
    push_key: &SecretKey,
) -> anyhow::Result<String> {
    let info = record.info()?;
    let signature = push_key.sign(&signing::fingerprint(&info));
    Ok(render(store_dir, record, &info, &[signature]))
}

/// `GET|HEAD /nar/pushed/<file>`: the NAR file of a pushed path.
pub(crate) fn nar(cache: &Cache, file: &str, headers: &HeaderMap, head: bool) -> HttpResult {
    let not_found = || HttpError::NotFound("no such NAR in this cache".into());
    let hash_part = file.get(..HASH_PART_LEN).ok_or_else(not_found)?;
    if !is_valid_hash_part(hash_part) || file.contains('/') {
        return Err(not_found());
    }
    let record = cache.pushed.get(hash_part)?.ok_or_else(not_found)?;
    if record.file != file {
        return Err(not_found());
    }
    let path = cache.pushed.nar_file(&record);
    let opened = match std::fs::File::open(&path) {
        Ok(opened) => opened,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
        Err(e) => return Err(anyhow::anyhow!("failed to open {}: {e}", path.display()).into()),
    };
    let cached = if record.file_size < SMALL_FILE {
        Cached::Memory(Bytes::from(std::fs::read(&path).map_err(|e| {
            anyhow::anyhow!("failed to read {}: {e}", path.display())
        })?))
    } else {
        // SAFETY: a read-only map of a file that is only ever replaced by rename, never
        // written in place; a removed file keeps its pages.
        let map = unsafe { memmap2::Mmap::map(&opened) }
            .map_err(|e| anyhow::anyhow!("failed to map {}: {e}", path.display()))?;
        Cached::Mapped(std::sync::Arc::new(map))
    };
    Ok(send_cached(cached, headers, head, false))
}
