//! The build server: the core between the HTTP API and the build side's parts. It turns a
//! request (targets and a revision, from the API, a poll or a webhook) into a job — revision
//! resolved on the watched branch, targets resolved to flake attributes — and owns the
//! watcher, the input watcher and the job service for the server's lifetime, with the
//! background tasks that build what they find. It does not run builds (the job service does)
//! nor fetch (the watchers do). What it tells a client (a job's error, a refusal) names no
//! path in the state dir (see `redact`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::builds::builders;
use crate::builds::evaluations::{HostNames, Resolutions};
use crate::builds::jobs::history::JobHistory;
use crate::builds::jobs::model::{InputOverride, Job, NewJob, Trigger};
use crate::builds::jobs::roots::Roots;
use crate::builds::jobs::runner::RunContext;
use crate::builds::jobs::service::JobService;
use crate::builds::jobs::targets::Unresolvable;
use crate::builds::redact::PathMask;
use crate::builds::repo::ancestry::{BranchOrder, Generations};
use crate::builds::repo::inputs::{InputTip, InputWatcher};
use crate::builds::repo::mirror::{Mirror, RevisionError};
use crate::builds::repo::watcher::{OnNewTip, RepoStatus, Watcher};
use crate::builds::request_error::RequestError;
use crate::builds::webhooks::Forge;
use common::config::Config;

pub(crate) struct BuildServer {
    jobs: Arc<JobService>,
    watcher: Option<Arc<Watcher>>,
    /// The fleet flake's inputs followed upstream (`repo.watch_inputs`), if any.
    inputs: Option<Arc<InputWatcher>>,
    default_targets: Vec<String>,
    system: String,
    pub webhook_secret_file: Option<PathBuf>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Nix's remote builders, probed in the background.
    builders: Arc<builders::Builders>,
    /// The flake's host names at a revision: evaluated once per new tip.
    host_names: HostNames,
    /// Why the newest tip was not built, when it was not (a flake with nothing to build by
    /// default): said once in the status instead of a failing job on every poll. Kept with
    /// the tip's revision, so that a job made for it later (`bt`, the API) takes it away.
    tip_note: Mutex<Option<(String, String)>>,
    /// Targets resolved per (revision, requested targets): a revision's flake never changes.
    resolved: Resolutions,
    /// Hides the state dir in what Nix says about a flake that does not evaluate.
    mask: PathMask,
}

