//! Publishing the box's cache to an S3-compatible bucket (`[publish]`), so hosts can pull
//! when the box sleeps: the bucket holds a Nix binary cache (`nix-cache-info`,
//! `<hash>.narinfo`, `nar/…`) of exactly what the box keeps: the closures of its kept build
//! roots, signed by the build key, and its pushed paths, signed by the push key only as the
//! box serves them (`wanted`). A round makes the bucket follow the box: it puts what is
//! missing (`upload`), takes out what is no longer kept (`retire`), and writes what it did to
//! the record (`record`), which is how the bucket is known without listing it. Rounds run
//! after every job that ends and every accepted push, at start (which resumes what a stopped
//! server left), after a failure (backing off) and every minute (cheap when nothing changed). The server's status,
//! `/metrics`, page and alerts read `status` and `failing_for`. `atuin-bootstrap gc` calls
//! `gc` to take out at once what it dropped.

mod bucket;
mod nar_file;
mod record;
mod retire;
mod stream;
mod upload;
mod wanted;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::builds::BuildServer;
use crate::builds::jobs::model::JobState;
use crate::cache::pushed_area::PushedArea;
use crate::store::StoreAccess;
use bucket::Bucket;
use common::config::PublishSettings;
use common::protocol::status::PublishStatus;
use nix_core::signing::SecretKey;
use nix_core::store_location::StoreLocation;
use record::{Record, meta};
use retire::BucketLock;

/// Where the publisher keeps its record, lock and temporary files, in the state dir.
const DIR_NAME: &str = "publish";
/// A quiet round's period: finds NARs whose grace passed, and roots dropped by `gc`.
const IDLE_ROUND: Duration = Duration::from_secs(60);
/// After a job ends, wait this long for the server's own retention to drop old roots.
const AFTER_JOB: Duration = Duration::from_secs(1);
/// Retries after a failed round: doubling from the first, up to the last.
const RETRY_FIRST: Duration = Duration::from_secs(5);
const RETRY_MOST: Duration = Duration::from_secs(300);

/// Seconds since the epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How far the bucket is behind the box.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    paths: AtomicU64,
    bytes: AtomicU64,
}

impl Progress {
    fn set(&self, paths: u64, bytes: u64) {
        self.paths.store(paths, Ordering::SeqCst);
        self.bytes.store(bytes, Ordering::SeqCst);
    }

    /// One path of `nar_size` bytes is in.
    fn done(&self, nar_size: u64) {
        let _ = self
            .paths
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_sub(1))
            });
        let _ = self
            .bytes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_sub(nar_size))
            });
    }
}

/// How the last rounds went.
#[derive(Debug, Default)]
struct Health {
    last_error: Option<String>,
    /// Since when every round failed (unix seconds).
    failing_since: Option<u64>,
    /// Whether this failing streak was alerted.
    alerted: bool,
    /// The roots of the last round that succeeded.
    roots_done: Option<String>,
}

pub(crate) struct Publisher {
    settings: PublishSettings,
    state_dir: PathBuf,
    location: StoreLocation,
    store: StoreAccess,
    keys: Vec<SecretKey>,
    /// Signs pushed paths the store lacks, and nothing else.
    push_key: SecretKey,
    /// `Priority:` in `nix-cache-info`: just after the box's own cache.
    priority: u32,
    record: Record,
    progress: Progress,
    health: Mutex<Health>,
    wake: Notify,
    stop: AtomicBool,
}

impl Publisher {
    /// The publisher of `settings`, its record opened; nothing runs until `start`.
    pub(crate) fn open(
        settings: PublishSettings,
        state_dir: &Path,
        location: StoreLocation,
        keys: Vec<SecretKey>,
        push_key: SecretKey,
        box_priority: u32,
    ) -> Result<Publisher> {
        let record = open_record(&settings, state_dir)?;
        // NARs a killed server was compressing.
        let _ = std::fs::remove_dir_all(state_dir.join(DIR_NAME).join("tmp"));
        Ok(Publisher {
            store: StoreAccess::choose(&location),
            location,
            keys,
            push_key,
            priority: box_priority + 1,
            record,
            progress: Progress::default(),
            health: Mutex::new(Health::default()),
            wake: Notify::new(),
            stop: AtomicBool::new(false),
            state_dir: state_dir.to_path_buf(),
            settings,
        })
    }

    /// Runs rounds until the runtime ends (or `shutdown`): at once, after every job that ends,
    /// and on the timers.
    pub(crate) fn start(self: &Arc<Self>, builds: &Arc<BuildServer>) -> Vec<JoinHandle<()>> {
        let mut endings = builds.jobs().subscribe_endings();
        let listener = {
            let publisher = Arc::downgrade(self);
            tokio::spawn(async move {
                loop {
                    match endings.recv().await {
                        Ok(job) if job.state != JobState::Succeeded => continue,
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    }
                    let Some(publisher) = publisher.upgrade() else {
                        return;
                    };
                    publisher.wake.notify_one();
                }
            })
        };
        let rounds = tokio::spawn(self.clone().run());
        vec![listener, rounds]
    }

