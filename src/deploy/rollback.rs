//! Going back: after a failed activation or health check, the profile returns to the
//! generation that was current before the deploy (read before the new one was made, so an
//! earlier rollback cannot mislead it), the failed generation is deleted, the old system is
//! activated again in the same mode, and the failed path is remembered. `deploy --rollback`
//! goes back one generation by hand the same way. Never to a path that failed here.

use std::time::Instant;

use anyhow::{Context, Result};

use super::generations::Generation;
use super::outcome::Outcome;
use super::Agent;
use crate::exit::usage;
use crate::protocol::host::ReportState;

/// Rolls back a deploy of `wanted` (now generation `new`) that failed for `reason`.
pub fn after_failure(
    agent: &Agent<'_>,
    before: Option<Generation>,
    new: Generation,
    wanted: &str,
    reason: String,
) -> Result<Outcome> {
    agent.log.line(&format!("rolling back: {reason}"));
    agent.memory.remember_failed(wanted, &reason)?;
    let target = match before.filter(|b| b.path != wanted) {
        Some(before) => Some(before),
        None => older_than(agent, new.number, wanted)?,
    };
    let mut message = reason;
    match &target {
        Some(target) => {
            agent.profile.switch_to(target.number)?;
            if let Err(e) = agent.profile.delete(new.number) {
                agent
                    .log
                    .line(&format!("could not delete the failed generation: {e:#}"));
            }
            let deadline = Instant::now() + agent.health_timeout;
            if let Err(again) = agent.activate(&target.path, deadline)? {
                message.push_str(&format!(
                    "; activating the previous system {} again also failed: {again}",
                    target.path
                ));
            }
        }
        None => {
            agent.profile.remove(new.number)?;
            message.push_str("; there was no earlier generation to return to");
        }
    }
    agent.memory.end()?;
    let path = agent
        .running()
        .or_else(|| target.as_ref().map(|t| t.path.clone()))
        .unwrap_or_else(|| wanted.to_string());
    Ok(Outcome::RolledBack(agent.report(
        ReportState::RolledBack,
        &path,
        Some(wanted),
        Some(message),
    )))
}

/// `deploy --rollback`: the generation before the current one becomes current and is
/// activated; the one left is remembered as unwanted.
pub fn by_hand(agent: &Agent<'_>) -> Result<Outcome> {
    let current = agent.profile.current()?.ok_or_else(|| {
        usage(format!(
            "there is nothing to roll back: the profile {} does not exist",
            agent.profile.path().display()
        ))
    })?;
    let target = older_than(agent, current.number, &current.path)?.ok_or_else(|| {
        usage(format!(
            "there is no earlier generation of {} to go back to (that did not fail here)",
            agent.profile.path().display()
        ))
    })?;
    agent.log.line(&format!(
        "rolling back by hand from generation {} ({}) to {} ({})",
        current.number, current.path, target.number, target.path
    ));
    agent
        .profile
        .switch_to(target.number)
        .context("going back a generation failed")?;
    let reason = format!("rolled back by hand from {}", current.path);
    agent.memory.remember_failed(&current.path, &reason)?;
    // A deploy that was under way is over: the profile is where the person put it.
    agent.memory.end()?;
    let deadline = Instant::now() + agent.health_timeout;
    let activated = agent.activate(&target.path, deadline)?;
    let (message, code) = match activated {
        Ok(()) => (reason, 0),
        Err(why) => (
            format!("{reason}; activating {} failed: {why}", target.path),
            1,
        ),
    };
    let path = agent.running().unwrap_or_else(|| target.path.clone());
    Ok(Outcome::RolledBackByHand {
        report: agent.report(
            ReportState::RolledBack,
            &path,
            Some(&current.path),
            Some(message),
        ),
        code,
    })
}

/// The newest generation older than `number` that is neither `not` nor failed here.
fn older_than(agent: &Agent<'_>, number: u64, not: &str) -> Result<Option<Generation>> {
    let failed: Vec<String> = agent
        .memory
        .failed_paths()?
        .into_iter()
        .map(|f| f.path)
        .collect();
    Ok(agent
        .profile
        .generations()?
        .into_iter()
        .rev()
        .find(|g| g.number < number && g.path != not && !failed.contains(&g.path)))
}
