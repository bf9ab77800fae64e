//! Where pushed paths live: outside the box's Nix store, in the cache area only, so the box's
//! own builds never take them. `<state>/pushed/paths/<hash part>.json` records each path (its
//! narinfo facts, who pushed it, when) and `<state>/pushed/nar/<hash part>-<file hash>.nar…`
//! holds its NAR exactly as uploaded (compressed as the client sent it). A record's file
//! modification time is the path's last push: `gc` drops records older than
//! `cache.pushed_ttl`, with their NARs. Paths pushed by older servers went into the store with
//! a GC root under `pushed/roots/`; `gc` drops those roots by the same rule.
//!
//! Durability without an fsync per path (one costs more than a whole upload here): files are
//! renamed into place, and a background task syncs the filesystem a few seconds after pushes
//! and then touches `pushed/synced`. At start, records newer than that mark (pushed just
//! before a crash) are checked against their NAR file's hash and dropped when it does not
//! match, so a torn file is never served.

use std::collections::HashSet;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use nix_core::base32;
use nix_core::narinfo_parse::parse_hash;
use nix_core::path_info::PathInfo;

/// How long after a push the filesystem is synced at the latest.
const SYNC_AFTER: Duration = Duration::from_secs(2);

/// One pushed path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PushedPath {
    pub path: String,
    #[serde(default)]
    pub deriver: Option<String>,
    /// `sha256:<base-32>`.
    pub nar_hash: String,
    pub nar_size: u64,
    /// Full store paths, sorted.
    pub references: Vec<String>,
    #[serde(default)]
    pub ca: Option<String>,
    /// As the narinfo said: `none`, `xz`, `zstd`, `bzip2` or `br`.
    pub compression: String,
    /// `sha256:<base-32>` of the file as uploaded.
    pub file_hash: String,
    pub file_size: u64,
    /// The NAR's file name in `pushed/nar/`.
    pub file: String,
    /// The name of the token that pushed it (`null` when pushing needed none).
    #[serde(default)]
    pub token: Option<String>,
    pub pushed_at: String,
}

impl PushedPath {
    /// The facts Nix signs, as a store path's.
    pub(crate) fn info(&self) -> Result<PathInfo> {
        Ok(PathInfo {
            path: self.path.clone(),
            deriver: self.deriver.clone(),
            nar_hash: parse_hash(&self.nar_hash)?,
            nar_size: self.nar_size,
            references: self.references.clone(),
            signatures: Vec::new(),
            content_address: self.ca.clone(),
            ultimate: false,
        })
    }
}

/// Paths pushed and their NAR bytes, as counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub count: u64,
    pub bytes: u64,
}

/// The pushed area of one state directory.
#[derive(Debug, Clone)]
pub(crate) struct PushedArea {
    dir: PathBuf,
    /// Totals by the modification time of `paths/` they were counted at.
    totals: Arc<Mutex<Option<(SystemTime, Totals)>>>,
    dirty: Arc<AtomicBool>,
    /// The hash parts pushed, once `open` has read them: only this process adds records, so
    /// a hash part missing here is not pushed, and is answered without touching the disk
    /// (most look-ups during a push are of paths not there yet).
    known: Arc<Mutex<Option<HashSet<String>>>>,
}

impl PushedArea {
    pub(crate) fn new(state_dir: &Path) -> PushedArea {
        PushedArea {
            dir: state_dir.join("pushed"),
            totals: Default::default(),
            dirty: Default::default(),
            known: Default::default(),
        }
    }

    fn paths_dir(&self) -> PathBuf {
        self.dir.join("paths")
    }

    pub(crate) fn nars_dir(&self) -> PathBuf {
        self.dir.join("nar")
    }

    fn record_file(&self, hash_part: &str) -> PathBuf {
        self.paths_dir().join(format!("{hash_part}.json"))
    }

    fn synced_mark(&self) -> PathBuf {
        self.dir.join("synced")
    }

    /// Makes the directories; checks what a crash may have torn; starts the syncer.
    pub(crate) fn open(&self) -> Result<()> {
        for dir in [self.paths_dir(), self.nars_dir()] {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
        }
        self.check_unsynced();
        let known = self.list()?.into_iter().map(|(hash, _, _)| hash).collect();
        *self.known.lock().expect("known lock") = Some(known);
        Ok(())
    }

