//! Uploads into the cache with Nix's own protocol (`nix copy --to http://box:8780`): each NAR
//! is checked while it arrives (`put_nar`: hashed as sent and decompressed, its structure and
//! entry names checked, `check_stream` on a blocking thread) and kept with the facts found; its
//! narinfo then only has to agree with those facts (`put_narinfo`), and the path joins the
//! pushed area beside the store (`cache::pushed_area`), never the box's store. Build logs go
//! by `put_log`. Who may upload is the server's to decide before these are called; they know
//! nothing of tokens but the name they are given.
//!
//! Bounds: at most `MAX_CONCURRENT` NARs are received at once (the rest wait), each within
//! `cache.max_upload_size` as sent and `cache.max_nar_size` decompressed, with decoders of
//! bounded memory, the disk space of every upload in flight reserved in one account
//! (`budget`), and a body cut when it takes longer than `server.request_timeout` for each
//! started 64 MiB.
//!
//! Layout under `<state>/uploads/`: `incoming/` (bodies while they arrive), `nar/` (NARs
//! received, by their URL's file name, waiting for a narinfo), `logs/` (pushed build logs,
//! laid out as Nix lays out its own). What is left in `incoming/` and `nar/` at start is
//! removed: an upload never outlives the server that took it.

mod budget;
mod check_stream;
mod decompress;
pub(crate) mod put_log;
pub(crate) mod put_nar;
pub(crate) mod put_narinfo;
mod receive;
mod temp;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use tokio::sync::Semaphore;

/// An upload's files left this long without its narinfo are abandoned, and removed.
pub(crate) const ABANDONED_AFTER: Duration = Duration::from_secs(3600);
/// NARs received at once; more wait for a turn. Each holds a decoder (at most
/// `decompress::ZSTD_WINDOW_LOG_MAX`/`XZ_MEMLIMIT`) and a write buffer.
pub(crate) const MAX_CONCURRENT: usize = 4;

/// What a received NAR was found to be, kept until its narinfo arrives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Received {
    pub compression: &'static str,
    pub file_hash: [u8; 32],
    pub file_size: u64,
    pub nar_hash: [u8; 32],
    pub nar_size: u64,
}

/// Paths and bytes pushed since the server started (for `/metrics`).
#[derive(Debug, Default)]
pub(crate) struct PushCounters {
    pub paths: AtomicU64,
    pub bytes: AtomicU64,
}

/// The uploads area of a state directory, its limits and what is in flight.
#[derive(Debug, Clone)]
pub(crate) struct Uploads {
    dir: PathBuf,
    /// Bytes one upload may send at most.
    max_size: u64,
    /// Bytes one NAR may have at most once decompressed.
    max_nar_size: u64,
    /// A body that sends nothing for this long is dropped; a NAR body gets this long for each
    /// started 64 MiB of it.
    idle_timeout: Duration,
    /// Bytes a pushed log may have once decoded (`cache.max_log_size`).
    pub max_log_size: u64,
    /// Pushed logs go this long after their last push, as pushed paths do.
    pub pushed_ttl: Duration,
    budget: budget::DiskBudget,
    turns: Arc<Semaphore>,
    /// NARs received and waiting for their narinfo, by file name.
    received: Arc<Mutex<HashMap<String, Received>>>,
    /// Narinfos being taken, by hash part: a second push of a path waits for the first.
    taking: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// What was pushed since the server started.
    pub counters: Arc<PushCounters>,
}

impl Uploads {
    /// Opens (making them) the uploads directories under `state_dir`, removing every upload
    /// an earlier run left (bodies, NARs, and the import trees of older versions).
    pub(crate) fn open(
        state_dir: &Path,
        max_size: u64,
        max_nar_size: u64,
        idle_timeout: Duration,
    ) -> Result<Uploads> {
        let dir = state_dir.join("uploads");
        let uploads = Uploads {
            budget: budget::DiskBudget::new(dir.clone()),
            dir,
            max_size,
            max_nar_size,
            idle_timeout,
            max_log_size: put_log::DEFAULT_MAX_LOG_SIZE,
            pushed_ttl: Duration::from_secs(30 * 86400),
            turns: Arc::new(Semaphore::new(MAX_CONCURRENT)),
            received: Default::default(),
            taking: Default::default(),
            counters: Default::default(),
        };
        let _ = std::fs::remove_dir_all(uploads.dir.join("import"));
        for dir in [
            uploads.incoming_dir(),
            uploads.nars_dir(),
            uploads.logs_dir(),
        ] {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
        }
        uploads.clean_abandoned(Duration::ZERO);
        Ok(uploads)
    }

