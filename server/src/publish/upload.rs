//! Putting paths into the bucket: `max_concurrent` threads take work from one queue. A path's
//! NAR goes first (compressed to a temporary file, then put); its narinfo only once its NAR
//! is in and every path it refers to has its narinfo in, so a narinfo in the bucket always
//! has its NAR and its whole closure: a kill -9 at any moment leaves a cache Nix reads. Each
//! narinfo put is then written to the record. Ready narinfos go before new NARs, so a closure
//! becomes readable as early as it can. A path that fails holds back only the paths that
//! refer to it. A pushed path the store lacks goes up as it was pushed: its NAR file as
//! uploaded (`nar/pushed/…`), its narinfo the one the box serves, signed by the push key
//! only. Blocking: runs on threads of its own.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};

use anyhow::{Context, Result};

use super::Progress;
use super::bucket::Bucket;
use super::record::{Published, Record};
use crate::cache::pushed_area::{PushedArea, PushedPath};
use crate::cache::pushed_serve;
use common::config::PublishCompression;
use nix_core::narinfo;
use nix_core::path_info::PathInfo;
use nix_core::signing::{self, SecretKey};
use nix_core::store_path::{HASH_PART_LEN, StoreDir};

/// What the uploads need besides the paths.
pub(super) struct Uploader<'a> {
    pub bucket: &'a Bucket,
    pub record: &'a Record,
    pub store_dir: &'a StoreDir,
    pub keys: &'a [SecretKey],
    /// Paths published from the pushed area, by hash part, and what signs them.
    pub pushed: &'a BTreeMap<String, PushedPath>,
    pub pushed_area: &'a PushedArea,
    pub push_key: &'a SecretKey,
    /// How long a NAR a path no longer names stays (`publish.nar_grace`).
    pub nar_grace: std::time::Duration,
    pub compression: PublishCompression,
    /// Where compressed NARs wait for their upload.
    pub temp_dir: PathBuf,
    pub threads: usize,
    pub stop: &'a AtomicBool,
    pub progress: &'a Progress,
}

/// One path to put.
struct Item {
    info: PathInfo,
    hash: String,
    /// Items that refer to this one.
    referrers: Vec<usize>,
    /// References (other than itself) whose narinfo is not in yet.
    waiting_on: usize,
    /// Set once its NAR is in.
    file: Option<(String, NarFileFacts)>,
    failed: bool,
}

enum Work {
    Nar(usize),
    Narinfo(usize),
}

struct Queue {
    items: Vec<Item>,
    nars: VecDeque<usize>,
    narinfos: VecDeque<usize>,
    busy: usize,
    errors: Vec<String>,
}

impl Uploader<'_> {
    /// Puts every path of `infos` (each a path not yet in the bucket, whose references are
    /// either in the bucket or among `infos`); returns what failed, one line a path.
    pub(super) fn run(&self, infos: Vec<PathInfo>) -> Vec<String> {
        let by_path: BTreeMap<String, usize> = infos
            .iter()
            .enumerate()
            .map(|(i, info)| (info.path.clone(), i))
            .collect();
        let mut items: Vec<Item> = infos
            .into_iter()
            .map(|info| Item {
                hash: self
                    .store_dir
                    .basename_of(&info.path)
                    .map(|b| b[..HASH_PART_LEN].to_string())
                    .unwrap_or_default(),
                info,
                referrers: Vec::new(),
                waiting_on: 0,
                file: None,
                failed: false,
            })
            .collect();
        for i in 0..items.len() {
            let references = items[i].info.references.clone();
            for reference in references {
                if reference == items[i].info.path {
                    continue;
                }
                if let Some(&j) = by_path.get(&reference) {
                    items[j].referrers.push(i);
                    items[i].waiting_on += 1;
                }
            }
        }
        // Larger NARs first: the long uploads start while the small ones fill the gaps.
        let mut nars: Vec<usize> = (0..items.len()).collect();
        nars.sort_by_key(|&i| std::cmp::Reverse(items[i].info.nar_size));
        let queue = Mutex::new(Queue {
            items,
            nars: nars.into(),
            narinfos: VecDeque::new(),
            busy: 0,
            errors: Vec::new(),
        });
        let wake = Condvar::new();
        std::thread::scope(|scope| {
            for _ in 0..self.threads.max(1) {
                scope.spawn(|| self.work(&queue, &wake));
            }
        });
        queue.into_inner().expect("upload queue lock").errors
    }

    fn work(&self, queue: &Mutex<Queue>, wake: &Condvar) {
        while let Some((work, info, hash, file)) = next(queue, wake, self.stop) {
            match work {
                Work::Nar(i) => {
                    let done = match self.pushed.get(&hash) {
                        Some(record) => self.put_pushed_nar(record),
                        None => self.put_nar(&info),
                    };
                    let mut q = queue.lock().expect("upload queue lock");
                    q.busy -= 1;
                    match done {
                        Ok(file) => {
                            q.items[i].file = Some(file);
                            if q.items[i].waiting_on == 0 && !q.items[i].failed {
                                q.narinfos.push_back(i);
                            }
                        }
                        Err(e) => fail(&mut q, i, e),
                    }
                }
                Work::Narinfo(i) => {
                    let file = file.expect("a narinfo is put after its NAR");
                    let done = self.put_narinfo(&info, &hash, &file);
                    let mut q = queue.lock().expect("upload queue lock");
                    q.busy -= 1;
                    match done {
                        Ok(()) => {
                            self.progress.done(info.nar_size);
                            for j in q.items[i].referrers.clone() {
                                let item = &mut q.items[j];
                                item.waiting_on -= 1;
                                if item.waiting_on == 0 && item.file.is_some() && !item.failed {
                                    q.narinfos.push_back(j);
                                }
                            }
                        }
                        Err(e) => fail(&mut q, i, e),
                    }
                }
            }
            wake.notify_all();
        }
    }

    /// Compresses and puts the NAR; its key and file facts.
    fn put_nar(&self, info: &PathInfo) -> Result<(String, NarFileFacts)> {
        let base = self
            .store_dir
            .basename_of(&info.path)
            .with_context(|| format!("{} is not in the store", info.path))?;
        let key = format!(
            "nar/{}-{}{}",
            &base[..HASH_PART_LEN],
            nix_core::base32::encode(&info.nar_hash),
            self.compression.extension()
        );
        let temp = self
            .temp_dir
            .join(format!("{}.{}", &base[..HASH_PART_LEN], std::process::id()));
        let file = super::stream::put_nar(
            self.bucket,
            &key,
            info,
            &self.store_dir.join(base),
            self.compression,
            temp,
        )?;
        Ok((
            key,
            NarFileFacts {
                hash: file.file_hash,
                size: file.file_size,
            },
        ))
    }

    /// Puts a pushed path's NAR file as it was uploaded; its key and file facts.
    fn put_pushed_nar(&self, record: &PushedPath) -> Result<(String, NarFileFacts)> {
        let key = pushed_serve::nar_url(record);
        let file = self.pushed_area.nar_file(record);
        super::stream::put_whole_file(self.bucket, &key, &file, record.file_size)
            .with_context(|| format!("failed to put the pushed NAR {}", file.display()))?;
        Ok((
            key,
            NarFileFacts {
                hash: nix_core::narinfo_parse::parse_hash(&record.file_hash)?,
                size: record.file_size,
            },
        ))
    }

    fn put_narinfo(
        &self,
        info: &PathInfo,
        hash: &str,
        file: &(String, NarFileFacts),
    ) -> Result<()> {
        let text = match self.pushed.get(hash) {
            Some(record) => pushed_serve::signed(self.store_dir, record, self.push_key)?,
            None => render(
                self.store_dir,
                info,
                &file.0,
                self.compression,
                &file.1,
                self.keys,
            ),
        };
        self.bucket.put_bytes(
            &format!("{hash}.narinfo"),
            "text/x-nix-narinfo",
            text.as_bytes(),
        )?;
        let refs = info
            .references
            .iter()
            .filter(|r| **r != info.path)
            .filter_map(|r| self.store_dir.basename_of(r))
            .map(|b| b[..HASH_PART_LEN].to_string())
            .collect();
        self.record
            .put(
                &Published {
                    hash: hash.to_string(),
                    path: info.path.clone(),
                    nar_key: file.0.clone(),
                    nar_size: info.nar_size,
                    file_size: file.1.size,
                    refs,
                    published_at: crate::publish::unix_now(),
                    nar_delete_after: None,
                },
                crate::publish::unix_now() + self.nar_grace.as_secs(),
            )
            .context("failed to write the publish record")
    }
}

