//! Going back, in the order that leaves the host safe when it is cut short at any point: the
//! note says "rolling back" first; then the profile returns to the generation that was
//! current before the deploy (read before the new one was made, so an earlier rollback cannot
//! mislead it) and the failed generation is deleted; then the old system is activated again
//! (after a failed first boot: made the boot default, then switched to); only then is the
//! failure remembered (never for a passing trouble) and the note cleared. A run killed midway
//! does it all again from the note (see `recover`): every step is safe to repeat.
//! `deploy --rollback` goes back one generation by hand. Never to a path that failed here.

use anyhow::{Context, Result};

use super::bounded::with_output;
use super::generations::Generation;
use super::machine::Machine;
use super::memory::{Phase, UnderWay};
use super::outcome::Outcome;
use common::config::DeployMode;
use common::exit::usage;
use common::protocol::host::ReportState;

/// Rolls back the deploy `note` describes, which failed for `reason`.
pub(super) fn run(
    machine: &Machine<'_>,
    mut note: UnderWay,
    reason: String,
    transient: bool,
) -> Result<Outcome> {
    note.first_boot = note.phase == Phase::RebootPending;
    note.phase = Phase::RollingBack;
    note.reason = Some(reason);
    note.transient = transient;
    note.activation_pid = None;
    machine.memory.begin(&note)?;
    finish(machine, &note)
}

/// Carries out (or on again) the rollback a note in phase `rolling_back` describes.
pub(super) fn finish(machine: &Machine<'_>, note: &UnderWay) -> Result<Outcome> {
    let wanted = note.wanted.clone();
    let reason = note.reason.clone().unwrap_or_else(|| "interrupted".into());
    let first_boot = note.first_boot;
    let mode = if first_boot {
        DeployMode::Switch
    } else {
        machine.mode_of(note)
    };
    machine.log.line(&format!("rolling back: {reason}"));
    let mut message = reason.clone();
    let old = if mode == DeployMode::Test {
        note.before_running.clone().filter(|p| *p != wanted)
    } else {
        profile_back(machine, note.before.clone(), &wanted, &mut message)?
    };
    match &old {
        Some(old) => {
            let modes: &[&str] = if first_boot {
                &["boot", "switch"]
            } else {
                &[mode.as_str()]
            };
            for mode in modes {
                let activated = machine.activate(old, mode, None)?;
                if activated.ended != super::activation::Ended::Succeeded {
                    message.push_str(&format!(
                        "; activating the previous system {old} ({mode}) again also failed: {}",
                        with_output(activated.ended.to_string(), &activated.output)
                    ));
                }
            }
        }
        None => message.push_str("; there was no earlier system to return to"),
    }
    if note.transient {
        message.push_str("; not held against this build: it is tried again later");
    } else {
        machine.memory.remember_failed(&wanted, &reason)?;
        machine.memory.remember_acted(&wanted)?;
    }
    machine.memory.end()?;
    let path = machine
        .running()
        .or_else(|| old.clone())
        .unwrap_or_else(|| wanted.clone());
    Ok(Outcome::RolledBack {
        report: machine.report(ReportState::RolledBack, &path, Some(&wanted), Some(message)),
        transient: note.transient,
    })
}

/// Returns the profile to `before` (or the newest generation older than the failed one that
/// did not fail here) and deletes the failed generations; the system to activate again.
fn profile_back(
    machine: &Machine<'_>,
    before: Option<Generation>,
    wanted: &str,
    message: &mut String,
) -> Result<Option<String>> {
    let current = machine.profile.current()?;
    let back = match before.filter(|b| b.path != wanted) {
        Some(before) => Some(before),
        None => match &current {
            Some(current) => older_than(machine, current.number + 1, wanted)?,
            None => None,
        },
    };
    let Some(back) = back else {
        // A first deploy that failed: no profile at all again.
        for generation in machine.profile.generations()? {
            if generation.path == wanted {
                machine.profile.remove(generation.number)?;
            }
        }
        return Ok(None);
    };
    if current.as_ref().map(|c| c.number) != Some(back.number) {
        machine
            .profile
            .switch_to(back.number)
            .context("going back to the generation from before failed")?;
    }
    for generation in machine.profile.generations()? {
        if generation.number > back.number
            && generation.path == wanted
            && let Err(e) = machine.profile.delete(generation.number)
        {
            message.push_str(&format!(
                "; the failed generation {} could not be deleted: {e:#}",
                generation.number
            ));
        }
    }
    Ok(Some(back.path))
}

/// `deploy --rollback`: the generation before the current one becomes current and is
/// activated; the one left is remembered as unwanted.
pub(super) fn by_hand(machine: &Machine<'_>) -> Result<Outcome> {
    let current = machine.profile.current()?.ok_or_else(|| {
        usage(format!(
            "there is nothing to roll back: the profile {} does not exist",
            machine.profile.path().display()
        ))
    })?;
    let target = older_than(machine, current.number, &current.path)?.ok_or_else(|| {
        usage(format!(
            "there is no earlier generation of {} to go back to (that did not fail here)",
            machine.profile.path().display()
        ))
    })?;
    machine.log.line(&format!(
        "rolling back by hand from generation {} ({}) to {} ({})",
        current.number, current.path, target.number, target.path
    ));
    machine
        .profile
        .switch_to(target.number)
        .context("going back a generation failed")?;
    let activated = machine.activate(&target.path, machine.mode.as_str(), None)?;
    let reason = format!("rolled back by hand from {}", current.path);
    machine.memory.remember_failed(&current.path, &reason)?;
    machine.memory.remember_acted(&current.path)?;
    // A deploy that was under way is over: the profile is where the person put it.
    machine.memory.end()?;
    let (message, code) = match activated.ended {
        super::activation::Ended::Succeeded => (reason, 0),
        other => (
            format!(
                "{reason}; activating {} failed: {}",
                target.path,
                with_output(other.to_string(), &activated.output)
            ),
            1,
        ),
    };
    let path = machine.running().unwrap_or_else(|| target.path.clone());
    Ok(Outcome::RolledBackByHand {
        report: machine.report(
            ReportState::RolledBack,
            &path,
            Some(&current.path),
            Some(message),
        ),
        code,
    })
}

/// The newest generation older than `number` that is neither `not` nor failed here.
fn older_than(machine: &Machine<'_>, number: u64, not: &str) -> Result<Option<Generation>> {
    let failed: Vec<String> = machine
        .memory
        .failed_paths()?
        .into_iter()
        .map(|f| f.path)
        .collect();
    Ok(machine
        .profile
        .generations()?
        .into_iter()
        .rev()
        .find(|g| g.number < number && g.path != not && !failed.contains(&g.path)))
}