    /// A path was pushed: a round follows (one for a burst of pushes, as for jobs).
    pub(crate) fn pushed(&self) {
        self.wake.notify_one();
    }

    /// Stops taking new work; uploads under way finish.
    pub(crate) fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    async fn run(self: Arc<Self>) {
        let mut retry = RETRY_FIRST;
        let mut after_job = false;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            if after_job {
                tokio::time::sleep(AFTER_JOB).await;
            }
            let publisher = self.clone();
            let ok = tokio::task::spawn_blocking(move || publisher.round(after_job))
                .await
                .unwrap_or(false);
            let wait = if ok {
                retry = RETRY_FIRST;
                self.until_next_due().unwrap_or(IDLE_ROUND).min(IDLE_ROUND)
            } else {
                let wait = retry;
                retry = (retry * 2).min(RETRY_MOST);
                wait
            };
            after_job = tokio::select! {
                () = self.wake.notified() => true,
                () = tokio::time::sleep(wait) => false,
            };
        }
    }

    fn until_next_due(&self) -> Option<Duration> {
        let due = self.record.next_due().ok()??;
        Some(Duration::from_secs(due.saturating_sub(unix_now()).max(1)))
    }

    /// One round; whether it succeeded. Its error is kept for the status.
    fn round(&self, forced: bool) -> bool {
        let result = self.round_inner(forced);
        let mut health = self.health.lock().expect("health lock");
        match result {
            Ok(()) => {
                health.last_error = None;
                health.failing_since = None;
                health.alerted = false;
                true
            }
            Err(e) => {
                let error = format!("{e:#}");
                tracing::warn!(
                    "publishing to {} failed: {error}",
                    self.settings.bucket.value
                );
                health.last_error = Some(error);
                health.failing_since.get_or_insert(unix_now());
                health.roots_done = None;
                false
            }
        }
    }

    fn round_inner(&self, forced: bool) -> Result<()> {
        let _lock = BucketLock::wait(&lock_path(&self.state_dir))?;
        let bucket = Bucket::open(&self.settings)?;
        if self.record.meta(meta::CACHE_INFO)?.is_none() {
            // First of all: a bucket with narinfos but no nix-cache-info is not a cache to
            // Nix, while one with only nix-cache-info is an empty one.
            let info = format!(
                "StoreDir: {}\nWantMassQuery: 1\nPriority: {}\n",
                self.location.store_dir.as_str(),
                self.priority
            );
            bucket.put_bytes("nix-cache-info", "text/x-nix-cache-info", info.as_bytes())?;
            self.record.set_meta(meta::CACHE_INFO, "1")?;
        }
        let (_, _, roots) = wanted::roots(&self.state_dir)?;
        let unchanged =
            self.health.lock().expect("health lock").roots_done.as_ref() == Some(&roots);
        if !unchanged || forced {
            self.follow_roots(&bucket)?;
        }
        retire::due_nars(&bucket, &self.record)?;
        Ok(())
    }

    /// Puts what the kept roots and pushed paths need and the bucket lacks, then takes out
    /// what they no longer need.
    fn follow_roots(&self, bucket: &Bucket) -> Result<()> {
        let wanted = wanted::compute(&self.state_dir)?;
        let plan = wanted::plan(&wanted.paths, &wanted.pushed, &self.record.all()?);
        let mut infos = Vec::with_capacity(plan.upload.len());
        for hash in &plan.upload {
            let info = match wanted.pushed.get(hash) {
                Some(record) => record.info()?,
                None => tokio::runtime::Handle::current()
                    .block_on(self.store.path_info_by_hash(&self.location.store_dir, hash))?
                    .with_context(|| format!("{} is no longer in the store", wanted.paths[hash]))?,
            };
            infos.push(info);
        }
        self.progress
            .set(infos.len() as u64, infos.iter().map(|i| i.nar_size).sum());
        if !infos.is_empty() {
            tracing::info!(
                "publishing {} path(s) to {}",
                infos.len(),
                bucket.describe()
            );
        }
        let temp_dir = self.state_dir.join(DIR_NAME).join("tmp");
        std::fs::create_dir_all(&temp_dir)
            .with_context(|| format!("failed to create {}", temp_dir.display()))?;
        let uploaded = infos.len();
        let bytes: u64 = infos.iter().map(|i| i.nar_size).sum();
        let started = std::time::Instant::now();
        let errors = upload::Uploader {
            bucket,
            record: &self.record,
            store_dir: &self.location.store_dir,
            keys: &self.keys,
            pushed: &wanted.pushed,
            pushed_area: &PushedArea::new(&self.state_dir),
            push_key: &self.push_key,
            nar_grace: self.settings.nar_grace.value,
            compression: self.settings.compression.value,
            temp_dir,
            threads: self.settings.max_concurrent.value as usize,
            stop: &self.stop,
            progress: &self.progress,
        }
        .run(infos);
        if let Some(first) = errors.first() {
            anyhow::bail!(
                "{first}{}",
                match errors.len() {
                    1 => String::new(),
                    n => format!(" (and {} more)", n - 1),
                }
            );
        }
        if self.stop.load(Ordering::SeqCst) {
            anyhow::bail!("stopped");
        }
        if uploaded > 0 {
            self.record
                .set_meta(meta::LAST_PUBLISHED_AT, &common::timestamp::now())?;
            tracing::info!(
                "published {uploaded} path(s) ({bytes} NAR bytes) to {} in {:.3} s",
                bucket.describe(),
                started.elapsed().as_secs_f64()
            );
        }
        if let Some(job) = wanted.newest_job {
            self.record.set_meta(meta::LAST_JOB, &job.to_string())?;
        }
        let retired = retire::narinfos(
            bucket,
            &self.record,
            &plan.retire,
            self.settings.nar_grace.value,
        )?;
        if retired > 0 {
            tracing::info!(
                "{retired} path(s) no longer kept: their narinfos left {}",
                bucket.describe()
            );
        }
        self.health.lock().expect("health lock").roots_done = Some(wanted.roots);
        Ok(())
    }

    /// What the status JSON shows.
    pub(crate) fn status(&self) -> PublishStatus {
        let health = self.health.lock().expect("health lock");
        PublishStatus {
            bucket: self.settings.bucket.value.clone(),
            read_url: self.settings.read_url.as_ref().map(|u| u.value.clone()),
            pending_paths: self.progress.paths.load(Ordering::SeqCst),
            pending_bytes: self.progress.bytes.load(Ordering::SeqCst),
            last_job: self
                .record
                .meta(meta::LAST_JOB)
                .ok()
                .flatten()
                .and_then(|j| j.parse().ok()),
            last_error: health.last_error.clone(),
            last_published_at: self.record.meta(meta::LAST_PUBLISHED_AT).ok().flatten(),
        }
    }

    /// The failing streak's error, once, when it has lasted `publish.alert_after`.
    pub(crate) fn failing_alert(&self) -> Option<(Duration, String)> {
        let mut health = self.health.lock().expect("health lock");
        let since = health.failing_since?;
        let lasted = Duration::from_secs(unix_now().saturating_sub(since));
        if health.alerted || lasted < self.settings.alert_after.value {
            return None;
        }
        health.alerted = true;
        Some((lasted, health.last_error.clone().unwrap_or_default()))
    }

    /// How long `publish.alert_after` is.
    pub(crate) fn alert_after(&self) -> Duration {
        self.settings.alert_after.value
    }
}

