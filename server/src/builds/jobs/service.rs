//! The job service: the queue's front (submit, look up, list, cancel) and its dispatcher,
//! which runs up to `build.max_parallel_jobs` jobs at once. Jobs left running by a server
//! that stopped are queued again when it opens. On shutdown, running builds are stopped and
//! their jobs go back to the queue. Every job that ends (a failure recorded at once too) is
//! told to whoever subscribed (alerts), without waiting for them.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::{Notify, broadcast, watch};

use super::history::{Ending, JobHistory, latest_on_branch};
use super::model::{Job, JobState, NewJob, Progress};
use super::runner::{self, Outcome, RunContext, StopReason};
use crate::builds::repo::ancestry::{BranchOrder, Generations};

/// Endings held for a subscriber that lags; past that it misses the oldest.
const ENDINGS_BUFFER: usize = 256;

/// Gives the flake reference a job builds from, for its revision.
pub(crate) type FlakeRefOf = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

pub(crate) struct JobService {
    history: JobHistory,
    context: RunContext,
    max_parallel: usize,
    flake_ref_of: FlakeRefOf,
    /// The watched branch's order (none without a repository): which builds are the hosts'.
    branch: Option<Arc<BranchOrder>>,
    running: Mutex<HashMap<u64, RunningJob>>,
    /// When each queued job was asked for, to log how long until its build started.
    asked_at: Mutex<HashMap<u64, Instant>>,
    /// Woken whenever a job ends.
    ended: Notify,
    /// Each job that ended, as recorded.
    endings: broadcast::Sender<Job>,
    wake: Notify,
    idle: Notify,
    stopping: AtomicBool,
}

struct RunningJob {
    progress: Arc<Mutex<Option<Progress>>>,
    stop: watch::Sender<Option<StopReason>>,
}

/// What cancelling did.
pub(crate) enum Cancelled {
    Now(Job),
    /// Running: nix was told to stop; the job ends as cancelled shortly.
    Stopping(Job),
    AlreadyFinished(Job),
    NoSuchJob,
}

impl JobService {
    pub(crate) fn open(
        history: JobHistory,
        context: RunContext,
        max_parallel: usize,
        flake_ref_of: FlakeRefOf,
        branch: Option<Arc<BranchOrder>>,
    ) -> Result<Arc<JobService>> {
        let requeued = history.requeue_all_running()?;
        if !requeued.is_empty() {
            tracing::info!("queued again after a restart: jobs {requeued:?}");
        }
        Ok(Arc::new(JobService {
            history,
            context,
            max_parallel: max_parallel.max(1),
            flake_ref_of,
            branch,
            running: Mutex::new(HashMap::new()),
            asked_at: Mutex::new(HashMap::new()),
            ended: Notify::new(),
            endings: broadcast::channel(ENDINGS_BUFFER).0,
            wake: Notify::new(),
            idle: Notify::new(),
            stopping: AtomicBool::new(false),
        }))
    }

    /// Records a job (or finds its duplicate) asked for at `asked`, and wakes the dispatcher.
    pub(crate) fn submit(&self, new: &NewJob, asked: Instant) -> Result<(Job, bool)> {
        let created = self.history.create(new)?;
        if created.1 && created.0.state == JobState::Queued {
            self.asked_at
                .lock()
                .expect("asked lock")
                .insert(created.0.id, asked);
        }
        if created.1 && created.0.state.is_finished() {
            // Failed before it could be queued (a flake that does not evaluate).
            let _ = self.endings.send(created.0.clone());
        }
        self.wake.notify_one();
        Ok(created)
    }

    /// The job history itself, for what reads or records past the queue (webhook deliveries,
    /// watched inputs' commits, host builds, pins, `stats`); the queue's own changes go
    /// through the service, which wakes the dispatcher and tells who listens.
    pub(crate) fn history(&self) -> &JobHistory {
        &self.history
    }

