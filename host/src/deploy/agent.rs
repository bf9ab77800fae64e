//! The deploy agent, read top to bottom: one turn first finishes, without the box, whatever
//! an earlier run left under way (see `recover`); then asks the box what this host is to run
//! (its `target`) and decides: act only when the target is new (not the last one this host
//! acted on; on a first run, not what runs), never on a target that failed here or holds
//! pushed paths (unless allowed), and leave a host that runs a system of its own alone
//! (`local`) until a new target or `--now`. The deploy itself is `switch`'s, going back is
//! `rollback`'s. Then the box is told: the report of each outcome, and the reports it could
//! not take, kept in the deploy state dir (see `memory`) and sent oldest first when it answers
//! again, so that what the host did while the box was away is never lost. Not for the
//! command line or `--watch`'s loop (see `mod.rs` and `watch`), nor for what each outcome
//! says (see `outcome`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use super::activation::{self, Activation, Activator};
use super::generations::{store_path_of, Profile};
use super::lock::{self, DeployLock};
use super::log::Log;
use super::memory::{Memory, Phase, UnderWay};
use super::outcome::Outcome;
use super::plan::Plan;
use super::target::HostView;
use super::{recover, switch};
use crate::client::ApiClient;
use common::config::{DeployMode, RebootPolicy};
use common::exit::{Exit, SERVER, USAGE};
use common::protocol::host::{Report, ReportState};

/// Everything a deploy works with.
pub(super) struct Agent<'a> {
    pub host: String,
    pub mode: DeployMode,
    /// `deploy.health_checks`: used when the new system carries none of its own.
    pub checks: Vec<String>,
    pub health_timeout: Duration,
    pub activation_timeout: Duration,
    pub activator: Activator,
    pub reboot: RebootPolicy,
    pub reboot_window: (u32, u32),
    pub reboot_command: Vec<String>,
    pub allow_pushed: bool,
    /// `deploy.public_keys`; empty: the box's announced build keys.
    pub public_keys: Vec<String>,
    pub profile: Profile,
    pub current_system: PathBuf,
    pub booted_system: PathBuf,
    pub memory: Memory,
    pub api: &'a ApiClient,
    pub log: Log,
}

/// What the person asked of a turn.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Options {
    pub dry_run: bool,
    /// Act even when the target is not new.
    pub now: bool,
    /// Forget the paths that failed here first.
    pub retry: bool,
}

