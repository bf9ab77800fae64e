//! One deploy, step by step: ask the box for this host's newest successful system, stop when
//! it already runs (or failed here before), download it through the box's cache (never
//! building), make it the profile's new generation, activate it, check its health, and roll
//! back when activation or a check fails. Every step that changes the host is preceded by the
//! "under way" note, so a run killed at any point is carried on by the next.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::bounded;
use super::generations::Generation;
use super::health;
use super::memory::UnderWay;
use super::outcome::{Outcome, Plan};
use super::rollback;
use super::Agent;
use crate::config::DeployMode;
use crate::exit::SERVER;
use crate::protocol::host::{Host, Report, ReportState};
use crate::timestamp::now;

/// A download has no deadline of its own; this only stops one that hangs forever.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

pub fn run(agent: &Agent<'_>, dry_run: bool) -> Result<Outcome> {
    let host = agent.ask_box()?;
    let Some(latest) = host.latest.clone() else {
        return Ok(Outcome::NothingBuilt);
    };
    let wanted = latest.path.clone();
    let under_way = agent.memory.under_way()?;
    let running = agent.running();
    let interrupted = under_way.is_some();
    if !interrupted && agent.installed()?.as_deref() == Some(wanted.as_str()) {
        let path = running.clone().unwrap_or_else(|| wanted.clone());
        return Ok(Outcome::UpToDate(agent.report(
            ReportState::UpToDate,
            &path,
            Some(&wanted),
            None,
        )));
    }
    if let Some(failed) = agent.memory.failed(&wanted)? {
        let message = format!(
            "not deploying {wanted} again: it failed here at {} ({}); waiting for a newer build",
            failed.at, failed.reason
        );
        let path = running.clone().unwrap_or_else(|| wanted.clone());
        return Ok(Outcome::Skipped(agent.report(
            ReportState::RolledBack,
            &path,
            Some(&wanted),
            Some(message),
        )));
    }
    let before = match &under_way {
        Some(note) => note.before.clone(),
        None => agent.profile.current()?,
    };
    if dry_run {
        return Ok(Outcome::DryRun(plan(agent, &host, running, &wanted)));
    }
    if let Some(note) = &under_way {
        agent.log.line(&format!(
            "carrying on the deploy of {} begun at {}",
            note.wanted, note.started
        ));
    }
    let running_now = running
        .clone()
        .or_else(|| before.as_ref().map(|b| b.path.clone()))
        .unwrap_or_else(|| wanted.clone());
    agent.send(&agent.report(ReportState::Deploying, &running_now, Some(&wanted), None))?;
    agent.memory.begin(&UnderWay {
        wanted: wanted.clone(),
        before: before.clone(),
        started: now(),
    })?;

    agent
        .log
        .line(&format!("downloading {wanted} from {}", agent.api.base()));
    if let Err(reason) = download(agent, &wanted)? {
        agent.memory.end()?;
        return Ok(Outcome::Failed {
            report: agent.report(
                ReportState::Failed,
                &running_now,
                Some(&wanted),
                Some(reason),
            ),
            code: SERVER,
        });
    }
    let new_generation = match set_profile(agent, &wanted) {
        Ok(generation) => generation,
        Err(e) => {
            agent.memory.end()?;
            return Ok(Outcome::Failed {
                report: agent.report(
                    ReportState::Failed,
                    &running_now,
                    Some(&wanted),
                    Some(format!("{e:#}")),
                ),
                code: 1,
            });
        }
    };

    let deadline = Instant::now() + agent.health_timeout;
    let activated = agent.activate(&wanted, deadline)?;
    if let Err(reason) = activated {
        return rollback::after_failure(agent, before, new_generation, &wanted, reason);
    }
    if agent.mode != DeployMode::Boot {
        if let Err(reason) = health::check(&agent.checks, agent.api, deadline, &agent.log)? {
            return rollback::after_failure(agent, before, new_generation, &wanted, reason);
        }
    }
    agent.memory.end()?;
    let path = match agent.mode {
        DeployMode::Boot => agent.running().unwrap_or_else(|| wanted.clone()),
        DeployMode::Switch | DeployMode::Test => wanted.clone(),
    };
    let message = (agent.mode == DeployMode::Boot)
        .then(|| format!("{wanted} is the boot default; it runs after the next boot"));
    Ok(Outcome::Deployed(agent.report(
        ReportState::Deployed,
        &path,
        Some(&wanted),
        message,
    )))
}