impl BuildServer {
    /// Opens the job database, queues again what was running, and starts the dispatcher and
    /// (with `repo.url`) the watcher. Must run inside the async runtime.
    pub(crate) fn start(config: &Config) -> Result<Arc<BuildServer>> {
        let state_dir = config.state_dir.value.clone();
        let store = JobHistory::open(&state_dir.join("jobs.sqlite"))?;
        let (tips_tx, tips_rx) = mpsc::channel(16);
        let watcher = config.repo_url.as_ref().map(|url| {
            let mirror = Arc::new(
                Mirror::new(
                    state_dir.join("repo.git"),
                    url.value.clone(),
                    config.repo_branch.value.clone(),
                )
                .with_credentials_file(
                    config
                        .repo_credentials_file
                        .as_ref()
                        .map(|f| f.value.clone()),
                ),
            );
            Arc::new(Watcher::new(
                mirror,
                url.value.clone(),
                config.repo_branch.value.clone(),
                config.poll_interval.value,
                tips_tx,
            ))
        });
        if watcher.is_none() && !config.watch_inputs.value.is_empty() {
            tracing::warn!("repo.watch_inputs is set but no fleet repository (repo.url): ignored");
        }
        let inputs = (watcher.is_some() && !config.watch_inputs.value.is_empty()).then(|| {
            Arc::new(InputWatcher::new(
                config.watch_inputs.value.clone(),
                state_dir.join("inputs"),
            ))
        });
        let mirror_for_jobs = watcher.as_ref().map(|w| w.mirror().clone());
        let branch = mirror_for_jobs
            .as_ref()
            .map(|m| Arc::new(BranchOrder::new(m.clone())));
        let mask = PathMask::state_dir(&state_dir);
        let context = RunContext {
            log_dir: state_dir.join("logs"),
            roots: Roots::new(&state_dir),
            keep_per_target: config.keep_per_target.value as usize,
            mask: mask.clone(),
        };
        let jobs = JobService::open(
            store,
            context,
            config.max_parallel_jobs.value as usize,
            Box::new(move |rev| mirror_for_jobs.as_ref().map(|m| m.flake_ref(rev))),
            branch,
        )?;
        let server = Arc::new(BuildServer {
            jobs: jobs.clone(),
            watcher: watcher.clone(),
            inputs: inputs.clone(),
            default_targets: config.default_targets.value.clone(),
            system: nix_core::current_system(),
            webhook_secret_file: config.webhook_secret_file.as_ref().map(|f| f.value.clone()),
            tasks: Mutex::new(Vec::new()),
            builders: Arc::new(builders::Builders::default()),
            host_names: HostNames::default(),
            resolved: Resolutions::default(),
            tip_note: Mutex::new(None),
            mask,
        });
        let mut tasks = vec![
            tokio::spawn(jobs.dispatch()),
            tokio::spawn(server.builders.clone().run()),
        ];
        if let Some(watcher) = watcher {
            tasks.push(tokio::spawn(watcher.run()));
        }
        tasks.push(tokio::spawn(build_new_tips(
            Arc::downgrade(&server),
            tips_rx,
        )));
        if inputs.is_some() {
            tasks.push(tokio::spawn(follow_inputs(
                Arc::downgrade(&server),
                config.poll_interval.value,
            )));
        }
        *server.tasks.lock().expect("tasks lock") = tasks;
        Ok(server)
    }

    pub(crate) fn jobs(&self) -> &JobService {
        &self.jobs
    }

    /// Nix's remote builders as last probed.
    pub(crate) fn builders(&self) -> Vec<common::protocol::status::BuilderStatus> {
        self.builders.list()
    }

    /// Why the newest tip was not built, if it was not.
    pub(crate) fn tip_note(&self) -> Option<String> {
        self.tip_note
            .lock()
            .expect("note lock")
            .as_ref()
            .map(|(_, note)| note.clone())
    }

    /// The watched branch's commits numbered in order, at the tip last fetched.
    pub(crate) fn branch_generations(&self) -> Result<Option<Arc<Generations>>> {
        let tip = self.watcher.as_ref().and_then(|w| w.status().rev);
        self.jobs.branch_generations(tip.as_deref())
    }

    /// The fleet repository's mirror, when there is a repository.
    pub(crate) fn mirror(&self) -> Option<&Arc<Mirror>> {
        self.watcher.as_ref().map(|w| w.mirror())
    }

    pub(crate) fn repo_status(&self) -> Option<RepoStatus> {
        self.watcher.as_ref().map(|w| w.status())
    }

    /// The watched flake inputs as last fetched (none when no input is watched).
    pub(crate) fn input_status(&self) -> Vec<common::protocol::status::InputStatus> {
        self.inputs
            .as_ref()
            .map(|inputs| inputs.status())
            .unwrap_or_default()
    }

    /// The hosts of the flake's `nixosConfigurations` at the newest fetched revision (none
    /// without a repository). Evaluated once per revision; while a revision does not evaluate,
    /// the hosts of the last one that did.
    pub(crate) async fn host_names(&self) -> Vec<String> {
        let Some(watcher) = &self.watcher else {
            return Vec::new();
        };
        let Some(rev) = watcher.status().rev else {
            return Vec::new();
        };
        self.host_names
            .at(rev, |rev| watcher.mirror().flake_ref(rev))
            .await
    }

    /// Makes a job (or finds its duplicate); `true` when new.
    pub(crate) async fn request_job(
        &self,
        requested: Vec<String>,
        rev: Option<String>,
        trigger: Trigger,
    ) -> Result<(Job, bool), RequestError> {
        self.request_job_for(requested, rev, trigger, None).await
    }

