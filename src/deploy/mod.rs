//! `atuin-bootstrap deploy`, on each host (as root): take this host's newest successful system
//! from the box — download through the cache, new profile generation, activation, health
//! checks, rollback on failure — and report to the box. Once, `--watch` (every
//! `deploy.interval`, waiting out an unreachable box with backoff), `--rollback` by hand, or
//! `--dry-run`. Not for the box's side of the fleet (see `fleet`).

mod attempt;
mod bounded;
mod generations;
mod health;
mod lock;
mod log;
mod memory;
mod outcome;
mod rollback;
mod sources;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cli::DeployArgs;
use crate::client::{self, ApiClient};
use crate::config::{Config, DeployMode};
use crate::exit::{code_of, usage, Exit, SERVER, USAGE};
use crate::process::Process;
use crate::protocol::host::{is_valid_host_name, Host, Report};
use generations::{store_path_of, Profile};
use log::Log;
use memory::Memory;
use outcome::Outcome;

/// Root's deploy state, when `deploy.state_dir` is not set.
const ROOT_STATE_DIR: &str = "/var/lib/atuin-bootstrap-deploy";
/// The longest wait between asks while the box cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Everything a deploy works with.
pub struct Agent<'a> {
    pub host: String,
    pub mode: DeployMode,
    pub checks: Vec<String>,
    pub health_timeout: Duration,
    pub profile: Profile,
    pub current_system: PathBuf,
    pub memory: Memory,
    pub api: &'a ApiClient,
    pub log: Log,
}

pub fn run(process: &mut Process, config: &Config, args: &DeployArgs) -> Result<()> {
    let api = client::connect(config)?;
    let settings = &config.deploy;
    let host = match &settings.host {
        Some(host) => host.value.clone(),
        None => crate::os::hostname().ok_or_else(|| {
            usage("this machine has no host name: pass --host NAME or set deploy.host")
        })?,
    };
    if !is_valid_host_name(&host) {
        return Err(usage(format!(
            "{host:?} is not a host name (letters, digits, '-', '_' and '.')"
        )));
    }
    let state_dir = match &settings.state_dir {
        Some(dir) => dir.value.clone(),
        None if crate::os::is_root() => PathBuf::from(ROOT_STATE_DIR),
        None => process
            .user_data_dir
            .clone()
            .context("no deploy state directory: set deploy.state_dir (HOME is not set)")?,
    };
    let stderr = std::mem::replace(&mut process.stderr, Box::new(std::io::sink()));
    let agent = Agent {
        host,
        mode: settings.mode.value,
        checks: settings.health_checks.value.clone(),
        health_timeout: settings.health_timeout.value,
        profile: Profile::new(settings.profile.value.clone()),
        current_system: settings.current_system.value.clone(),
        memory: Memory::new(state_dir),
        api: &api,
        log: Log::new(stderr),
    };
    // Under systemd (as the NixOS module runs it), a switch that worked ends the agent, so
    // the service manager starts the new system's agent and settings (activation itself never
    // restarts the unit, which would kill the agent mid-switch).
    let under_service_manager = process.vars.contains_key("INVOCATION_ID");
    let out = &mut process.stdout;
    if args.watch {
        return watch(
            &agent,
            settings.interval.value,
            args.json,
            under_service_manager,
            out,
        );
    }
    let outcome = if args.dry_run {
        attempt::run(&agent, true)?
    } else {
        let _lock = agent.lock(if args.rollback {
            "deploy --rollback"
        } else {
            "deploy"
        })?;
        if args.rollback {
            rollback::by_hand(&agent)?
        } else {
            attempt::run(&agent, false)?
        }
    };
    // A dry run tells the box nothing either: it changes nothing anywhere.
    let code = agent.finish(&outcome, !args.dry_run, args.json, out)?;
    if code == 0 {
        Ok(())
    } else {
        Err(Exit {
            code,
            message: String::new(),
        }
        .into())
    }
}

/// `--watch`: a deploy every `interval`, each ask also the host's heartbeat. An unreachable
/// box is waited for with backoff (the host keeps what it runs); a held lock skips a turn.
fn watch(
    agent: &Agent<'_>,
    interval: Duration,
    json: bool,
    restart_after_switch: bool,
    out: &mut dyn Write,
) -> Result<()> {
    agent.memory.ensure()?;
    agent.log.line(&format!(
        "watching {} for new builds of {} every {}",
        agent.api.base(),
        agent.host,
        humantime::format_duration(interval)
    ));
    let mut wait = interval;
    loop {
        let turn = match lock::take(agent.memory.dir(), "deploy --watch")? {
            lock::Taken::Held(holder) => {
                agent
                    .log
                    .line(&format!("skipping a turn: {holder} holds the deploy lock"));
                Ok(false)
            }
            lock::Taken::Ours(_lock) => attempt::run(agent, false).and_then(|outcome| {
                agent.finish(&outcome, true, json, out)?;
                Ok(matches!(outcome, Outcome::Deployed(_)) && agent.mode != DeployMode::Boot)
            }),
        };
        wait = match turn {
            Ok(true) if restart_after_switch => {
                agent
                    .log
                    .line("the new system runs; ending so that its own agent takes over");
                return Ok(());
            }
            Ok(_) => interval,
            Err(e) if code_of(&e) == SERVER => {
                let next = (wait * 2).min(MAX_BACKOFF.max(interval));
                agent.log.line(&format!(
                    "{e:#}; asking again in {}",
                    humantime::format_duration(next)
                ));
                next
            }
            Err(e) => {
                agent.log.line(&format!("error: {e:#}"));
                interval
            }
        };
        std::thread::sleep(wait);
    }
}

impl Agent<'_> {
    /// This host as the box sees it.
    fn ask_box(&self) -> Result<Host> {
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

    fn send(&self, report: &Report) -> Result<()> {
        let body = serde_json::to_value(report).expect("serialisable report");
        self.api
            .post_json(&format!("/api/v1/hosts/{}/report", self.host), Some(&body))?;
        Ok(())
    }

    /// The system that runs now (`deploy.current_system`), if it can be told.
    pub fn running(&self) -> Option<String> {
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

    fn lock(&self, what: &str) -> Result<lock::DeployLock> {
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

    /// Reports the outcome, tells the person or script, and gives its exit code.
    fn finish(
        &self,
        outcome: &Outcome,
        report: bool,
        json: bool,
        out: &mut dyn Write,
    ) -> Result<i32> {
        let code = outcome.exit_code();
        if let Some(report) = outcome.report().filter(|_| report) {
            if let Err(e) = self.send(report) {
                if outcome.changed_the_host() {
                    self.log
                        .line(&format!("the report did not reach the box: {e:#}"));
                } else {
                    return Err(e);
                }
            }
        }
        if json {
            writeln!(out, "{}", outcome.json(&self.host))?;
        } else {
            writeln!(out, "{}", outcome.summary(&self.host))?;
        }
        out.flush()?;
        Ok(code)
    }
}
