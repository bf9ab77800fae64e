//! Before anything else, and without the box: finish what the note of an earlier run says was
//! under way. A deploy cut short while switching is carried on (its activation, possibly
//! still running, waited for and run again; its checks; the box is not asked, since it may be
//! the box that is away); a rollback cut short is done again from its first step; a system
//! waiting for a reboot that is now the booted one has its first boot checked, and goes back
//! when the checks fail. Reports are queued when the box cannot take them (see `machine`).

use std::time::Instant;

use anyhow::Result;

use super::activation;
use super::generations::store_path_of;
use super::health;
use super::machine::Machine;
use super::memory::Phase;
use super::outcome::Outcome;
use super::{rollback, switch};
use common::config::DeployMode;
use common::protocol::host::ReportState;

/// The outcome of what was finished; `None` when nothing was under way.
pub(super) fn finish(machine: &Machine<'_>) -> Result<Option<Outcome>> {
    let Some(mut note) = machine.memory.under_way()? else {
        return Ok(None);
    };
    match note.phase {
        Phase::Switching => {
            machine.log.line(&format!(
                "carrying on the deploy of {} begun at {}",
                note.wanted, note.started
            ));
            if let Some(pid) = note.activation_pid.take() {
                activation::wait_for_earlier(
                    pid,
                    Instant::now() + machine.activation_timeout,
                    &machine.log,
                );
            }
            let checks = match health::checks_for(&note.wanted, &machine.checks) {
                Ok(checks) => checks,
                Err(reason) => return rollback::run(machine, note, reason, false).map(Some),
            };
            if machine.mode_of(&note) != DeployMode::Test {
                switch::set_profile(machine, &note.wanted)?;
            }
            switch::carry_on(machine, note, &checks, None).map(Some)
        }
        Phase::RollingBack => {
            machine.log.line(&format!(
                "finishing the rollback from {} begun after: {}",
                note.wanted,
                note.reason.as_deref().unwrap_or("an interrupted deploy")
            ));
            rollback::finish(machine, &note).map(Some)
        }
        Phase::RebootPending => {
            if store_path_of(&machine.booted_system).ok().as_deref() != Some(note.wanted.as_str()) {
                return Ok(None);
            }
            machine.log.line(&format!(
                "first boot of {}: checking it before anything else",
                note.wanted
            ));
            let checks = match health::checks_for(&note.wanted, &machine.checks) {
                Ok(checks) => checks,
                Err(reason) => return rollback::run(machine, note, reason, false).map(Some),
            };
            let deadline = Instant::now() + machine.health_timeout;
            match health::check(&checks, None, deadline, &machine.log)? {
                health::Health::Healthy => {
                    machine.memory.end()?;
                    machine.memory.remember_acted(&note.wanted)?;
                    let path = machine.running().unwrap_or_else(|| note.wanted.clone());
                    Ok(Some(Outcome::Deployed(machine.report(
                        ReportState::Deployed,
                        &path,
                        Some(&note.wanted),
                        Some(format!("{} booted and passed its checks", note.wanted)),
                    ))))
                }
                health::Health::Unhealthy(reason) | health::Health::BoxAway(reason) => {
                    let reason = format!("the first boot of {} failed: {reason}", note.wanted);
                    rollback::run(machine, note, reason, false).map(Some)
                }
            }
        }
    }
}