impl Agent<'_> {
    /// The deploy lock, or a usage error naming the deploy that holds it; `what` says who we
    /// are (e.g. `deploy --rollback`).
    pub(super) fn lock(&self, what: &str) -> Result<DeployLock> {
        self.memory.ensure()?;
        match lock::take(self.memory.dir(), what)? {
            lock::Taken::Ours(lock) => Ok(lock),
            lock::Taken::Held(holder) => Err(Exit {
                code: USAGE,
                message: format!("another deploy is under way on this host: {holder}"),
            }
            .into()),
        }
    }

    /// One turn of the agent (see the top of this file).
    pub(super) fn turn(&self, options: Options) -> Result<Outcome> {
        if !options.dry_run {
            if let Some(outcome) = recover::finish(self)? {
                return Ok(outcome);
            }
        }
        let host = self.ask_box()?;
        if !options.dry_run {
            self.send_unsent();
            self.forget_on_retry(&host, options.retry)?;
        }
        let Some(target) = host.target().cloned() else {
            return Ok(Outcome::NothingBuilt);
        };
        let wanted = target.path.clone();
        let running = self.running();
        let here = running.clone().unwrap_or_else(|| wanted.clone());

        if let Some(failed) = self.memory.failed(&wanted)? {
            let message = format!(
                "not deploying {wanted} again: it failed here at {} ({}); waiting for a newer build or `deploy --retry`",
                failed.at, failed.reason
            );
            return Ok(Outcome::Skipped(self.report(
                ReportState::RolledBack,
                &here,
                Some(&wanted),
                Some(message),
            )));
        }
        if !target.pushed.is_empty() && !self.allow_pushed {
            let message = format!(
                "refusing {wanted}: its closure holds {} path(s) that came by push, not built by the box ({}); set deploy.allow_pushed = true to take it",
                target.pushed.len(),
                target.pushed.join(", ")
            );
            return Ok(Outcome::Failed {
                report: self.report(ReportState::Failed, &here, Some(&wanted), Some(message)),
                code: 1,
                transient: false,
            });
        }
        if let Some(note) = self.memory.under_way()? {
            if note.phase == Phase::RebootPending && note.wanted == wanted {
                return switch::still_pending(self, &note, !options.dry_run);
            }
        }
        let installed = self.installed()?;
        if installed.as_deref() == Some(wanted.as_str()) {
            if !options.dry_run && self.memory.acted()?.map(|a| a.path) != Some(wanted.clone()) {
                self.memory.remember_acted(&wanted)?;
            }
            return Ok(Outcome::UpToDate(self.report(
                ReportState::UpToDate,
                &here,
                Some(&wanted),
                None,
            )));
        }
        let is_new = match self.memory.acted()? {
            Some(acted) => acted.path != wanted,
            None => true,
        };
        if !is_new && !options.now {
            let message = format!(
                "{} runs {here}, which the box did not give it; left alone until the box has a new target for it or `deploy --now`",
                self.host
            );
            return Ok(Outcome::Local(self.report(
                ReportState::Local,
                &here,
                Some(&wanted),
                Some(message),
            )));
        }
        if options.dry_run {
            return Ok(Outcome::DryRun(Plan::new(self, &host, &target, running)));
        }
        switch::deploy(self, &target)
    }

    /// This host as the box sees it.
    fn ask_box(&self) -> Result<HostView> {
        let value = self.api.get_json(&format!("/api/v1/hosts/{}", self.host))?;
        serde_json::from_value(value).map_err(|e| {
            Exit {
                code: SERVER,
                message: format!(
                    "the box at {} answered with a host this deploy does not understand: {e}",
                    self.api.base()
                ),
            }
            .into()
        })
    }

    /// `--retry`, or a `retry_at` from the box not seen before: the failed paths are forgotten.
    fn forget_on_retry(&self, host: &HostView, retry: bool) -> Result<()> {
        if let Some(retry_at) = &host.retry_at {
            if self.memory.retry_seen()?.as_deref() != Some(retry_at.as_str()) {
                if self.memory.retry_seen()?.is_some() || !self.memory.failed_paths()?.is_empty() {
                    self.log.line(&format!(
                        "the box asked at {retry_at} to try again: forgetting the systems that failed here"
                    ));
                }
                self.memory.forget_failed()?;
                self.memory.remember_retry_seen(retry_at)?;
            }
        }
        if retry {
            self.log
                .line("--retry: forgetting the systems that failed here");
            self.memory.forget_failed()?;
        }
        Ok(())
    }

    /// The system that runs now (`deploy.current_system`), if it can be told.
    pub(super) fn running(&self) -> Option<String> {
        store_path_of(&self.current_system).ok()
    }

    /// What counts as deployed: the running system, or in `boot` mode what the profile (the
    /// next boot) points at.
    fn installed(&self) -> Result<Option<String>> {
        Ok(match self.mode {
            DeployMode::Boot => self.profile.current()?.map(|g| g.path),
            DeployMode::Switch | DeployMode::Test => self.running(),
        })
    }

    /// `PATH/bin/switch-to-configuration MODE` as `activation` runs it, bounded by
    /// `deploy.activation_timeout`; its pid goes into `note` (when given) while it runs.
    pub(super) fn activate(
        &self,
        path: &str,
        mode: &str,
        mut note: Option<&mut UnderWay>,
    ) -> Result<Activation> {
        self.log.line(&format!("activating {path} ({mode})"));
        self.memory.ensure()?;
        let output = self.memory.dir().join("activation.log");
        let mut started = |pid: i32| -> Result<()> {
            if let Some(note) = note.as_deref_mut() {
                note.activation_pid = Some(pid);
                self.memory.begin(note)?;
            }
            Ok(())
        };
        match activation::run(
            self.activator,
            path,
            mode,
            self.activation_timeout,
            &output,
            &self.log,
            &mut started,
        ) {
            Ok(activation) => Ok(activation),
            Err(e) => Ok(Activation {
                ended: activation::Ended::NotStarted(format!("{e:#}")),
                output: String::new(),
            }),
        }
    }

    /// A report about `wanted` (the box's target for this host), saying what runs now.
    pub(super) fn report(
        &self,
        state: ReportState,
        path: &str,
        wanted: Option<&str>,
        message: Option<String>,
    ) -> Report {
        Report {
            state,
            path: path.to_string(),
            message,
            wanted: wanted.map(str::to_string),
        }
    }

    /// Sends `report` to the box now.
    pub(super) fn send(&self, report: &Report) -> Result<()> {
        let body = serde_json::to_value(report).expect("serialisable report");
        self.api
            .post_json(&format!("/api/v1/hosts/{}/report", self.host), Some(&body))?;
        Ok(())
    }

    /// Sends the reports an earlier run could not, oldest first; stops at the first the box
    /// cannot take (a report it answers with an error is dropped: it will never take it).
    fn deliver_unsent(&self) -> Result<()> {
        let unsent = self.memory.unsent()?;
        for (n, report) in unsent.iter().enumerate() {
            if let Err(e) = self.send(report) {
                if self.api.answers(Duration::from_secs(5)) {
                    self.log
                        .line(&format!("the box refused a queued report, dropped: {e:#}"));
                    continue;
                }
                self.memory.sent(n)?;
                return Err(e);
            }
        }
        if !unsent.is_empty() {
            self.log.line(&format!(
                "sent {} report(s) the box could not take before",
                unsent.len()
            ));
            self.memory.sent(unsent.len())?;
        }
        Ok(())
    }

    /// Best effort, for a turn that goes on whatever happens.
    pub(super) fn send_unsent(&self) {
        if let Err(e) = self.deliver_unsent() {
            self.log
                .line(&format!("queued reports still wait for the box: {e:#}"));
        }
    }

    /// Sends `report` after any queued ones, or queues it.
    pub(super) fn send_or_queue(&self, report: &Report) {
        if let Err(e) = self.deliver_unsent().and_then(|()| self.send(report)) {
            self.log.line(&format!(
                "the report did not reach the box and is kept to send later: {e:#}"
            ));
            if let Err(e) = self.memory.queue(report) {
                self.log.line(&format!("could not keep the report: {e:#}"));
            }
        }
    }

    /// Reports the outcome, tells the person or script, and gives its exit code.
    pub(super) fn finish(
        &self,
        outcome: &Outcome,
        report: bool,
        json: bool,
        out: &mut dyn Write,
    ) -> Result<i32> {
        let code = outcome.exit_code();
        let mut undelivered = None;
        if let Some(report) = outcome.report().filter(|_| report) {
            if let Err(e) = self.deliver_unsent().and_then(|()| self.send(report)) {
                if !outcome.changed_the_host() {
                    return Err(e);
                }
                // What the host did stands; the box hears of it when it answers again.
                self.memory.queue(report)?;
                undelivered = Some(e);
            }
        }
        if json {
            writeln!(out, "{}", outcome.json(&self.host))?;
        } else {
            writeln!(out, "{}", outcome.summary(&self.host))?;
        }
        out.flush()?;
        match undelivered {
            Some(e) => Err(e.context("the report is kept and sent when the box answers")),
            None => Ok(code),
        }
    }
}
