//! The Nix binary cache served from the local store: one file per endpoint (`get_*`, each
//! knowing nothing of routing, which is the server's), the lookup they share, and what they
//! hold in common (store access, signing keys, the narinfo memo, the NARs kept on disk), and
//! the uploads Nix sends (`upload`). Knows nothing of the build API.

pub mod get_cache_info;
pub mod get_log;
pub mod get_nar;
pub mod get_narinfo;
pub mod keys;
mod lookup;
mod memo;
pub mod nar_files;
pub mod upload;

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::nix::narinfo::Compression;
use crate::nix::signing::SecretKey;
use crate::nix::store::daemon::DaemonStore;
use crate::nix::store::{daemon_for_writes, StoreAccess, StoreLocation};
use memo::{PathMemo, SignatureMemo};
use nar_files::{NarFiles, NarFilesStats};

/// Everything the cache endpoints need, built once when the server starts.
pub struct Cache {
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
    /// The daemon pushed paths are added through, when there is one.
    store_writer: Option<DaemonStore>,
}

impl Cache {
    pub fn new(
        location: StoreLocation,
        keys: Vec<SecretKey>,
        priority: u32,
        compression: Compression,
        max_concurrent_nars: usize,
        nar_files: NarFiles,
    ) -> Cache {
        let store = StoreAccess::choose(&location);
        tracing::info!("reading store metadata through the {}", store.describe());
        Cache {
            store_writer: daemon_for_writes(&location),
            store,
            location,
            keys,
            priority,
            compression,
            memo: PathMemo::default(),
            signatures: SignatureMemo::default(),
            nar_work: Arc::new(Semaphore::new(max_concurrent_nars.max(1))),
            nar_files,
        }
    }

    pub fn public_keys(&self) -> Vec<String> {
        self.keys.iter().map(SecretKey::public_key).collect()
    }

    pub fn priority(&self) -> u32 {
        self.priority
    }

    pub fn nar_files_stats(&self) -> NarFilesStats {
        self.nar_files.stats()
    }
}
