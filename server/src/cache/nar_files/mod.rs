//! NARs the cache has served, kept as files in `<state>/nar-cache/` so each is made once: named
//! by what the NAR URL names (hash part, NAR hash, `.zst` when compressed), so a rebuilt path
//! never matches an old file. A file appears only whole (written under a temporary name while
//! the first request streams, renamed when complete and of the announced size); the total is
//! bounded and the least recently used go first; the index is rebuilt from the directory at
//! start. Small files are also kept in memory. Knows nothing of HTTP or of the store: whether
//! a path is still valid is the caller's question, asked before every hit. Filling a file as
//! the first request streams is `fill`'s; sending a kept file is `send`'s.

mod fill;
mod send;

pub(crate) use fill::{Tee, Writer};
pub(crate) use send::MappedChunks;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// The directory under the state dir.
pub(crate) const DIR_NAME: &str = "nar-cache";
/// Files up to this size are kept in memory once read: a request for one is then a lookup.
const RESIDENT_FILE: u64 = 256 * 1024;
/// Memory all resident files may take together.
const RESIDENT_TOTAL: u64 = 64 * 1024 * 1024;
/// A mapped file is sent in windows of this size (no copy: each is a view of the map).
pub(super) const SEND_WINDOW: usize = 4 * 1024 * 1024;
/// Nothing is written when the disk would keep less than this share (in percent) free...
const KEEP_FREE_PERCENT: u64 = 5;
/// ...or less than this many bytes.
const KEEP_FREE_BYTES: u64 = 512 * 1024 * 1024;
/// Temporary files carry this in their name; the start-up scan removes them.
const TEMP_MARK: &str = ".tmp-";

/// The file name of a NAR: `<hash part>-<NAR hash>.nar[.zst]`.
pub(crate) fn key(hash_part: &str, nar_hash: &str, zstd: bool) -> String {
    let suffix = if zstd { ".nar.zst" } else { ".nar" };
    format!("{hash_part}-{nar_hash}{suffix}")
}

/// The cache; cheap to share (`Arc` inside).
#[derive(Clone)]
pub(crate) struct NarFiles {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    /// Bytes on disk at most; 0 turns the cache off.
    limit: u64,
    index: Mutex<Index>,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Default)]
struct Index {
    entries: HashMap<String, Entry>,
    /// Least recently used first.
    order: BTreeMap<u64, String>,
    tick: u64,
    total: u64,
    resident: u64,
    writing: HashSet<String>,
}

struct Entry {
    size: u64,
    tick: u64,
    bytes: Option<Bytes>,
}

/// A cached NAR, ready to send.
pub(crate) enum Cached {
    Memory(Bytes),
    Mapped(Arc<memmap2::Mmap>),
}

impl Cached {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Cached::Memory(bytes) => bytes.len() as u64,
            Cached::Mapped(map) => map.len() as u64,
        }
    }
}

/// What the status JSON shows.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NarFilesStats {
    pub bytes: u64,
    pub limit: u64,
    pub files: u64,
    pub hits: u64,
    pub misses: u64,
}

impl NarFiles {
    /// The cache in `dir` (created when missing), holding at most `limit` bytes; its index is
    /// what the directory holds. A directory that cannot be made turns the cache off.
    pub(crate) fn open(dir: PathBuf, limit: u64) -> NarFiles {
        let mut index = Index::default();
        let limit = match scan(&dir, &mut index) {
            Ok(()) => limit,
            Err(e) => {
                tracing::warn!("NAR cache off: {e:#}");
                0
            }
        };
        let files = NarFiles {
            inner: Arc::new(Inner {
                dir,
                limit,
                index: Mutex::new(index),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            }),
        };
        files.inner.evict(0);
        files
    }

    /// The NAR named `key`, if it is kept; a hit when it is.
    pub(crate) fn get(&self, key: &str) -> Option<Cached> {
        let size = {
            let mut index = self.inner.lock();
            let tick = index.next_tick();
            let entry = index.entries.get_mut(key)?;
            let old = std::mem::replace(&mut entry.tick, tick);
            let found = (entry.size, entry.bytes.clone());
            index.order.remove(&old);
            index.order.insert(tick, key.to_string());
            found
        };
        let cached = match size {
            (_, Some(bytes)) => Cached::Memory(bytes),
            (size, None) => match self.read(key, size) {
                Ok(cached) => cached,
                Err(e) => {
                    // Emptied by `gc --nar-cache`, or damaged: forget it, make it again.
                    tracing::debug!("NAR cache file {key} unreadable: {e}");
                    self.inner.lock().remove(key);
                    return None;
                }
            },
        };
        self.inner.hits.fetch_add(1, Ordering::Relaxed);
        Some(cached)
    }

    fn read(&self, key: &str, size: u64) -> io::Result<Cached> {
        let path = self.inner.dir.join(key);
        if size <= RESIDENT_FILE {
            let bytes = Bytes::from(fs::read(&path)?);
            check_len(bytes.len() as u64, size)?;
            let mut index = self.inner.lock();
            if index.resident + size <= RESIDENT_TOTAL
                && let Some(entry) = index.entries.get_mut(key)
                && entry.bytes.is_none()
            {
                entry.bytes = Some(bytes.clone());
                index.resident += size;
            }
            return Ok(Cached::Memory(bytes));
        }
        let file = File::open(&path)?;
        check_len(file.metadata()?.len(), size)?;
        // SAFETY: cache files are written whole under another name and never changed after
        // the rename; removing one (eviction, gc) keeps the pages of a map alive.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Cached::Mapped(Arc::new(map)))
    }

