//! The deploy of a new target, step by step: download it (see `download`), read its checks,
//! write the note, move the profile (not in `test` mode), activate it (see `activation`),
//! check its health, and then either done, waiting for a reboot, or rolled back (see
//! `rollback`). The note is written before anything on the host changes and says how far it
//! got, so a run killed at any point is finished by the next (see `recover`).

use std::time::Instant;

use anyhow::Result;

use super::activation::{self, Ended, SWITCH_LOCK};
use super::bounded::with_output;
use super::download;
use super::generations::Generation;
use super::health::{self, Health};
use super::machine::Machine;
use super::memory::{Phase, UnderWay};
use super::outcome::Outcome;
use super::reboot;
use super::rollback;
use super::target::Build;
use crate::client::ApiClient;
use common::config::{DeployMode, RebootPolicy};
use common::exit::USAGE;
use common::protocol::host::ReportState;
use common::timestamp::now;

pub(super) fn deploy(machine: &Machine<'_>, target: &Build) -> Result<Outcome> {
    let wanted = target.path.clone();
    let running = machine.running();
    let mut before = machine.profile.current()?;
    if let Some(note) = machine.memory.under_way()? {
        // A boot-mode system still waiting for its first boot was never checked: going back
        // from the next one returns to what ran before it.
        if note.phase == Phase::RebootPending && note.mode.as_deref() == Some("boot") {
            before = note.before;
        }
    }
    let here = running
        .clone()
        .or_else(|| before.as_ref().map(|b| b.path.clone()))
        .unwrap_or_else(|| wanted.clone());
    machine.send(&machine.report(ReportState::Deploying, &here, Some(&wanted), None))?;

    let keys = download::trusted_keys(machine)?;
    machine.log.line(&format!(
        "downloading {wanted} from {} (trusting {})",
        machine.api.base(),
        keys.join(" ")
    ));
    if let Err(refusal) = download::fetch(machine, &wanted, &keys)? {
        if refusal.system_at_fault {
            machine.memory.remember_failed(&wanted, &refusal.reason)?;
            machine.memory.remember_acted(&wanted)?;
        }
        return Ok(Outcome::Failed {
            report: machine.report(
                ReportState::Failed,
                &here,
                Some(&wanted),
                Some(refusal.reason),
            ),
            code: refusal.code,
            transient: refusal.code == common::exit::SERVER,
        });
    }
    let checks = match health::checks_for(&wanted, &machine.checks) {
        Ok(checks) => checks,
        Err(reason) => {
            machine.memory.remember_failed(&wanted, &reason)?;
            machine.memory.remember_acted(&wanted)?;
            return Ok(Outcome::Failed {
                report: machine.report(ReportState::Failed, &here, Some(&wanted), Some(reason)),
                code: 1,
                transient: false,
            });
        }
    };
    if activation::switch_lock_held(std::path::Path::new(SWITCH_LOCK)) {
        let reason = format!(
            "another switch holds {SWITCH_LOCK} (a nixos-rebuild by hand?); trying again later"
        );
        return Ok(Outcome::Failed {
            report: machine.report(ReportState::Failed, &here, Some(&wanted), Some(reason)),
            code: USAGE,
            transient: true,
        });
    }

    let note = UnderWay {
        wanted: wanted.clone(),
        before,
        started: now(),
        before_running: running,
        mode: Some(machine.mode.as_str().to_string()),
        phase: Phase::Switching,
        reason: None,
        transient: false,
        activation_pid: None,
        first_boot: false,
    };
    machine.memory.begin(&note)?;
    if machine.mode != DeployMode::Test
        && let Err(e) = set_profile(machine, &wanted)
    {
        machine.memory.end()?;
        return Ok(Outcome::Failed {
            report: machine.report(
                ReportState::Failed,
                &here,
                Some(&wanted),
                Some(format!("{e:#}")),
            ),
            code: 1,
            transient: false,
        });
    }
    carry_on(machine, note, &checks, Some(machine.api))
}