    /// `request_job` for another system than the box's own (`None`: its own): targets resolve
    /// as that system's, and a system nothing can build fails the job at once.
    pub(crate) async fn request_job_for(
        &self,
        requested: Vec<String>,
        rev: Option<String>,
        trigger: Trigger,
        system: Option<String>,
    ) -> Result<(Job, bool), RequestError> {
        self.request(requested, rev, trigger, system, BTreeMap::new())
            .await
    }

    /// A job with the fleet's flake inputs in `inputs` overridden (none: the fleet as its
    /// lock file pins it); the targets resolve at the fleet's revision.
    async fn request(
        &self,
        requested: Vec<String>,
        rev: Option<String>,
        trigger: Trigger,
        system: Option<String>,
        inputs: BTreeMap<String, InputOverride>,
    ) -> Result<(Job, bool), RequestError> {
        let asked = Instant::now();
        for target in &requested {
            check_target(target)?;
        }
        let system = system.unwrap_or_else(|| self.system.clone());
        if !builders::is_system_name(&system) {
            return Err(RequestError::BadRequest(format!(
                "{system:?} is not a Nix system (such as x86_64-linux or aarch64-linux)"
            )));
        }
        let watcher = self.watcher.as_ref().ok_or_else(|| {
            RequestError::Unprocessable("no fleet repository is configured: start the server with `serve --repo URL` (or set repo.url in its config)".into())
        })?;
        let mirror = watcher.mirror().clone();
        let rev = match rev {
            Some(rev) => self.resolve_revision(watcher, rev).await?,
            None => self.newest_commit(watcher).await?,
        };
        // A system nothing here builds fails at once, naming the builders there are.
        if let Err(why) = builders::check_system(&system)
            .await
            .map_err(RequestError::Internal)?
        {
            let failed = NewJob {
                targets: requested.clone(),
                attrs: requested,
                rev,
                trigger,
                inputs,
                failed: Some(why),
            };
            return self.record(failed, asked);
        }
        let new = match self
            .resolved
            .resolve(
                &mirror.flake_ref(&rev),
                &rev,
                &requested,
                &system,
                &self.default_targets,
            )
            .await
        {
            Ok(resolved) => NewJob {
                targets: resolved.targets,
                attrs: resolved.attrs,
                rev,
                trigger,
                inputs,
                failed: None,
            },
            Err(unresolved) if unresolved.kind != Unresolvable::Broken => {
                return Err(RequestError::Unprocessable(unresolved.error));
            }
            Err(unresolved) => NewJob {
                attrs: unresolved.targets.clone(),
                targets: unresolved.targets,
                rev,
                trigger,
                inputs,
                failed: Some(self.mask.hide(&unresolved.error)),
            },
        };
        self.record(new, asked)
    }

    /// Submits `new`; a job failed at once gets its error as its log.
    fn record(&self, new: NewJob, asked: Instant) -> Result<(Job, bool), RequestError> {
        let (job, created) = self
            .jobs
            .submit(&new, asked)
            .map_err(RequestError::Internal)?;
        if new.failed.is_none() {
            // The tip a poll could not build is being built after all.
            let mut note = self.tip_note.lock().expect("note lock");
            if note.as_ref().is_some_and(|(rev, _)| *rev == job.rev) {
                *note = None;
            }
        }
        if let (true, Some(error)) = (created, &new.failed) {
            let log = self.jobs.log_path(job.id);
            if let Some(dir) = log.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = std::fs::write(&log, format!("error: {error}\n"));
        }
        Ok((job, created))
    }