    /// The record of the path with this hash part, if it was pushed.
    pub(crate) fn get(&self, hash_part: &str) -> Result<Option<PushedPath>> {
        if let Some(known) = self.known.lock().expect("known lock").as_ref()
            && !known.contains(hash_part)
        {
            return Ok(None);
        }
        let text = match std::fs::read(self.record_file(hash_part)) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).context("failed to read a pushed path's record"),
        };
        serde_json::from_slice(&text)
            .map(Some)
            .with_context(|| format!("bad record of the pushed path {hash_part}"))
    }

    /// Where a record's NAR is.
    pub(crate) fn nar_file(&self, record: &PushedPath) -> PathBuf {
        self.nars_dir().join(&record.file)
    }

    /// Keeps `record` with its NAR, moved here from `nar` (same filesystem). The NAR goes
    /// first, so a record never names a NAR that is not there.
    pub(crate) fn add(&self, hash_part: &str, record: &PushedPath, nar: &Path) -> Result<()> {
        let target = self.nar_file(record);
        std::fs::rename(nar, &target)
            .with_context(|| format!("failed to keep the NAR {}", target.display()))?;
        self.write_record(hash_part, record)
    }

    /// Writes `record` again (a new push of the same path: its time starts over).
    pub(crate) fn write_record(&self, hash_part: &str, record: &PushedPath) -> Result<()> {
        let file = self.record_file(hash_part);
        let temp = self
            .paths_dir()
            .join(format!(".{hash_part}.{}", std::process::id()));
        let json = serde_json::to_vec(record).expect("a record serialises");
        std::fs::write(&temp, json)
            .and_then(|()| std::fs::rename(&temp, &file))
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&temp);
            })
            .with_context(|| format!("failed to write {}", file.display()))?;
        if let Some(known) = self.known.lock().expect("known lock").as_mut() {
            known.insert(hash_part.to_string());
        }
        self.dirty.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Drops a pushed path: its record first (so it is no longer served), then its NAR.
    pub(crate) fn remove(&self, hash_part: &str) -> Result<Option<PushedPath>> {
        let Some(record) = self.get(hash_part)? else {
            return Ok(None);
        };
        let file = self.record_file(hash_part);
        if let Some(known) = self.known.lock().expect("known lock").as_mut() {
            known.remove(hash_part);
        }
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| format!("failed to remove {}", file.display()));
            }
        }
        let _ = std::fs::remove_file(self.nar_file(&record));
        Ok(Some(record))
    }

    /// Every pushed path with its hash part and last push, in no particular order.
    pub(crate) fn list(&self) -> Result<Vec<(String, SystemTime, PushedPath)>> {
        let entries = match std::fs::read_dir(self.paths_dir()) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).context("failed to read the pushed paths"),
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(hash_part) = name.strip_suffix(".json") else {
                continue;
            };
            if hash_part.starts_with('.') {
                continue;
            }
            let at = entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            if let Ok(Some(record)) = self.get(hash_part) {
                found.push((hash_part.to_string(), at, record));
            }
        }
        Ok(found)
    }

    /// How many paths are pushed and their NAR bytes; counted again only when `paths/`
    /// changed (a push, a drop, or a `gc` run by another process).
    pub(crate) fn totals(&self) -> Totals {
        let changed = std::fs::metadata(self.paths_dir())
            .and_then(|m| m.modified())
            .ok();
        let mut cached = self.totals.lock().expect("totals lock");
        if let (Some(changed), Some((at, totals))) = (changed, *cached)
            && changed == at
        {
            return totals;
        }
        let list = self.list().unwrap_or_default();
        let totals = Totals {
            count: list.len() as u64,
            bytes: list.iter().map(|(_, _, r)| r.nar_size).sum(),
        };
        if let Some(changed) = changed {
            *cached = Some((changed, totals));
        }
        totals
    }

    /// Drops the paths last pushed longer than `ttl` ago; returns their store paths.
    pub(crate) fn drop_older_than(&self, ttl: Duration) -> Result<Vec<String>> {
        let now = SystemTime::now();
        let mut dropped = Vec::new();
        for (hash_part, at, record) in self.list()? {
            if now.duration_since(at).unwrap_or_default() > ttl {
                self.remove(&hash_part)?;
                dropped.push(record.path);
            }
        }
        Ok(dropped)
    }

    /// Drops the GC roots older servers made for paths pushed into the store, by the same
    /// rule; returns their names.
    pub(crate) fn drop_old_roots(&self, ttl: Duration) -> Result<Vec<String>> {
        let roots = self.dir.join("roots");
        let entries = match std::fs::read_dir(&roots) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).context("failed to read the old pushed roots"),
        };
        let now = SystemTime::now();
        let mut dropped = Vec::new();
        for entry in entries.flatten() {
            let at = std::fs::symlink_metadata(entry.path())
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            if now.duration_since(at).unwrap_or_default() > ttl {
                std::fs::remove_file(entry.path()).with_context(|| {
                    format!("failed to remove the root {}", entry.path().display())
                })?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let _ = std::fs::remove_file(self.dir.join("sizes").join(&name));
                dropped.push(name);
            }
        }
        Ok(dropped)
    }

    /// Syncs the filesystem a little after pushes, for as long as the runtime runs.
    pub(crate) fn spawn_syncer(&self) {
        let area = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(SYNC_AFTER);
            loop {
                ticks.tick().await;
                if !area.dirty.swap(false, Ordering::Relaxed) {
                    continue;
                }
                let area = area.clone();
                let _ = tokio::task::spawn_blocking(move || area.sync()).await;
            }
        });
    }

    /// Syncs the filesystem of the pushed area, then moves the mark forward.
    pub(crate) fn sync(&self) {
        let Ok(dir) = std::fs::File::open(&self.dir) else {
            return;
        };
        let mark = self.synced_mark();
        // SAFETY: a valid open file descriptor.
        let synced = unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)) } == 0;
        if synced {
            let _ = std::fs::write(&mark, b"").and_then(|()| {
                std::fs::File::open(&mark)?.set_modified(SystemTime::now() - SYNC_AFTER)
            });
        }
    }

    /// Checks the records written after the last sync against their NAR files.
    fn check_unsynced(&self) {
        let since = std::fs::metadata(self.synced_mark())
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut checked = 0;
        for (hash_part, at, record) in self.list().unwrap_or_default() {
            if at < since {
                continue;
            }
            checked += 1;
            if file_matches(&self.nar_file(&record), &record) {
                continue;
            }
            tracing::warn!(
                "dropping the pushed path {}: its NAR file was not whole after a crash",
                record.path
            );
            let _ = self.remove(&hash_part);
        }
        if checked > 0 {
            self.sync();
        }
    }
}

