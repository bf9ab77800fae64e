//! The Nix binary cache served from the local store: one file per endpoint (`get_*`, each
//! knowing nothing of routing, which is the server's), the lookup they share, and what they
//! hold in common (store access, signing keys, the narinfo memo, the NARs kept on disk), and
//! the uploads Nix sends (`upload`), kept apart from the store (`pushed_area`) and served
//! signed by the push key only (`pushed_serve`); where each served path came from
//! (`provenance`). Knows nothing of the build API.

pub(crate) mod get_cache_info;
pub(crate) mod get_log;
pub(crate) mod get_nar;
pub(crate) mod get_narinfo;
pub(crate) mod keys;
mod lookup;
mod memo;
pub(crate) mod nar_files;
pub(crate) mod provenance;
pub(crate) mod pushed_area;
pub(crate) mod pushed_serve;
pub(crate) mod upload;

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::store::StoreAccess;
use memo::{PathMemo, SignatureMemo};
use nar_files::{NarFiles, NarFilesStats};
use nix_core::narinfo::Compression;
use nix_core::signing::SecretKey;
use nix_core::store_location::StoreLocation;
use pushed_area::PushedArea;

/// Everything the cache endpoints need, built once when the server starts.
pub(crate) struct Cache {
    store: StoreAccess,
    location: StoreLocation,
    keys: Vec<SecretKey>,
    priority: u32,
    compression: Compression,
    memo: PathMemo,
    signatures: SignatureMemo,
    /// Permits to make NARs: bounds the work, not the connections waiting for it.
    nar_work: Arc<Semaphore>,
    /// NARs made once and kept as files.
    nar_files: NarFiles,
    /// Signs pushed paths, and nothing else.
    push_key: SecretKey,
    push_signatures: SignatureMemo,
    /// Pushed paths, outside the store.
    pub pushed: PushedArea,
}

/// What `Cache::new` is made of besides the store.
pub(crate) struct CacheKeys {
    /// The build keys: everything in the box's store is signed with each.
    pub build: Vec<SecretKey>,
    pub push: SecretKey,
}

impl Cache {
    pub(crate) fn new(
        location: StoreLocation,
        keys: CacheKeys,
        priority: u32,
        compression: Compression,
        max_concurrent_nars: usize,
        nar_files: NarFiles,
        pushed: PushedArea,
    ) -> Cache {
        let store = StoreAccess::choose(&location);
        tracing::info!("reading store metadata through the {}", store.describe());
        Cache {
            store,
            location,
            keys: keys.build,
            push_key: keys.push,
            push_signatures: SignatureMemo::default(),
            pushed,
            priority,
            compression,
            memo: PathMemo::default(),
            signatures: SignatureMemo::default(),
            nar_work: Arc::new(Semaphore::new(max_concurrent_nars.max(1))),
            nar_files,
        }
    }

    /// The build keys' public halves.
    pub(crate) fn public_keys(&self) -> Vec<String> {
        self.keys.iter().map(SecretKey::public_key).collect()
    }

    /// The push key's public half.
    pub(crate) fn push_public_key(&self) -> String {
        self.push_key.public_key()
    }

    pub(crate) fn store_dir(&self) -> &nix_core::store_path::StoreDir {
        &self.location.store_dir
    }

    pub(crate) fn priority(&self) -> u32 {
        self.priority
    }

    pub(crate) fn nar_files_stats(&self) -> NarFilesStats {
        self.nar_files.stats()
    }
}