/// The compressed NAR file a published narinfo points at (`FileHash`, `FileSize`).
#[derive(Debug, Clone, Copy)]
pub(super) struct NarFileFacts {
    pub hash: [u8; 32],
    pub size: u64,
}

/// The narinfo, signed by every key of the box (and with the signatures the store holds).
pub(super) fn render(
    store_dir: &StoreDir,
    info: &PathInfo,
    nar_key: &str,
    compression: PublishCompression,
    file: &NarFileFacts,
    keys: &[SecretKey],
) -> String {
    let fingerprint = signing::fingerprint(info);
    let mut signatures = info.signatures.clone();
    for key in keys {
        let signature = key.sign(&fingerprint);
        if !signatures.contains(&signature) {
            signatures.push(signature);
        }
    }
    let file_hash = format!("sha256:{}", nix_core::base32::encode(&file.hash));
    narinfo::render_file(
        store_dir,
        info,
        nar_key,
        compression.as_str(),
        Some((file_hash.as_str(), file.size)),
        &signatures,
    )
}

/// Marks `i` failed with `error`; what refers to it, directly or not, is never put.
fn fail(q: &mut Queue, i: usize, error: anyhow::Error) {
    q.items[i].failed = true;
    q.errors
        .push(format!("{}: {error:#}", q.items[i].info.path));
    let mut stack = q.items[i].referrers.clone();
    while let Some(j) = stack.pop() {
        if !q.items[j].failed {
            q.items[j].failed = true;
            q.nars.retain(|&n| n != j);
            stack.extend(q.items[j].referrers.iter().copied());
        }
    }
}

/// The next piece of work, marked busy; `None` when there is none and none can come (or on
/// stop).
#[allow(clippy::type_complexity)]
fn next(
    queue: &Mutex<Queue>,
    wake: &Condvar,
    stop: &AtomicBool,
) -> Option<(Work, PathInfo, String, Option<(String, NarFileFacts)>)> {
    let mut q = queue.lock().expect("upload queue lock");
    loop {
        if stop.load(Ordering::SeqCst) {
            return None;
        }
        let work = match q.narinfos.pop_front() {
            Some(i) => Some(Work::Narinfo(i)),
            None => q.nars.pop_front().map(Work::Nar),
        };
        if let Some(work) = work {
            let i = match work {
                Work::Nar(i) | Work::Narinfo(i) => i,
            };
            q.busy += 1;
            let item = &q.items[i];
            let picked = (item.info.clone(), item.hash.clone(), item.file.clone());
            return Some((work, picked.0, picked.1, picked.2));
        }
        if q.busy == 0 {
            // Nothing queued and nothing running that could queue more.
            wake.notify_all();
            return None;
        }
        q = wake.wait(q).expect("upload queue lock");
    }
}