/// Whether the file has the record's size and hash.
fn file_matches(file: &Path, record: &PushedPath) -> bool {
    let Ok(mut input) = std::fs::File::open(file) else {
        return false;
    };
    let mut hash = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                hash.update(&buffer[..n]);
                size += n as u64;
            }
            Err(_) => return false,
        }
    }
    size == record.file_size
        && format!("sha256:{}", base32::encode(&hash.finalize())) == record.file_hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, bytes: &[u8]) -> PushedPath {
        PushedPath {
            path: format!("/nix/store/{}-x", "a".repeat(32)),
            deriver: None,
            nar_hash: format!("sha256:{}", "0".repeat(52)),
            nar_size: 100,
            references: Vec::new(),
            ca: None,
            compression: "none".into(),
            file_hash: format!("sha256:{}", base32::encode(&Sha256::digest(bytes))),
            file_size: bytes.len() as u64,
            file: name.into(),
            token: Some("laptop".into()),
            pushed_at: common::timestamp::now(),
        }
    }

    #[test]
    fn records_come_back_and_old_ones_go() {
        let state = tempfile::tempdir().unwrap();
        let area = PushedArea::new(state.path());
        area.open().unwrap();
        for (hash, name) in [("aaa", "a.nar"), ("bbb", "b.nar")] {
            let nar = state.path().join(name);
            std::fs::write(&nar, b"nar bytes").unwrap();
            area.add(hash, &record(name, b"nar bytes"), &nar).unwrap();
        }
        assert_eq!(area.get("aaa").unwrap().unwrap().file, "a.nar");
        assert_eq!(area.get("zzz").unwrap(), None);
        assert_eq!(
            area.totals(),
            Totals {
                count: 2,
                bytes: 200
            }
        );
        let old = area.record_file("aaa");
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(40 * 86400))
            .unwrap();
        let dropped = area
            .drop_older_than(Duration::from_secs(30 * 86400))
            .unwrap();
        assert_eq!(dropped.len(), 1);
        assert!(!area.nars_dir().join("a.nar").exists());
        assert!(area.nars_dir().join("b.nar").exists());
        assert_eq!(area.totals().count, 1);
    }

    #[test]
    fn a_torn_nar_written_after_the_last_sync_is_dropped_at_start() {
        let state = tempfile::tempdir().unwrap();
        let area = PushedArea::new(state.path());
        area.open().unwrap();
        let nar = state.path().join("n");
        std::fs::write(&nar, b"whole").unwrap();
        area.add("aaa", &record("a.nar", b"whole"), &nar).unwrap();
        std::fs::write(&nar, b"whole").unwrap();
        area.add("bbb", &record("b.nar", b"whole"), &nar).unwrap();
        std::fs::write(area.nars_dir().join("b.nar"), b"who").unwrap();
        PushedArea::new(state.path()).open().unwrap();
        assert!(area.get("aaa").unwrap().is_some());
        assert!(area.get("bbb").unwrap().is_none());
        assert!(!area.nars_dir().join("b.nar").exists());
    }
}