    /// Fetches the watched inputs (all, or those in `only`) and builds each whose upstream tip
    /// moved: the default targets at the fleet's newest commit, with the input overridden to
    /// its new commit (trigger `input`). A commit handled before (built, or what the fleet's
    /// lock pins already) builds nothing; nor does anything before the fleet was fetched.
    /// Returns the jobs made or found.
    pub(crate) async fn check_inputs(&self, only: Option<&[String]>) -> Vec<(Job, bool)> {
        let (Some(inputs), Some(watcher)) = (&self.inputs, &self.watcher) else {
            return Vec::new();
        };
        let Some(fleet_rev) = watcher.status().rev else {
            return Vec::new();
        };
        let tips = inputs
            .fetch(watcher.mirror().path(), &fleet_rev, only)
            .await;
        let mut jobs = Vec::new();
        for tip in tips {
            match self.build_input_tip(&fleet_rev, &tip).await {
                Ok(Some(made)) => jobs.push(made),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!("not building input {} at {}: {e}", tip.name, tip.rev);
                    inputs.note(
                        &tip.name,
                        Some(format!("{} was not built: {e}", short(&tip.rev))),
                    );
                }
            }
        }
        jobs
    }

    /// Builds the fleet at `fleet_rev` with input `tip.name` at `tip.rev`, unless that commit
    /// was handled before or is what the fleet pins; remembers it as handled.
    async fn build_input_tip(
        &self,
        fleet_rev: &str,
        tip: &InputTip,
    ) -> Result<Option<(Job, bool)>, RequestError> {
        let handled = self
            .jobs
            .history()
            .input_rev(&tip.name)
            .map_err(RequestError::Internal)?;
        if handled.as_deref() == Some(tip.rev.as_str()) {
            return Ok(None);
        }
        if tip.locked.as_deref() == Some(tip.rev.as_str()) {
            // The fleet's own builds have it already.
            self.jobs
                .history()
                .remember_input_rev(&tip.name, &tip.rev, None)
                .map_err(RequestError::Internal)?;
            return Ok(None);
        }
        let overrides = BTreeMap::from([(
            tip.name.clone(),
            InputOverride {
                rev: tip.rev.clone(),
                flake_ref: tip.flake_ref.clone(),
            },
        )]);
        let (job, created) = self
            .request(
                Vec::new(),
                Some(fleet_rev.to_owned()),
                Trigger::Input,
                None,
                overrides,
            )
            .await?;
        tracing::info!(
            "input {} moved to {}: job {}",
            tip.name,
            short(&tip.rev),
            job.id
        );
        self.jobs
            .history()
            .remember_input_rev(&tip.name, &tip.rev, Some(job.id))
            .map_err(RequestError::Internal)?;
        Ok(Some((job, created)))
    }

    /// A push (from a webhook) to the repository of a watched input, named by `urls`: fetch
    /// those inputs now and build what moved. `None` when no watched input comes from there.
    pub(crate) async fn on_input_push(&self, urls: &[String]) -> Option<Vec<(Job, bool)>> {
        let names = self.inputs.as_ref()?.matching(urls);
        if names.is_empty() {
            return None;
        }
        Some(self.check_inputs(Some(&names)).await)
    }

    /// A push to `branch` (from a webhook): fetch now and build the new tip; `None` for
    /// another branch. A delivery seen before (`delivery`: the forge and its delivery id) is
    /// answered with the job it made, and a tip already built with its job: neither is new.
    pub(crate) async fn on_push(
        &self,
        branch: &str,
        delivery: Option<(Forge, &str)>,
    ) -> Result<Option<(Job, bool)>, RequestError> {
        let Some(watcher) = &self.watcher else {
            return Err(RequestError::Unprocessable(
                "no fleet repository is configured: start the server with `serve --repo URL` (or set repo.url in its config)".into(),
            ));
        };
        if let Some((forge, id)) = delivery {
            let known = self
                .jobs
                .job_of_delivery(forge.as_str(), id)
                .map_err(RequestError::Internal)?;
            if let Some(job) = known {
                tracing::info!("webhook delivery {id} came again: job {}", job.id);
                return Ok(Some((job, false)));
            }
        }
        if branch != watcher.status().branch {
            return Ok(None);
        }
        let tip = watcher.fetch(OnNewTip::CallerBuilds).await.map_err(|e| {
            RequestError::Unprocessable(format!("fetching the pushed branch failed: {e}"))
        })?;
        let (job, created) = self
            .request_job(Vec::new(), Some(tip), Trigger::Webhook)
            .await?;
        if let Some((forge, id)) = delivery
            && let Err(e) = self
                .jobs
                .history()
                .remember_delivery(forge.as_str(), id, job.id)
        {
            tracing::warn!("remembering webhook delivery {id} failed: {e:#}");
        }
        Ok(Some((job, created)))
    }

    /// The branch's newest commit: fetched now, or the mirror's tip when the remote cannot
    /// be reached.
    async fn newest_commit(&self, watcher: &Watcher) -> Result<String, RequestError> {
        match watcher.fetch(OnNewTip::Announce).await {
            Ok(tip) => Ok(tip),
            Err(e) => watcher.status().rev.ok_or_else(|| {
                RequestError::Unprocessable(format!(
                    "the fleet repository has not been fetched yet: {e}"
                ))
            }),
        }
    }

    /// A full or short commit id on the watched branch; fetches once when the mirror does
    /// not know it yet (it may have just been pushed).
    async fn resolve_revision(
        &self,
        watcher: &Watcher,
        rev: String,
    ) -> Result<String, RequestError> {
        let resolve = |rev: String| {
            let mirror = watcher.mirror().clone();
            async move {
                tokio::task::spawn_blocking(move || mirror.resolve_on_branch(&rev))
                    .await
                    .map_err(|e| RequestError::Internal(e.into()))
            }
        };
        match resolve(rev.clone()).await? {
            Ok(full) => Ok(full),
            Err(
                RevisionError::NotFound(_)
                | RevisionError::NotOnBranch { .. }
                | RevisionError::NotFetched,
            ) => {
                let _ = watcher.fetch(OnNewTip::Announce).await;
                resolve(rev).await?.map_err(RequestError::from)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Stops the watcher and the dispatcher; running builds are stopped and queued again.
    pub(crate) async fn shutdown(&self) {
        for task in self.tasks.lock().expect("tasks lock").drain(..) {
            task.abort();
        }
        self.jobs.shutdown().await;
    }
}

/// Builds each new tip the watcher finds (by a fetch: trigger `poll`), with the default
/// targets.
async fn build_new_tips(server: std::sync::Weak<BuildServer>, mut tips: mpsc::Receiver<String>) {
    while let Some(rev) = tips.recv().await {
        let Some(server) = server.upgrade() else {
            return;
        };
        let asked = server
            .request_job(Vec::new(), Some(rev.clone()), Trigger::Poll)
            .await;
        let note = match asked {
            Ok((job, _)) => {
                tracing::info!("job {} queued for {}", job.id, rev);
                None
            }
            Err(e) => {
                tracing::warn!("not building {}: {e}", rev);
                Some((rev.clone(), format!("{} was not built: {e}", short(&rev))))
            }
        };
        *server.tip_note.lock().expect("note lock") = note;
    }
}

/// Follows the watched inputs: fetches them every `interval` once the fleet was fetched, and
/// builds what moved.
async fn follow_inputs(server: std::sync::Weak<BuildServer>, interval: Duration) {
    let interval = interval.max(Duration::from_secs(1));
    loop {
        let fleet_fetched = {
            let Some(server) = server.upgrade() else {
                return;
            };
            let fetched = server
                .repo_status()
                .is_some_and(|status| status.rev.is_some());
            if fetched {
                server.check_inputs(None).await;
            }
            fetched
        };
        // Until the fleet's first fetch, look again soon.
        let wait = if fleet_fetched {
            interval
        } else {
            interval.min(Duration::from_secs(1))
        };
        tokio::time::sleep(wait).await;
    }
}

/// The first 8 digits of a commit id.
fn short(rev: &str) -> &str {
    &rev[..rev.len().min(8)]
}

fn check_target(target: &str) -> Result<(), RequestError> {
    let fine = !target.is_empty()
        && target.len() <= 512
        && !target.starts_with('.')
        && !target.ends_with('.')
        && !target.contains("..")
        && target
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && c != '#' && c != '?');
    if fine {
        Ok(())
    } else {
        Err(RequestError::BadRequest(format!(
            "{target:?} is not a target name"
        )))
    }
}