    /// Counts a request that had to make its NAR.
    pub(crate) fn record_miss(&self) {
        self.inner.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// A writer for `key`, unless the cache is off, someone else is writing it, it would
    /// not fit (`expected_size`: the NAR's size, an estimate of a compressed one), or the disk
    /// is nearly full. `exact`: the size the file must end with to be kept.
    pub(crate) fn begin(
        &self,
        key: &str,
        expected_size: u64,
        exact: Option<u64>,
    ) -> Option<Writer> {
        let inner = &self.inner;
        if inner.limit == 0 || expected_size > inner.limit {
            return None;
        }
        if !disk_has_room(&inner.dir, expected_size) {
            tracing::debug!("NAR cache: the disk is nearly full, not keeping {key}");
            return None;
        }
        {
            let mut index = inner.lock();
            if index.entries.contains_key(key) || !index.writing.insert(key.to_string()) {
                return None;
            }
        }
        let temp = inner
            .dir
            .join(format!(".{key}{TEMP_MARK}{}", std::process::id()));
        Writer::start(inner.clone(), key.to_string(), temp, exact)
    }

    /// Drops every file of the path with this hash part but those of the NAR hash `keep` (a
    /// path deleted from the store, or rebuilt with other contents).
    pub(crate) fn forget_path(&self, hash_part: &str, keep: Option<&str>) {
        let ours = format!("{hash_part}-");
        let kept = keep.map(|hash| format!("{hash_part}-{hash}."));
        let doomed: Vec<String> = {
            let mut index = self.inner.lock();
            let doomed: Vec<String> = index
                .entries
                .keys()
                .filter(|k| k.starts_with(&ours))
                .filter(|k| kept.as_ref().is_none_or(|kept| !k.starts_with(kept)))
                .cloned()
                .collect();
            for key in &doomed {
                index.remove(key);
            }
            doomed
        };
        for key in doomed {
            let _ = fs::remove_file(self.inner.dir.join(&key));
        }
    }

    pub(crate) fn stats(&self) -> NarFilesStats {
        let index = self.inner.lock();
        NarFilesStats {
            bytes: index.total,
            limit: self.inner.limit,
            files: index.entries.len() as u64,
            hits: self.inner.hits.load(Ordering::Relaxed),
            misses: self.inner.misses.load(Ordering::Relaxed),
        }
    }
}

/// Removes every file of the cache in `dir` (`gc --nar-cache`); a running server forgets
/// each as it finds it gone. Returns the files and bytes removed.
pub(crate) fn empty(dir: &Path) -> io::Result<(u64, u64)> {
    let (mut files, mut bytes) = (0, 0);
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        fs::remove_file(entry.path())?;
        files += 1;
        bytes += size;
    }
    Ok((files, bytes))
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes the least recently used files until `extra` more bytes fit.
    fn evict(&self, extra: u64) {
        let doomed: Vec<String> = {
            let mut index = self.lock();
            let mut doomed = Vec::new();
            while index.total + extra > self.limit {
                let Some((_, key)) = index.order.pop_first() else {
                    break;
                };
                index.remove(&key);
                doomed.push(key);
            }
            doomed
        };
        for key in doomed {
            tracing::debug!("NAR cache: evicting {key}");
            let _ = fs::remove_file(self.dir.join(&key));
        }
    }
}

impl Index {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn insert(&mut self, key: String, size: u64) {
        let tick = self.next_tick();
        self.remove(&key);
        self.order.insert(tick, key.clone());
        self.total += size;
        self.entries.insert(
            key,
            Entry {
                size,
                tick,
                bytes: None,
            },
        );
    }

    fn remove(&mut self, key: &str) {
        if let Some(entry) = self.entries.remove(key) {
            self.order.remove(&entry.tick);
            self.total -= entry.size;
            if entry.bytes.is_some() {
                self.resident -= entry.size;
            }
        }
    }
}

/// Fills `index` from `dir`, oldest first; removes temporary files a crash left behind.
fn scan(dir: &Path, index: &mut Index) -> anyhow::Result<()> {
    use anyhow::Context;
    fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("failed to read {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(TEMP_MARK) {
            let _ = fs::remove_file(entry.path());
            continue;
        }
        if !(name.ends_with(".nar") || name.ends_with(".nar.zst")) {
            continue;
        }
        let meta = entry.metadata()?;
        if meta.is_file() {
            let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            found.push((modified, name, meta.len()));
        }
    }
    found.sort();
    for (_, name, size) in found {
        index.insert(name, size);
    }
    Ok(())
}

/// Whether writing `size` more bytes leaves the disk of `dir` with its reserve free.
fn disk_has_room(dir: &Path, size: u64) -> bool {
    match free_space(dir) {
        Some((available, total)) => {
            let reserve = (total / 100 * KEEP_FREE_PERCENT).max(KEEP_FREE_BYTES);
            available >= size.saturating_add(reserve)
        }
        None => false,
    }
}

/// Bytes available to us and the filesystem's size.
pub(crate) fn free_space(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain old data (integers only), for which all zero bytes is valid.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a zeroed struct of the right type.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    let block = stat.f_frsize as u64;
    Some((
        (stat.f_bavail as u64).saturating_mul(block),
        (stat.f_blocks as u64).saturating_mul(block),
    ))
}

fn check_len(found: u64, expected: u64) -> io::Result<()> {
    if found == expected {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("has {found} bytes, the index says {expected}"),
        ))
    }
}
