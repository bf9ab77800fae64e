//! Uploads into the cache with Nix's own protocol (`nix copy --to http://box:8780`): NARs
//! streamed to files in the state dir (`put_nar`), each made a store path once its narinfo
//! arrives and checks out (`put_narinfo`: parse, verify, then `import` through Nix), build logs
//! (`put_log`), and the GC roots that keep pushed paths alive (`pushed`). Who may upload is the
//! server's to decide before these are called; they know nothing of tokens.
//!
//! Layout under `<state>/uploads/`: `incoming/` (bodies while they arrive), `nar/` (NARs
//! received, by their URL's file name, waiting for a narinfo), `import/` (one directory per
//! path being added), `logs/` (pushed build logs, laid out as Nix lays out its own).

mod decompress;
mod import;
pub mod pushed;
pub mod put_log;
pub mod put_nar;
pub mod put_narinfo;
mod receive;
mod temp;
mod verify;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use crate::nix::store::daemon::WriteSession;

/// The nix-daemon connection the pushes of one HTTP connection add their paths through, made
/// at its first push and closed with it: Nix uploads a closure path after path over one
/// connection, and each new daemon connection costs a daemon process. The daemon keeps what
/// a connection added alive until it closes, so nothing outlives the client's own session.
pub type ConnectionWrites = std::sync::Arc<tokio::sync::Mutex<Option<WriteSession>>>;

/// An upload's files left this long without its narinfo are abandoned, and removed.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(3600);

/// The uploads area of a state directory and its limits.
#[derive(Debug, Clone)]
pub struct Uploads {
    dir: PathBuf,
    /// Bytes one upload may have at most.
    max_size: u64,
    /// A body that sends nothing for this long is dropped.
    idle_timeout: Duration,
    /// Bytes a pushed log may have once decoded (`cache.max_log_size`).
    pub max_log_size: u64,
    /// Pushed logs go this long after their last push, as pushed paths do.
    pub pushed_ttl: Duration,
    /// The GC roots of pushed paths.
    pub pushed: pushed::PushedRoots,
    /// What was pushed since the server started.
    pub counters: pushed::SharedCounters,
}

impl Uploads {
    /// Opens (making them) the uploads directories under `state_dir`, removing what earlier
    /// runs abandoned.
    pub fn open(state_dir: &Path, max_size: u64, idle_timeout: Duration) -> Result<Uploads> {
        let uploads = Uploads {
            dir: state_dir.join("uploads"),
            max_size,
            idle_timeout,
            max_log_size: put_log::DEFAULT_MAX_LOG_SIZE,
            pushed_ttl: Duration::from_secs(30 * 86400),
            pushed: pushed::PushedRoots::new(state_dir),
            counters: Default::default(),
        };
        for dir in [
            uploads.incoming_dir(),
            uploads.nars_dir(),
            uploads.imports_dir(),
            uploads.logs_dir(),
        ] {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
        }
        uploads.clean_abandoned(ABANDONED_AFTER);
        Ok(uploads)
    }

    fn incoming_dir(&self) -> PathBuf {
        self.dir.join("incoming")
    }

    fn nars_dir(&self) -> PathBuf {
        self.dir.join("nar")
    }

    fn imports_dir(&self) -> PathBuf {
        self.dir.join("import")
    }

    /// Pushed build logs, as `drvs/ab/cdef….drv` like Nix's log directory.
    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// Removes bodies, NARs and imports untouched for `age`; returns how many went.
    pub fn clean_abandoned(&self, age: Duration) -> usize {
        let now = SystemTime::now();
        let mut removed = 0;
        for dir in [self.incoming_dir(), self.nars_dir(), self.imports_dir()] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else { continue };
                let modified = meta.modified().unwrap_or(now);
                if now.duration_since(modified).unwrap_or_default() < age {
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
        if removed > 0 {
            tracing::info!("removed {removed} abandoned upload file(s)");
        }
        removed
    }

    /// Cleans abandoned uploads every ten minutes, for as long as the runtime runs.
    pub fn spawn_cleaner(&self) {
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
pub fn is_upload_name(name: &str) -> bool {
    let Some((stem, rest)) = name.split_once(".nar") else {
        return false;
    };
    matches!(rest, "" | ".xz" | ".zst" | ".bz2" | ".br")
        && (32..=64).contains(&stem.len())
        && stem.bytes().all(crate::nix::base32::is_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_names() {
        let hash = "1b8m0z4q9h5bygpv0ds1wxdrf9qvz6d2jv6p0bv9c2vz3bc8zcn7";
        for ext in ["", ".xz", ".zst", ".bz2", ".br"] {
            assert!(is_upload_name(&format!("{hash}.nar{ext}")), "{ext}");
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
    fn abandoned_files_go_and_fresh_ones_stay() {
        let state = tempfile::tempdir().unwrap();
        let uploads = Uploads::open(state.path(), 1 << 20, Duration::from_secs(5)).unwrap();
        let old = uploads.nars_dir().join("old.nar");
        let fresh = uploads.incoming_dir().join("fresh.part");
        std::fs::write(&old, b"x").unwrap();
        std::fs::write(&fresh, b"x").unwrap();
        std::fs::create_dir(uploads.imports_dir().join("old-import")).unwrap();
        let hour_ago = SystemTime::now() - Duration::from_secs(7200);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        std::fs::File::open(uploads.imports_dir().join("old-import"))
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        assert_eq!(uploads.clean_abandoned(ABANDONED_AFTER), 2);
        assert!(!old.exists() && fresh.exists());
    }
}
