//! The deploy agent, read top to bottom: one turn first finishes, without the box, whatever
//! an earlier run left under way (see `recover`); then asks the box what this host is to run
//! (its `target`) and decides: act only when the target is new (not the last one this host
//! acted on; on a first run, not what runs), never on a target that failed here or holds
//! pushed paths (unless allowed), and leave a host that runs a system of its own alone
//! (`local`) until a new target or `--now`. The deploy itself is `switch`'s, going back is
//! `rollback`'s. Then the box is told: the report of each outcome, and the reports it could
//! not take, kept in the deploy state dir (see `memory`) and sent oldest first when it answers
//! again, so that what the host did while the box was away is never lost. The agent decides
//! and calls the steps; they work on the `machine` it lends them (what runs, activation, the
//! reports) and never call back into it. Not for the command line or `--watch`'s loop (see
//! `mod.rs` and `watch`), nor for what each outcome says (see `outcome`).

use std::io::Write;

use anyhow::Result;

use super::lock::{self, DeployLock};
use super::machine::Machine;
use super::memory::Phase;
use super::outcome::Outcome;
use super::plan::Plan;
use super::target::HostView;
use super::{recover, rollback, switch};
use common::exit::{Exit, SERVER, USAGE};
use common::protocol::host::ReportState;

/// The agent: the machine it deploys to, which it lends to the steps, and what only the
/// decision needs.
pub(super) struct Agent<'a> {
    pub machine: Machine<'a>,
    pub allow_pushed: bool,
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
        let machine = &self.machine;
        machine.memory.ensure()?;
        match lock::take(machine.memory.dir(), what)? {
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
        let machine = &self.machine;
        if !options.dry_run
            && let Some(outcome) = recover::finish(machine)?
        {
            return Ok(outcome);
        }
        let host = self.ask_box()?;
        if !options.dry_run {
            machine.send_unsent();
            self.forget_on_retry(&host, options.retry)?;
        }
        let Some(target) = host.target().cloned() else {
            return Ok(Outcome::NothingBuilt);
        };
        let wanted = target.path.clone();
        let running = machine.running();
        let here = running.clone().unwrap_or_else(|| wanted.clone());

        if let Some(failed) = machine.memory.failed(&wanted)? {
            let message = format!(
                "not deploying {wanted} again: it failed here at {} ({}); waiting for a newer build or `deploy --retry`",
                failed.at, failed.reason
            );
            return Ok(Outcome::Skipped(machine.report(
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
                report: machine.report(ReportState::Failed, &here, Some(&wanted), Some(message)),
                code: 1,
                transient: false,
            });
        }
        if let Some(note) = machine.memory.under_way()?
            && note.phase == Phase::RebootPending
            && note.wanted == wanted
        {
            return switch::still_pending(machine, &note, !options.dry_run);
        }
        let installed = machine.installed()?;
        if installed.as_deref() == Some(wanted.as_str()) {
            if !options.dry_run && machine.memory.acted()?.map(|a| a.path) != Some(wanted.clone()) {
                machine.memory.remember_acted(&wanted)?;
            }
            return Ok(Outcome::UpToDate(machine.report(
                ReportState::UpToDate,
                &here,
                Some(&wanted),
                None,
            )));
        }
        let is_new = match machine.memory.acted()? {
            Some(acted) => acted.path != wanted,
            None => true,
        };
        if !is_new && !options.now {
            let message = format!(
                "{} runs {here}, which the box did not give it; left alone until the box has a new target for it or `deploy --now`",
                machine.host
            );
            return Ok(Outcome::Local(machine.report(
                ReportState::Local,
                &here,
                Some(&wanted),
                Some(message),
            )));
        }
        if options.dry_run {
            return Ok(Outcome::DryRun(Plan::new(machine, &host, &target, running)));
        }
        switch::deploy(machine, &target)
    }

    /// `deploy --rollback`: back one generation by hand (see `rollback`).
    pub(super) fn roll_back_by_hand(&self) -> Result<Outcome> {
        rollback::by_hand(&self.machine)
    }

    /// This host as the box sees it.
    fn ask_box(&self) -> Result<HostView> {
        let machine = &self.machine;
        let value = machine
            .api
            .get_json(&format!("/api/v1/hosts/{}", machine.host))?;
        serde_json::from_value(value).map_err(|e| {
            Exit {
                code: SERVER,
                message: format!(
                    "the box at {} answered with a host this deploy does not understand: {e}",
                    machine.api.base()
                ),
            }
            .into()
        })
    }

    /// `--retry`, or a `retry_at` from the box not seen before: the failed paths are forgotten.
    fn forget_on_retry(&self, host: &HostView, retry: bool) -> Result<()> {
        let machine = &self.machine;
        if let Some(retry_at) = &host.retry_at
            && machine.memory.retry_seen()?.as_deref() != Some(retry_at.as_str())
        {
            if machine.memory.retry_seen()?.is_some() || !machine.memory.failed_paths()?.is_empty()
            {
                machine.log.line(&format!(
                        "the box asked at {retry_at} to try again: forgetting the systems that failed here"
                    ));
            }
            machine.memory.forget_failed()?;
            machine.memory.remember_retry_seen(retry_at)?;
        }
        if retry {
            machine
                .log
                .line("--retry: forgetting the systems that failed here");
            machine.memory.forget_failed()?;
        }
        Ok(())
    }

    /// Reports the outcome, tells the person or script, and gives its exit code.
    pub(super) fn finish(
        &self,
        outcome: &Outcome,
        report: bool,
        json: bool,
        out: &mut dyn Write,
    ) -> Result<i32> {
        let machine = &self.machine;
        let code = outcome.exit_code();
        let mut undelivered = None;
        if let Some(report) = outcome.report().filter(|_| report)
            && let Err(e) = machine.deliver_unsent().and_then(|()| machine.send(report))
        {
            if !outcome.changed_the_host() {
                return Err(e);
            }
            // What the host did stands; the box hears of it when it answers again.
            machine.memory.queue(report)?;
            undelivered = Some(e);
        }
        if json {
            writeln!(out, "{}", outcome.json(&machine.host))?;
        } else {
            writeln!(out, "{}", outcome.summary(&machine.host))?;
        }
        out.flush()?;
        match undelivered {
            Some(e) => Err(e.context("the report is kept and sent when the box answers")),
            None => Ok(code),
        }
    }
}
