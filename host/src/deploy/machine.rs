//! The host as the deploy's steps work on it: its deploy settings, the system it runs and
//! what its profile (the next boot) points at, its deploy state dir (see `memory`), the
//! activation of a system (see `activation`), and its line to the box: the reports it sends,
//! and those the box could not take, kept and sent oldest first when it answers again. The
//! agent owns it and lends it to the steps (`recover`, `switch`, `rollback`, `download`,
//! `plan`), so that the steps never know the agent that calls them. Not for deciding what to
//! do (see `agent`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use super::activation::{self, Activation, Activator};
use super::generations::{Profile, store_path_of};
use super::log::Log;
use super::memory::{Memory, UnderWay};
use crate::client::ApiClient;
use common::config::{DeployMode, RebootPolicy};
use common::protocol::host::{Report, ReportState};

/// Everything a deploy's steps work with.
pub(super) struct Machine<'a> {
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
    /// `deploy.public_keys`; empty: the box's announced build keys.
    pub public_keys: Vec<String>,
    pub profile: Profile,
    pub current_system: PathBuf,
    pub booted_system: PathBuf,
    pub memory: Memory,
    pub api: &'a ApiClient,
    pub log: Log,
}

impl Machine<'_> {
    /// The system that runs now (`deploy.current_system`), if it can be told.
    pub(super) fn running(&self) -> Option<String> {
        store_path_of(&self.current_system).ok()
    }

    /// What counts as deployed: the running system, or in `boot` mode what the profile (the
    /// next boot) points at.
    pub(super) fn installed(&self) -> Result<Option<String>> {
        Ok(match self.mode {
            DeployMode::Boot => self.profile.current()?.map(|g| g.path),
            DeployMode::Switch | DeployMode::Test => self.running(),
        })
    }

    /// The note's mode, else the configured one (a note from before modes were kept).
    pub(super) fn mode_of(&self, note: &UnderWay) -> DeployMode {
        note.mode
            .as_deref()
            .and_then(DeployMode::parse)
            .unwrap_or(self.mode)
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
    pub(super) fn deliver_unsent(&self) -> Result<()> {
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
}