/// Activation, checks, and the end of the deploy the note describes (the profile already
/// moved); shared with `recover`, which passes no box.
pub(super) fn carry_on(
    machine: &Machine<'_>,
    mut note: UnderWay,
    checks: &[String],
    the_box: Option<&ApiClient>,
) -> Result<Outcome> {
    let wanted = note.wanted.clone();
    let mode = machine.mode_of(&note);
    let activation = machine.activate(&wanted, mode.as_str(), Some(&mut note))?;
    match activation.ended {
        Ended::Succeeded => {}
        Ended::Failed(status) => {
            let reason = with_output(format!("activation failed ({status})"), &activation.output);
            return rollback::run(machine, note, reason, false);
        }
        Ended::LockHeld => {
            let reason = with_output(
                "another switch holds the lock (a nixos-rebuild by hand?)".to_string(),
                &activation.output,
            );
            return rollback::run(machine, note, reason, true);
        }
        Ended::NotStarted(why) => {
            let reason = format!("the activation could not start: {why}");
            return rollback::run(machine, note, reason, true);
        }
        Ended::TimedOut => {
            let reason = with_output(
                format!(
                    "activation did not finish within deploy.activation_timeout ({}); it was stopped",
                    humantime::format_duration(machine.activation_timeout)
                ),
                &activation.output,
            );
            return rollback::run(machine, note, reason, true);
        }
    }
    if mode == DeployMode::Boot {
        let message =
            format!("{wanted} is the boot default; it runs (and is checked) after the next boot");
        return pending(machine, note, message);
    }
    let deadline = Instant::now() + machine.health_timeout;
    match health::check(checks, the_box, deadline, &machine.log)? {
        Health::Healthy => {}
        Health::Unhealthy(reason) => return rollback::run(machine, note, reason, false),
        Health::BoxAway(reason) => return rollback::run(machine, note, reason, true),
    }
    if mode == DeployMode::Switch && reboot::differs_from_booted(&machine.booted_system, &wanted) {
        let message = format!(
            "{wanted} runs and passed its checks; its kernel, initrd or modules differ from the booted ones, so it needs a reboot (its first boot is checked too)"
        );
        return pending(machine, note, message);
    }
    machine.memory.end()?;
    machine.memory.remember_acted(&wanted)?;
    Ok(Outcome::Deployed(machine.report(
        ReportState::Deployed,
        &wanted,
        Some(&wanted),
        None,
    )))
}

/// Deployed for the next boot: the note stays (its first boot is checked), reboot maybe.
fn pending(machine: &Machine<'_>, mut note: UnderWay, message: String) -> Result<Outcome> {
    note.phase = Phase::RebootPending;
    note.activation_pid = None;
    machine.memory.begin(&note)?;
    machine.memory.remember_acted(&note.wanted)?;
    let here = machine.running().unwrap_or_else(|| note.wanted.clone());
    let report = machine.report(
        ReportState::RebootNeeded,
        &here,
        Some(&note.wanted),
        Some(message),
    );
    maybe_reboot(machine, report)
}

/// The target waits for a reboot (an earlier run deployed it); `may_reboot` is false for a
/// dry run.
pub(super) fn still_pending(
    machine: &Machine<'_>,
    note: &UnderWay,
    may_reboot: bool,
) -> Result<Outcome> {
    let here = machine.running().unwrap_or_else(|| note.wanted.clone());
    let message = format!(
        "{} waits for a reboot into it (deployed at {})",
        note.wanted, note.started
    );
    let report = machine.report(
        ReportState::RebootNeeded,
        &here,
        Some(&note.wanted),
        Some(message),
    );
    if !may_reboot {
        return Ok(Outcome::RebootNeeded(report));
    }
    maybe_reboot(machine, report)
}

/// Reboots when `deploy.reboot = "window"` and the window is open; the report goes first,
/// since the agent may not get to send it after.
fn maybe_reboot(
    machine: &Machine<'_>,
    mut report: common::protocol::host::Report,
) -> Result<Outcome> {
    if machine.reboot == RebootPolicy::Window
        && reboot::in_window(machine.reboot_window, reboot::local_minute())
    {
        let message = report.message.take().unwrap_or_default();
        report.message = Some(format!(
            "{message}; rebooting now (inside deploy.reboot_window)"
        ));
        machine.send_or_queue(&report);
        if let Err(why) = reboot::reboot(&machine.reboot_command, &machine.log)? {
            report.message = Some(format!("{message}; the reboot failed: {why}"));
        }
    }
    Ok(Outcome::RebootNeeded(report))
}

/// The profile's new generation for `path` (or its current one, when it already is `path`:
/// a deploy killed after this step).
pub(super) fn set_profile(machine: &Machine<'_>, path: &str) -> Result<Generation> {
    if let Some(current) = machine.profile.current()?
        && current.path == path
    {
        return Ok(current);
    }
    machine.profile.set(path)
}
