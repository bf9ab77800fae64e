//! Where a path the cache serves came from: `built` (in the box's store, built here: Nix
//! marks it ultimately trusted), `substituted` (in the store, copied from elsewhere) or
//! `pushed` (only in the pushed area, with who pushed it and when); and which keys sign what
//! is served of it. Also the pushed paths in a closure (what a job's outputs hold that came
//! by push).

use std::collections::{BTreeSet, HashSet};

use serde::Serialize;

use super::Cache;
use super::lookup::reconcile;
use nix_core::store_path::HASH_PART_LEN;

/// A path's origin as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Provenance {
    pub path: String,
    /// `built`, `substituted` or `pushed`.
    pub origin: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed_at: Option<String>,
    /// The names of the keys whose signatures the served narinfo carries.
    pub signed_by: Vec<String>,
}

/// The provenance of the path with this hash part; `None` when the cache does not serve it.
pub(crate) async fn of(cache: &Cache, hash_part: &str) -> anyhow::Result<Option<Provenance>> {
    let store_dir = &cache.location.store_dir;
    if let Some(info) = cache.store.path_info_by_hash(store_dir, hash_part).await? {
        reconcile(cache, hash_part, &info);
        let mut signed_by: Vec<String> = info
            .signatures
            .iter()
            .filter_map(|s| s.split_once(':').map(|(name, _)| name.to_string()))
            .collect();
        for key in &cache.keys {
            if !signed_by.iter().any(|n| n == key.name()) {
                signed_by.push(key.name().to_string());
            }
        }
        return Ok(Some(Provenance {
            path: info.path,
            origin: if info.ultimate {
                "built"
            } else {
                "substituted"
            },
            token: None,
            pushed_at: None,
            signed_by,
        }));
    }
    Ok(cache.pushed.get(hash_part)?.map(|record| Provenance {
        path: record.path,
        origin: "pushed",
        token: Some(record.token.unwrap_or_default()),
        pushed_at: Some(record.pushed_at),
        signed_by: vec![cache.push_key.name().to_string()],
    }))
}

/// The paths in the closures of `roots` whose only copy is pushed, sorted. A path valid in
/// the store has its whole closure there (Nix's invariant), so only pushed paths are walked.
pub(crate) async fn pushed_in_closure(
    cache: &Cache,
    roots: &[String],
) -> anyhow::Result<Vec<String>> {
    let store_dir = &cache.location.store_dir;
    let mut seen = HashSet::new();
    let mut pushed = BTreeSet::new();
    let mut next: Vec<String> = roots.to_vec();
    while let Some(path) = next.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let Some(base) = store_dir.basename_of(&path) else {
            continue;
        };
        let hash_part = &base[..HASH_PART_LEN.min(base.len())];
        if let Some(info) = cache.store.path_info_by_hash(store_dir, hash_part).await?
            && info.path == path
        {
            continue;
        }
        if let Some(record) = cache.pushed.get(hash_part)?
            && record.path == path
        {
            next.extend(record.references.iter().cloned());
            pushed.insert(path);
        }
    }
    Ok(pushed.into_iter().collect())
}