    /// Every job that ends from now on, as recorded (a failed request recorded as a failed
    /// job included).
    pub(crate) fn subscribe_endings(&self) -> broadcast::Receiver<Job> {
        self.endings.subscribe()
    }

    /// The job once it has ended, or as it is when `timeout` has passed.
    pub(crate) async fn wait_ended(&self, id: u64, timeout: Duration) -> Result<Option<Job>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let ended = self.ended.notified();
            let job = self.get(id)?;
            if job.as_ref().is_none_or(|j| j.state.is_finished()) {
                return Ok(job);
            }
            if tokio::time::timeout_at(deadline, ended).await.is_err() {
                return self.get(id);
            }
        }
    }

    /// The job, with live progress while it runs.
    pub(crate) fn get(&self, id: u64) -> Result<Option<Job>> {
        Ok(self
            .history
            .get(id)?
            .map(|job| self.with_live_progress(job)))
    }

    pub(crate) fn list(&self, limit: usize, state: Option<JobState>) -> Result<Vec<Job>> {
        Ok(self
            .history
            .list(limit, state)?
            .into_iter()
            .map(|job| self.with_live_progress(job))
            .collect())
    }

    pub(crate) fn running_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .running
            .lock()
            .expect("running lock")
            .keys()
            .copied()
            .collect();
        ids.sort();
        ids
    }

    pub(crate) fn log_path(&self, id: u64) -> std::path::PathBuf {
        runner::log_path(&self.context.log_dir, id)
    }

    pub(crate) fn cancel(&self, id: u64) -> Result<Cancelled> {
        if self.history.cancel_queued(id)? {
            self.ended.notify_waiters();
            let job = self.history.get(id)?.expect("a job just cancelled exists");
            let _ = self.endings.send(job.clone());
            return Ok(Cancelled::Now(job));
        }
        if let Some(running) = self.running.lock().expect("running lock").get(&id) {
            let _ = running.stop.send(Some(StopReason::Cancel));
        }
        Ok(match self.history.get(id)? {
            None => Cancelled::NoSuchJob,
            Some(job) if job.state.is_finished() => Cancelled::AlreadyFinished(job),
            Some(job) => Cancelled::Stopping(self.with_live_progress(job)),
        })
    }

    fn with_live_progress(&self, mut job: Job) -> Job {
        if job.state == JobState::Running
            && let Some(running) = self.running.lock().expect("running lock").get(&job.id)
        {
            job.progress = running.progress.lock().expect("progress lock").clone();
        }
        job
    }

    /// Runs queued jobs until `shutdown` is called.
    pub(crate) async fn dispatch(self: Arc<Self>) {
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            while self.running.lock().expect("running lock").len() < self.max_parallel {
                match self.history.claim_next() {
                    Ok(Some(job)) => self.start(job),
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!("reading the job queue failed: {e:#}");
                        break;
                    }
                }
            }
            self.wake.notified().await;
        }
    }

    fn start(self: &Arc<Self>, job: Job) {
        let progress = Arc::new(Mutex::new(None));
        let (stop, stop_rx) = watch::channel(None);
        self.running.lock().expect("running lock").insert(
            job.id,
            RunningJob {
                progress: progress.clone(),
                stop,
            },
        );
        tracing::info!("job {} started: {}", job.id, job.targets.join(", "));
        let asked = self.asked_at.lock().expect("asked lock").remove(&job.id);
        let service = self.clone();
        tokio::spawn(async move {
            let outcome = match (service.flake_ref_of)(&job.rev) {
                Some(flake_ref) => {
                    let started = runner::Started { progress, asked };
                    runner::run(&job, &flake_ref, &service.context, started, stop_rx).await
                }
                None => Outcome::Ended(Ending {
                    state: JobState::Failed,
                    outputs: Default::default(),
                    error: Some("no fleet repository is configured: start the server with `serve --repo URL` (or set repo.url in its config)".into()),
                    progress: None,
                }),
            };
            // Retention runs before the success is visible too (this job's root is already
            // made), so whoever sees the job succeed sees the roots retention leaves; it runs
            // again once the job is recorded, which is when the hosts' newest builds count it.
            let succeeded = matches!(&outcome, Outcome::Ended(e) if e.state == JobState::Succeeded);
            if succeeded && let Err(e) = service.drop_old_roots(Some(job.id)) {
                tracing::warn!("dropping old GC roots failed: {e:#}");
            }
            let recorded = match &outcome {
                Outcome::Ended(ending) => {
                    tracing::info!("job {} {}", job.id, ending.state.as_str());
                    service.history.finish(job.id, ending)
                }
                Outcome::Requeue => service.history.requeue(job.id),
            };
            match recorded {
                Err(e) => tracing::error!("recording the end of job {} failed: {e:#}", job.id),
                Ok(()) if matches!(outcome, Outcome::Ended(_)) => {
                    if let Ok(Some(ended)) = service.history.get(job.id) {
                        let _ = service.endings.send(ended);
                    }
                }
                Ok(()) => {}
            }
            if succeeded && let Err(e) = service.drop_old_roots(None) {
                tracing::warn!("dropping old GC roots failed: {e:#}");
            }
            service
                .running
                .lock()
                .expect("running lock")
                .remove(&job.id);
            service.wake.notify_one();
            service.idle.notify_waiters();
            service.ended.notify_waiters();
        });
    }

    /// The job a webhook delivery was answered with, when the same delivery came before.
    pub(crate) fn job_of_delivery(&self, forge: &str, delivery: &str) -> Result<Option<Job>> {
        Ok(self
            .history
            .job_of_delivery(forge, delivery)?
            .map(|job| self.with_live_progress(job)))
    }

    /// The watched branch's commits numbered in order at `tip` (the caller's last known tip,
    /// else the mirror's); `None` without a repository or before its first fetch.
    pub(crate) fn branch_generations(&self, tip: Option<&str>) -> Result<Option<Arc<Generations>>> {
        match &self.branch {
            Some(branch) => branch.generations(tip),
            None => Ok(None),
        }
    }

    /// Retention: the newest `build.keep_per_target` roots of each target, and every host's
    /// newest system, which a host's deploy may still ask for, and `also` (a job that
    /// succeeded but is not recorded yet).
    fn drop_old_roots(&self, also: Option<u64>) -> Result<()> {
        let generations = self.branch_generations(None)?;
        let mut protected = protected_jobs(&self.history, generations.as_deref())?;
        protected.extend(also);
        self.context
            .roots
            .retain(self.context.keep_per_target, &protected)?;
        Ok(())
    }

    /// True once `shutdown` was called.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Stops dispatching, stops running builds and waits until their jobs are back in the queue.
    pub(crate) async fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        loop {
            let idle = self.idle.notified();
            {
                let running = self.running.lock().expect("running lock");
                if running.is_empty() {
                    return;
                }
                for job in running.values() {
                    let _ = job.stop.send(Some(StopReason::Shutdown));
                }
            }
            idle.await;
        }
    }
}

/// The jobs whose roots retention must keep: each host's newest system on the branch (by
/// `generations`, when the branch is known), its pinned one, and its newest by job order (what
/// was kept before builds followed the branch).
pub(crate) fn protected_jobs(
    history: &JobHistory,
    generations: Option<&Generations>,
) -> Result<BTreeSet<u64>> {
    let mut protected: BTreeSet<u64> = history
        .newest_host_builds()?
        .values()
        .map(|build| build.job)
        .collect();
    if let Some(generations) = generations {
        let builds = history.host_builds()?;
        let latest = latest_on_branch(&builds, |rev| generations.of(rev));
        protected.extend(latest.values().map(|build| build.job));
    }
    protected.extend(history.pins()?.values().map(|pin| pin.job));
    Ok(protected)
}
