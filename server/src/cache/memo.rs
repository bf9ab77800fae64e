//! Remembers rendered narinfos (and misses) between requests, valid only while the store's
//! change marker stays the same: any commit Nix makes to its database (a build, a delete, a
//! `nix store sign`) empties it, so an answer is never staler than the database. Without a
//! marker nothing is remembered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use nix_core::path_info::PathInfo;

/// Entries kept at most (in each memo); past that the memo starts over.
const MAX_ENTRIES: usize = 200_000;

/// A valid path's facts with its rendered, signed narinfo.
pub(super) struct CachedPath {
    pub info: PathInfo,
    pub narinfo: Bytes,
}

/// `None` inside means "the store does not have it".
pub(super) type Lookup = Option<Arc<CachedPath>>;

#[derive(Default)]
pub(super) struct PathMemo {
    state: Mutex<MemoState>,
}

#[derive(Default)]
struct MemoState {
    marker: Option<u64>,
    entries: HashMap<String, Lookup>,
}

impl PathMemo {
    /// The remembered answer for `hash_part`, if it was made under `marker`.
    pub(super) fn get(&self, marker: Option<u64>, hash_part: &str) -> Option<Lookup> {
        let marker = marker?;
        let mut state = self.state.lock().expect("memo lock");
        if state.marker != Some(marker) {
            state.entries.clear();
            state.marker = Some(marker);
            return None;
        }
        state.entries.get(hash_part).cloned()
    }

    /// Remembers an answer read after `marker` was taken.
    pub(super) fn put(&self, marker: Option<u64>, hash_part: &str, lookup: Lookup) {
        let Some(marker) = marker else { return };
        let mut state = self.state.lock().expect("memo lock");
        if state.marker != Some(marker) {
            return;
        }
        if state.entries.len() >= MAX_ENTRIES {
            state.entries.clear();
        }
        state.entries.insert(hash_part.to_string(), lookup);
    }
}

/// Our signatures by fingerprint. A fingerprint fixes the signature (ed25519 is
/// deterministic), so these never go stale; they spare the daemon path a signing per request.
#[derive(Default)]
pub(super) struct SignatureMemo {
    entries: Mutex<HashMap<String, Arc<[String]>>>,
}

impl SignatureMemo {
    pub(super) fn get_or_sign(
        &self,
        fingerprint: &str,
        sign: impl FnOnce() -> Vec<String>,
    ) -> Arc<[String]> {
        if let Some(found) = self.entries.lock().expect("memo lock").get(fingerprint) {
            return found.clone();
        }
        let signatures: Arc<[String]> = sign().into();
        let mut entries = self.entries.lock().expect("memo lock");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(fingerprint.to_string(), signatures.clone());
        signatures
    }
}