    fn incoming_dir(&self) -> PathBuf {
        self.dir.join("incoming")
    }

    fn nars_dir(&self) -> PathBuf {
        self.dir.join("nar")
    }

    /// Pushed build logs, as `drvs/ab/cdef….drv` like Nix's log directory.
    pub(crate) fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// Removes bodies and NARs untouched for `age`; returns how many went.
    pub(crate) fn clean_abandoned(&self, age: Duration) -> usize {
        let now = SystemTime::now();
        let mut removed = 0;
        for dir in [self.incoming_dir(), self.nars_dir()] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else { continue };
                let modified = meta.modified().unwrap_or(now);
                if !age.is_zero() && now.duration_since(modified).unwrap_or_default() < age {
                    continue;
                }
                let path = entry.path();
                let gone = if meta.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                match gone {
                    Ok(()) => removed += 1,
                    Err(e) => tracing::warn!("failed to remove {}: {e}", path.display()),
                }
            }
        }
        let nars = self.nars_dir();
        self.received
            .lock()
            .expect("received lock")
            .retain(|name, _| nars.join(name).exists());
        if removed > 0 {
            tracing::info!("removed {removed} abandoned upload file(s)");
        }
        removed
    }

    /// Cleans abandoned uploads every ten minutes, for as long as the runtime runs.
    pub(crate) fn spawn_cleaner(&self) {
        let uploads = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(600));
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let uploads = uploads.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    uploads.clean_abandoned(ABANDONED_AFTER);
                    let cap = put_log::total_cap(uploads.max_log_size);
                    put_log::prune(&uploads.logs_dir(), cap, uploads.pushed_ttl);
                })
                .await;
            }
        });
    }
}

/// A NAR's file name as uploads name it: `<file hash>.nar` with the compression's extension,
/// e.g. `1b8m…7d.nar.xz`. Nothing else is taken (so no name reaches outside the directory).
pub(crate) fn is_upload_name(name: &str) -> bool {
    compression_of(name).is_some()
}

/// The compression an upload name's extension says, and the name's hash.
fn compression_of(name: &str) -> Option<(&'static str, &str)> {
    let (stem, rest) = name.split_once(".nar")?;
    let compression = match rest {
        "" => "none",
        ".xz" => "xz",
        ".zst" => "zstd",
        ".bz2" => "bzip2",
        ".br" => "br",
        _ => return None,
    };
    ((32..=64).contains(&stem.len()) && stem.bytes().all(nix_core::base32::is_digit))
        .then_some((compression, stem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_names() {
        let hash = "1b8m0z4q9h5bygpv0ds1wxdrf9qvz6d2jv6p0bv9c2vz3bc8zcn7";
        for (ext, compression) in [
            ("", "none"),
            (".xz", "xz"),
            (".zst", "zstd"),
            (".bz2", "bzip2"),
            (".br", "br"),
        ] {
            assert_eq!(
                compression_of(&format!("{hash}.nar{ext}")),
                Some((compression, hash))
            );
        }
        for name in [
            format!("{hash}.nar.gz"),
            format!("{hash}.narx"),
            format!("../{hash}.nar"),
            "short.nar".to_string(),
            format!("{hash}-x.nar"),
        ] {
            assert!(!is_upload_name(&name), "{name}");
        }
    }

    #[test]
    fn what_earlier_runs_left_goes_at_start_and_abandoned_files_later() {
        let state = tempfile::tempdir().unwrap();
        let uploads =
            Uploads::open(state.path(), 1 << 20, 1 << 30, Duration::from_secs(5)).unwrap();
        std::fs::write(uploads.nars_dir().join("left.nar"), b"x").unwrap();
        std::fs::write(uploads.incoming_dir().join("left.part"), b"x").unwrap();
        std::fs::create_dir_all(state.path().join("uploads/import/old/nar")).unwrap();
        let uploads =
            Uploads::open(state.path(), 1 << 20, 1 << 30, Duration::from_secs(5)).unwrap();
        assert_eq!(std::fs::read_dir(uploads.nars_dir()).unwrap().count(), 0);
        assert_eq!(
            std::fs::read_dir(uploads.incoming_dir()).unwrap().count(),
            0
        );
        assert!(!state.path().join("uploads/import").exists());

        let old = uploads.nars_dir().join("old.nar");
        let fresh = uploads.incoming_dir().join("fresh.part");
        std::fs::write(&old, b"x").unwrap();
        std::fs::write(&fresh, b"x").unwrap();
        let hour_ago = SystemTime::now() - Duration::from_secs(7200);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        assert_eq!(uploads.clean_abandoned(ABANDONED_AFTER), 1);
        assert!(!old.exists() && fresh.exists());
    }
}
