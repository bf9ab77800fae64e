//! `atuin-bootstrap deploy`, on each host (as root): finish what an earlier run left under
//! way, then take the system the box has for this host (its `target`) when it is new —
//! download through the cache trusting only the box's build key, new profile generation,
//! activation that outlives the agent, health checks, rollback on failure, a checked first
//! boot — and report to the box, queueing reports it cannot take. Once, `--watch` (every
//! `deploy.interval`, waiting out an unreachable box or a passing trouble with backoff),
//! `--rollback` by hand, or `--dry-run`. Not for the box's side of the fleet (see `fleet`).

mod activation;
mod attempt;
mod bounded;
mod check;
mod download;
mod generations;
mod health;
mod lock;
mod log;
mod memory;
mod narhash;
mod outcome;
mod reboot;
mod recover;
mod reports;
mod rollback;
mod sources;
mod switch;
mod target;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::client::ClientArgs;
use crate::client::{self, ApiClient};
use activation::Activator;
use clap::{Args, ValueEnum};
use common::config::{Config, DeployMode, RebootPolicy, Source};
use common::exit::{code_of, usage, Exit, SERVER, USAGE};
use common::process::Process;
use common::protocol::host::{is_valid_host_name, Report, ReportState};
use generations::{store_path_of, Profile};
use log::Log;
use memory::Memory;
use outcome::Outcome;
use target::HostView;

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// This host's name in the fleet (deploy.host; default: the machine's host name)
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// How to activate: now and at boot, only at next boot, or now only (deploy.mode)
    #[arg(long, value_enum, value_name = "MODE")]
    pub mode: Option<DeployModeArg>,
    /// Print the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Keep going: ask the box every deploy.interval
    #[arg(long, conflicts_with_all = ["dry_run", "rollback"])]
    pub watch: bool,
    /// Go back one generation by hand (and never return to the one left)
    #[arg(long, conflicts_with_all = ["now", "retry"])]
    pub rollback: bool,
    /// Deploy the box's target even when it is not new (undoes a hand switch)
    #[arg(long)]
    pub now: bool,
    /// Forget the systems that failed here first, so the target is tried again
    #[arg(long)]
    pub retry: bool,
    /// Print the report sent to the box as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DeployModeArg {
    Switch,
    Boot,
    Test,
}

impl DeployModeArg {
    pub fn as_str(self) -> &'static str {
        match self {
            DeployModeArg::Switch => "switch",
            DeployModeArg::Boot => "boot",
            DeployModeArg::Test => "test",
        }
    }
}

/// Root's deploy state, when `deploy.state_dir` is not set.
const ROOT_STATE_DIR: &str = "/var/lib/atuin-bootstrap-deploy";
/// The longest wait between asks while the box cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Everything a deploy works with.
pub struct Agent<'a> {
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
    pub allow_pushed: bool,
    /// `deploy.public_keys`; empty: the box's announced build keys.
    pub public_keys: Vec<String>,
    pub profile: Profile,
    pub current_system: PathBuf,
    pub booted_system: PathBuf,
    pub memory: Memory,
    pub api: &'a ApiClient,
    pub log: Log,
}

