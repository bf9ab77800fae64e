//! One turn of the agent: first finish, without the box, whatever an earlier run left under
//! way (see `recover`); then ask the box what this host is to run (its `target`) and decide:
//! act only when the target is new (not the last one this host acted on; on a first run, not
//! what runs), never on a target that failed here or holds pushed paths (unless allowed), and
//! leave a host that runs a system of its own alone (`local`) until a new target or `--now`.
//! The deploy itself is `switch`'s.

use anyhow::Result;

use super::memory::Phase;
use super::outcome::{Outcome, Plan};
use super::target::{Build, HostView};
use super::{download, switch, Agent};
use common::config::DeployMode;
use common::protocol::host::ReportState;

/// What the person asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub dry_run: bool,
    /// Act even when the target is not new.
    pub now: bool,
    /// Forget the paths that failed here first.
    pub retry: bool,
}

pub fn run(agent: &Agent<'_>, options: Options) -> Result<Outcome> {
    if !options.dry_run {
        if let Some(outcome) = super::recover::finish(agent)? {
            return Ok(outcome);
        }
    }
    let host = agent.ask_box()?;
    if !options.dry_run {
        agent.send_unsent();
        forget_on_retry(agent, &host, options.retry)?;
    }
    let Some(target) = host.target().cloned() else {
        return Ok(Outcome::NothingBuilt);
    };
    let wanted = target.path.clone();
    let running = agent.running();
    let here = running.clone().unwrap_or_else(|| wanted.clone());

    if let Some(failed) = agent.memory.failed(&wanted)? {
        let message = format!(
            "not deploying {wanted} again: it failed here at {} ({}); waiting for a newer build or `deploy --retry`",
            failed.at, failed.reason
        );
        return Ok(Outcome::Skipped(agent.report(
            ReportState::RolledBack,
            &here,
            Some(&wanted),
            Some(message),
        )));
    }
    if !target.pushed.is_empty() && !agent.allow_pushed {
        let message = format!(
            "refusing {wanted}: its closure holds {} path(s) that came by push, not built by the box ({}); set deploy.allow_pushed = true to take it",
            target.pushed.len(),
            target.pushed.join(", ")
        );
        return Ok(Outcome::Failed {
            report: agent.report(ReportState::Failed, &here, Some(&wanted), Some(message)),
            code: 1,
            transient: false,
        });
    }
    if let Some(note) = agent.memory.under_way()? {
        if note.phase == Phase::RebootPending && note.wanted == wanted {
            return switch::still_pending(agent, &note, !options.dry_run);
        }
    }
    let installed = agent.installed()?;
    if installed.as_deref() == Some(wanted.as_str()) {
        if !options.dry_run && agent.memory.acted()?.map(|a| a.path) != Some(wanted.clone()) {
            agent.memory.remember_acted(&wanted)?;
        }
        return Ok(Outcome::UpToDate(agent.report(
            ReportState::UpToDate,
            &here,
            Some(&wanted),
            None,
        )));
    }
    let is_new = match agent.memory.acted()? {
        Some(acted) => acted.path != wanted,
        None => true,
    };
    if !is_new && !options.now {
        let message = format!(
            "{} runs {here}, which the box did not give it; left alone until the box has a new target for it or `deploy --now`",
            agent.host
        );
        return Ok(Outcome::Local(agent.report(
            ReportState::Local,
            &here,
            Some(&wanted),
            Some(message),
        )));
    }
    if options.dry_run {
        return Ok(Outcome::DryRun(plan(agent, &host, &target, running)));
    }
    switch::deploy(agent, &target)
}

/// `--retry`, or a `retry_at` from the box not seen before: the failed paths are forgotten.
fn forget_on_retry(agent: &Agent<'_>, host: &HostView, retry: bool) -> Result<()> {
    if let Some(retry_at) = &host.retry_at {
        if agent.memory.retry_seen()?.as_deref() != Some(retry_at.as_str()) {
            if agent.memory.retry_seen()?.is_some() || !agent.memory.failed_paths()?.is_empty() {
                agent.log.line(&format!(
                    "the box asked at {retry_at} to try again: forgetting the systems that failed here"
                ));
            }
            agent.memory.forget_failed()?;
            agent.memory.remember_retry_seen(retry_at)?;
        }
    }
    if retry {
        agent
            .log
            .line("--retry: forgetting the systems that failed here");
        agent.memory.forget_failed()?;
    }
    Ok(())
}

fn plan(agent: &Agent<'_>, host: &HostView, target: &Build, running: Option<String>) -> Plan {
    let profile = agent.profile.path().display().to_string();
    let mode = agent.mode.as_str();
    let wanted = &target.path;
    let keys = if agent.public_keys.is_empty() {
        vec!["<the box's build keys>".to_string()]
    } else {
        agent.public_keys.clone()
    };
    let shell = |args: Vec<String>| {
        args.iter()
            .map(|a| {
                if a.is_empty() || a.contains(' ') || a.contains('<') {
                    format!("'{a}'")
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut steps = vec![
        format!(
            "nix {}",
            shell(download::copy_args(agent.api.base(), wanted, &keys))
        ),
        format!(
            "nix {}",
            shell(download::verify_args(agent.api.base(), wanted, &keys))
        ),
        format!(
            "compare the NarHash of every path of {wanted} here with the box's (nix path-info --json --recursive)"
        ),
    ];
    if agent.mode != DeployMode::Test {
        steps.push(format!("nix-env -p {profile} --set {wanted}"));
    }
    steps.push(agent.activator.argv(wanted, mode).join(" "));
    if agent.mode != DeployMode::Boot {
        let checks = super::health::checks_for(wanted, &agent.checks).unwrap_or_default();
        for check in checks {
            steps.push(format!("health check {check:?}"));
        }
        steps.push(format!("wait for {} to answer", agent.api.base()));
    }
    Plan {
        host: host.name.clone(),
        from: running,
        to: wanted.to_string(),
        rev: target.rev.clone(),
        job: target.job,
        mode: mode.to_string(),
        steps,
    }
}