fn lock_path(state_dir: &Path) -> PathBuf {
    state_dir.join(DIR_NAME).join("lock")
}

fn open_record(settings: &PublishSettings, state_dir: &Path) -> Result<Record> {
    let target = format!(
        "{}|{}|{}",
        settings.endpoint.value, settings.bucket.value, settings.prefix.value
    );
    Record::open(&state_dir.join(DIR_NAME).join("record.sqlite"), &target)
}

/// For `atuin-bootstrap gc`, after it dropped roots: takes out of the bucket what the kept
/// roots no longer need (narinfos now, NARs after the grace), unless the server is
/// publishing right now, in which case the server does it when its upload ends.
pub(crate) fn gc(
    settings: &PublishSettings,
    state_dir: &Path,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let Some(_lock) = BucketLock::try_take(&lock_path(state_dir))? else {
        writeln!(
            out,
            "the server is publishing to bucket {} now: it takes out what is no longer kept when that upload ends",
            settings.bucket.value
        )?;
        return Ok(());
    };
    let record = open_record(settings, state_dir)?;
    let bucket = Bucket::open(settings)?;
    let wanted = wanted::compute(state_dir)?;
    let plan = wanted::plan(&wanted.paths, &wanted.pushed, &record.all()?);
    let retired = retire::narinfos(&bucket, &record, &plan.retire, settings.nar_grace.value)?;
    let nars = retire::due_nars(&bucket, &record)?;
    writeln!(
        out,
        "{retired} path(s) taken out of bucket {} (their NARs follow after {}); {nars} NAR(s) deleted",
        settings.bucket.value,
        humantime::format_duration(settings.nar_grace.value)
    )?;
    Ok(())
}
