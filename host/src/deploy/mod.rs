//! `atuin-bootstrap deploy`, on each host (as root): finish what an earlier run left under
//! way, then take the system the box has for this host (its `target`) when it is new —
//! download through the cache trusting only the box's build key, new profile generation,
//! activation that outlives the agent, health checks, rollback on failure, a checked first
//! boot — and report to the box, queueing reports it cannot take. Once, `--watch` (every
//! `deploy.interval`, waiting out an unreachable box or a passing trouble with backoff),
//! `--rollback` by hand, or `--dry-run`. Not for the box's side of the fleet (see `fleet`).
//!
//! This file is the command line and the entry point; the flow itself reads top to bottom in
//! `agent` (a turn: `recover`, the decision, `switch`, `rollback`, the report), `watch` loops
//! it, and the other modules are the steps' tools, one job each. The imports run one way
//! only: `agent` calls the steps and lends them the `machine` (this host and its line to the
//! box), and no step knows the agent.

mod activation;
mod agent;
mod bounded;
mod check;
mod download;
mod generations;
mod health;
mod lock;
mod log;
mod machine;
mod memory;
mod narhash;
mod outcome;
mod plan;
mod reboot;
mod recover;
mod rollback;
mod sources;
mod switch;
mod target;
mod watch;

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::client::{self, ClientArgs};
use activation::Activator;
use agent::Agent;
use clap::{Args, ValueEnum};
use common::config::{Config, Source};
use common::exit::{Exit, usage};
use common::process::Process;
use common::protocol::host::is_valid_host_name;
use generations::Profile;
use log::Log;
use machine::Machine;
use memory::Memory;

/// `atuin-bootstrap deploy`: the flags that override the `deploy.*` settings for one run, and
/// what to do instead of an ordinary deploy.
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
    /// Where the box is, and the token the report is sent with.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `--mode`: how a new system is activated; overrides `deploy.mode` (default `switch`).
// `help = None` on each value: the docs are for readers; `--help` lists the values bare, as
// it always has.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DeployModeArg {
    /// Activate it now and make it the default at boot.
    #[value(help = None::<&str>)]
    Switch,
    /// Make it the default at boot only: it runs from the next boot on.
    #[value(help = None::<&str>)]
    Boot,
    /// Activate it now only: the next boot returns to the previous default.
    #[value(help = None::<&str>)]
    Test,
}

impl DeployModeArg {
    /// The value as `deploy.mode` spells it.
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

/// One deploy run (or, with `--watch`, one every `deploy.interval` until stopped) for this host,
/// with the settings of `config` and the choices of `args`. Off NixOS it refuses, unless
/// `deploy.profile` and `deploy.current_system` say where the system lives.
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
        machine: Machine {
            host,
            mode: settings.mode.value,
            checks: settings.health_checks.value.clone(),
            health_timeout: settings.health_timeout.value,
            activation_timeout: settings.activation_timeout.value,
            activator: Activator::choose(settings.activate_with.value),
            reboot: settings.reboot.value,
            reboot_window: settings.reboot_window.value,
            reboot_command: settings.reboot_command.value.clone(),
            public_keys: settings.public_keys.value.clone(),
            profile: Profile::new(settings.profile.value.clone()),
            current_system: settings.current_system.value.clone(),
            booted_system: settings.booted_system.value.clone(),
            memory: Memory::new(state_dir),
            api: &api,
            log: Log::new(stderr),
        },
        allow_pushed: settings.allow_pushed.value,
    };
    let options = agent::Options {
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
        return watch::run(
            &agent,
            options,
            settings.interval.value,
            args.json,
            under_service_manager,
            out,
        );
    }
    let outcome = if args.dry_run {
        agent.turn(options)?
    } else {
        let _lock = agent.lock(if args.rollback {
            "deploy --rollback"
        } else {
            "deploy"
        })?;
        if args.rollback {
            agent.roll_back_by_hand()?
        } else {
            agent.turn(options)?
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