pub fn run(process: &mut Process, config: &Config, args: &DeployArgs) -> Result<()> {
    let api = client::connect(config)?;
    let settings = &config.deploy;
    let host = match &settings.host {
        Some(host) => host.value.clone(),
        None => common::os::hostname().ok_or_else(|| {
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
        None if common::os::is_root() => PathBuf::from(ROOT_STATE_DIR),
        None => process
            .user_data_dir
            .clone()
            .context("no deploy state directory: set deploy.state_dir (HOME is not set)")?,
    };
    refuse_off_nixos(config)?;
    let stderr = std::mem::replace(&mut process.stderr, Box::new(std::io::sink()));
    let agent = Agent {
        host,
        mode: settings.mode.value,
        checks: settings.health_checks.value.clone(),
        health_timeout: settings.health_timeout.value,
        activation_timeout: settings.activation_timeout.value,
        activator: Activator::choose(settings.activate_with.value),
        reboot: settings.reboot.value,
        reboot_window: settings.reboot_window.value,
        reboot_command: settings.reboot_command.value.clone(),
        allow_pushed: settings.allow_pushed.value,
        public_keys: settings.public_keys.value.clone(),
        profile: Profile::new(settings.profile.value.clone()),
        current_system: settings.current_system.value.clone(),
        booted_system: settings.booted_system.value.clone(),
        memory: Memory::new(state_dir),
        api: &api,
        log: Log::new(stderr),
    };
    let options = attempt::Options {
        dry_run: args.dry_run,
        now: args.now,
        retry: args.retry,
    };
    // Under systemd (as the NixOS module runs it), a switch that worked ends the agent, so
    // the service manager starts the new system's agent and settings (activation itself never
    // restarts the unit, which would kill the agent mid-switch).
    let under_service_manager = process.vars.contains_key("INVOCATION_ID");
    let out = &mut process.stdout;
    if args.watch {
        return watch(
            &agent,
            options,
            settings.interval.value,
            args.json,
            under_service_manager,
            out,
        );
    }
    let outcome = if args.dry_run {
        attempt::run(&agent, options)?
    } else {
        let _lock = agent.lock(if args.rollback {
            "deploy --rollback"
        } else {
            "deploy"
        })?;
        if args.rollback {
            rollback::by_hand(&agent)?
        } else {
            attempt::run(&agent, options)?
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

/// Deploy switches NixOS systems: on another machine with the default paths it would make
/// a system profile nothing boots from, so it says so (a test or an unusual layout sets
/// `deploy.profile` or `deploy.current_system`).
fn refuse_off_nixos(config: &Config) -> Result<()> {
    let settings = &config.deploy;
    let defaults = settings.profile.source == Source::Default
        && settings.current_system.source == Source::Default;
    if defaults && !std::path::Path::new("/etc/NIXOS").exists() {
        return Err(usage(
            "this machine is not NixOS (there is no /etc/NIXOS): deploy installs NixOS systems and would change nothing this machine boots; run it on a NixOS host of the fleet (or set deploy.profile and deploy.current_system for an unusual layout)",
        ));
    }
    Ok(())
}

/// `--watch`: a deploy every `interval`, each ask also the host's heartbeat. An unreachable
/// box, or a passing trouble (a held switch lock, a timeout), is waited out with backoff (the
/// host keeps what it runs); a held deploy lock skips a turn.
fn watch(
    agent: &Agent<'_>,
    once: attempt::Options,
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
    // --now and --retry are for the first turn only.
    let mut options = once;
    loop {
        let turn = match lock::take(agent.memory.dir(), "deploy --watch")? {
            lock::Taken::Held(holder) => {
                agent
                    .log
                    .line(&format!("skipping a turn: {holder} holds the deploy lock"));
                Ok(Turn::Done)
            }
            lock::Taken::Ours(_lock) => {
                let turn = attempt::run(agent, options);
                options = attempt::Options::default();
                turn.and_then(|outcome| {
                    agent.finish(&outcome, true, json, out)?;
                    Ok(if outcome.is_transient() {
                        Turn::Transient
                    } else if matches!(outcome, Outcome::Deployed(_))
                        && agent.mode != DeployMode::Boot
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
                    .log
                    .line("the new system runs; ending so that its own agent takes over");
                return Ok(());
            }
            Ok(Turn::Transient) => {
                let next = (wait * 2).min(MAX_BACKOFF.max(interval));
                agent.log.line(&format!(
                    "a passing trouble; trying again in {}",
                    humantime::format_duration(next)
                ));
                next
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

/// How a turn of `--watch` went.
enum Turn {
    Done,
    /// A new system runs (under systemd, the agent ends so the new one's agent takes over).
    Switched,
    /// Tried again with backoff.
    Transient,
}

impl Agent<'_> {
    /// This host as the box sees it.
    fn ask_box(&self) -> Result<HostView> {
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

    /// A report about `wanted` (the box's target for this host), saying what runs now.
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

    /// `PATH/bin/switch-to-configuration MODE` as `activation` runs it, bounded by
    /// `deploy.activation_timeout`; its pid goes into `note` (when given) while it runs.
    pub fn activate(
        &self,
        path: &str,
        mode: &str,
        mut note: Option<&mut memory::UnderWay>,
    ) -> Result<activation::Activation> {
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
            Err(e) => Ok(activation::Activation {
                ended: activation::Ended::NotStarted(format!("{e:#}")),
                output: String::new(),
            }),
        }
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
}