/// `nix-store --realise PATH` with the box (and after it the bucket it publishes to, see
/// `sources`) as the only substituters, no remembered misses, and no local or remote builds:
/// the path comes from the cache, signature checked, or not at all.
fn download(agent: &Agent<'_>, path: &str) -> Result<Result<(), String>> {
    let mut command = Command::new("nix-store");
    command.args(download_args(
        &super::sources::substituters(agent.api),
        path,
    ));
    let finished = bounded::run(
        command,
        Instant::now() + DOWNLOAD_TIMEOUT,
        Some(agent.log.boxed()),
    )?;
    if finished.succeeded() {
        return Ok(Ok(()));
    }
    Ok(Err(health::with_output(
        format!(
            "the box's cache at {} could not give {path} (nothing is built here)",
            agent.api.base()
        ),
        &finished.output,
    )))
}

fn download_args(cache: &str, path: &str) -> Vec<String> {
    [
        "--realise",
        path,
        "--option",
        "substituters",
        cache,
        "--option",
        "narinfo-cache-negative-ttl",
        "0",
        "--option",
        "max-jobs",
        "0",
        "--option",
        "builders",
        "",
        "--option",
        "fallback",
        "false",
    ]
    .map(str::to_string)
    .to_vec()
}

/// The profile's new generation for `path` (or its current one, when it already is `path`:
/// a deploy killed after this step).
fn set_profile(agent: &Agent<'_>, path: &str) -> Result<Generation> {
    if let Some(current) = agent.profile.current()? {
        if current.path == path {
            return Ok(current);
        }
    }
    agent.profile.set(path)
}

fn plan(agent: &Agent<'_>, host: &Host, running: Option<String>, wanted: &str) -> Plan {
    let profile = agent.profile.path().display().to_string();
    let mode = agent.mode.as_str();
    let mut steps = vec![
        format!(
            "nix-store {}",
            download_args(agent.api.base(), wanted)
                .iter()
                .map(|a| if a.is_empty() {
                    "''".to_string()
                } else {
                    a.clone()
                })
                .collect::<Vec<_>>()
                .join(" ")
        ),
        format!("nix-env -p {profile} --set {wanted}"),
        format!("{wanted}/bin/switch-to-configuration {mode}"),
    ];
    if agent.mode != DeployMode::Boot {
        for check in &agent.checks {
            steps.push(format!("sh -c {check:?}"));
        }
        steps.push(format!("wait for {} to answer", agent.api.base()));
    }
    Plan {
        host: host.name.clone(),
        from: running,
        to: wanted.to_string(),
        rev: host.latest.as_ref().map(|l| l.rev.clone()),
        job: host.latest.as_ref().map(|l| l.job),
        mode: mode.to_string(),
        steps,
    }
}

impl Agent<'_> {
    /// A report about `wanted` (the box's newest build of this host), saying what runs now.
    pub fn report(
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

    /// `PATH/bin/switch-to-configuration MODE`, bounded by `deadline`, with the agent's
    /// environment; `Err(reason)` when it failed or hung.
    pub fn activate(&self, path: &str, deadline: Instant) -> Result<Result<(), String>> {
        let mode = self.mode.as_str();
        self.log.line(&format!("activating {path} ({mode})"));
        let mut command = Command::new(format!("{path}/bin/switch-to-configuration"));
        command.arg(mode);
        let finished = match bounded::run(command, deadline, Some(self.log.boxed())) {
            Ok(finished) => finished,
            Err(e) => return Ok(Err(format!("activation could not start: {e:#}"))),
        };
        Ok(match finished.ended {
            bounded::Ended::Succeeded => Ok(()),
            bounded::Ended::Failed(status) => Err(health::with_output(
                format!("activation failed ({status})"),
                &finished.output,
            )),
            bounded::Ended::TimedOut => Err(health::with_output(
                format!(
                    "activation did not finish within the health timeout ({}); it was killed",
                    humantime::format_duration(self.health_timeout)
                ),
                &finished.output,
            )),
        })
    }
}
