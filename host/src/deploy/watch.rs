//! `deploy --watch`: the agent's turns, one every `deploy.interval` for as long as it runs,
//! and the waits between them. Not for what a turn does (see `agent`).

use std::io::Write;
use std::time::Duration;

use anyhow::Result;

use super::agent::{Agent, Options};
use super::lock;
use super::outcome::Outcome;
use common::config::DeployMode;
use common::exit::{SERVER, code_of};

/// The longest wait between asks while the box cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// `--watch`: a deploy every `interval`, each ask also the host's heartbeat. An unreachable
/// box, or a passing trouble (a held switch lock, a timeout), is waited out with backoff (the
/// host keeps what it runs); a held deploy lock skips a turn.
pub(super) fn run(
    agent: &Agent<'_>,
    once: Options,
    interval: Duration,
    json: bool,
    restart_after_switch: bool,
    out: &mut dyn Write,
) -> Result<()> {
    agent.machine.memory.ensure()?;
    agent.machine.log.line(&format!(
        "watching {} for new builds of {} every {}",
        agent.machine.api.base(),
        agent.machine.host,
        humantime::format_duration(interval)
    ));
    let mut wait = interval;
    // --now and --retry are for the first turn only.
    let mut options = once;
    loop {
        let turn = match lock::take(agent.machine.memory.dir(), "deploy --watch")? {
            lock::Taken::Held(holder) => {
                agent
                    .machine
                    .log
                    .line(&format!("skipping a turn: {holder} holds the deploy lock"));
                Ok(Turn::Done)
            }
            lock::Taken::Ours(_lock) => {
                let turn = agent.turn(options);
                options = Options::default();
                turn.and_then(|outcome| {
                    agent.finish(&outcome, true, json, out)?;
                    Ok(if outcome.is_transient() {
                        Turn::Transient
                    } else if matches!(outcome, Outcome::Deployed(_))
                        && agent.machine.mode != DeployMode::Boot
                    {
                        Turn::Switched
                    } else {
                        Turn::Done
                    })
                })
            }
        };
        wait = match turn {
            Ok(Turn::Switched) if restart_after_switch => {
                agent
                    .machine
                    .log
                    .line("the new system runs; ending so that its own agent takes over");
                return Ok(());
            }
            Ok(Turn::Transient) => {
                let next = (wait * 2).min(MAX_BACKOFF.max(interval));
                agent.machine.log.line(&format!(
                    "a passing trouble; trying again in {}",
                    humantime::format_duration(next)
                ));
                next
            }
            Ok(_) => interval,
            Err(e) if code_of(&e) == SERVER => {
                let next = (wait * 2).min(MAX_BACKOFF.max(interval));
                agent.machine.log.line(&format!(
                    "{e:#}; asking again in {}",
                    humantime::format_duration(next)
                ));
                next
            }
            Err(e) => {
                agent.machine.log.line(&format!("error: {e:#}"));
                interval
            }
        };
        std::thread::sleep(wait);
    }
}

/// How a turn of `--watch` went.
enum Turn {
    Done,
    /// A new system runs (under systemd, the agent ends so the new one's agent takes over).
    Switched,
    /// Tried again with backoff.
    Transient,
}
