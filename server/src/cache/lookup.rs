//! Finding a path of the box's store by its hash part, with its narinfo rendered and signed
//! with every build key: remembered in the memo while the store does not change. Shared by
//! the narinfo and NAR endpoints; knows no URL but the NAR URL it puts in the narinfo. When
//! the store has a path that was also pushed, the store's copy wins, and a pushed copy with
//! other contents is dropped with a warning naming who pushed it.

use std::sync::Arc;

use bytes::Bytes;

use super::Cache;
use super::memo::{CachedPath, Lookup};
use nix_core::narinfo::{self, Compression};
use nix_core::path_info::PathInfo;
use nix_core::signing;

/// The path with this hash part and its narinfo, from the memo or the store.
pub(super) async fn lookup(cache: &Cache, hash_part: &str) -> anyhow::Result<Lookup> {
    let marker = cache.store.change_marker();
    if let Some(found) = cache.memo.get(marker, hash_part) {
        return Ok(found);
    }
    let info = cache
        .store
        .path_info_by_hash(&cache.location.store_dir, hash_part)
        .await?;
    if let Some(info) = &info {
        reconcile(cache, hash_part, info);
    }
    let found = info.map(|info| {
        let narinfo = render(cache, &info);
        Arc::new(CachedPath { info, narinfo })
    });
    cache.memo.put(marker, hash_part, found.clone());
    Ok(found)
}

/// The store has `info`: a pushed copy of it with other contents is a poisoning attempt
/// (content pushed at the output path of a build the box had not made yet), dropped.
pub(super) fn reconcile(cache: &Cache, hash_part: &str, info: &PathInfo) {
    let Ok(Some(pushed)) = cache.pushed.get(hash_part) else {
        return;
    };
    if pushed.path == info.path && pushed.nar_hash == info.nar_hash_nix32() {
        return;
    }
    tracing::warn!(
        "token {} pushed {} with other contents (NarHash {}) than the box's store holds ({}): \
         the pushed copy is dropped, the store's is served",
        pushed.token.as_deref().unwrap_or("(no token)"),
        pushed.path,
        pushed.nar_hash,
        info.nar_hash_nix32()
    );
    if let Err(e) = cache.pushed.remove(hash_part) {
        tracing::warn!("failed to drop the pushed copy of {}: {e:#}", pushed.path);
    }
}

/// `nar/<hash part>-<NAR hash>.nar[.zst]`: names the exact contents, so a path rebuilt with
/// other contents never gets served under an old narinfo.
fn nar_url(info: &PathInfo, hash_part: &str, compression: Compression) -> String {
    let nar_hash = nix_core::base32::encode(&info.nar_hash);
    match compression {
        Compression::None => format!("nar/{hash_part}-{nar_hash}.nar"),
        Compression::Zstd => format!("nar/{hash_part}-{nar_hash}.nar.zst"),
    }
}

fn render(cache: &Cache, info: &PathInfo) -> Bytes {
    let fingerprint = signing::fingerprint(info);
    let ours = cache.signatures.get_or_sign(&fingerprint, || {
        cache
            .keys
            .iter()
            .map(|key| key.sign(&fingerprint))
            .collect()
    });
    let mut signatures = info.signatures.clone();
    for signature in ours.iter() {
        if !signatures.contains(signature) {
            signatures.push(signature.clone());
        }
    }
    let hash_part = cache
        .location
        .store_dir
        .basename_of(&info.path)
        .map(|base| &base[..nix_core::store_path::HASH_PART_LEN])
        .unwrap_or_default();
    let url = nar_url(info, hash_part, cache.compression);
    Bytes::from(narinfo::render(
        &cache.location.store_dir,
        info,
        &url,
        cache.compression,
        &signatures,
    ))
}
