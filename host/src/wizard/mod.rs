//! `bootstrap-new-machine`: joins the machine it runs on to the fleet. Detects the machine,
//! takes answers (flags, questions on a terminal, or `--yes`), asks the build server for its
//! cache key, computes one plan of every file and command, then prints it (`--dry-run`) or
//! applies it. Nothing is changed before the plan is complete, so Ctrl-C at a question
//! leaves everything as it was; files it replaces are backed up; a second run with the same
//! answers changes nothing.

mod answers;
pub mod atuin;
mod atuin_sync;
pub mod boot_loader;
mod client_config;
pub mod detect;
mod dirs;
mod fleet_repo;
pub mod host;
mod links;
mod nix_conf;
mod plan;
mod push_netrc;
mod rebuild;
mod secrets;
mod server_probe;
mod syncthing;
pub mod templates;
mod token_check;

use std::io::Write;

use anyhow::Result;

use answers::Asker;
use clap::{Args, ValueEnum};
use common::config::Config;
use common::exit::usage;
use common::process::Process;
use detect::Machine;
use plan::{Plan, PlannedCommand};
use std::path::PathBuf;

/// `bootstrap-new-machine` (also `atuin-bootstrap bootstrap`): answers given as flags, which
/// the wizard then does not ask, and how far to go.
#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// Build server URL
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Host name of this machine in the fleet
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Machine profile
    #[arg(long, value_enum)]
    pub profile: Option<Profile>,
    /// Fleet repository checkout
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// Nix configuration file to add the cache to (non-NixOS machines)
    #[arg(long, value_name = "FILE")]
    pub nix_conf: Option<PathBuf>,
    /// Atuin configuration directory
    #[arg(long, value_name = "DIR")]
    pub atuin_config_dir: Option<PathBuf>,
    /// File with the build server's API token
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Atuin sync server URL (default: the build server's host, port 8888)
    #[arg(long, value_name = "URL")]
    pub atuin_server: Option<String>,
    /// Atuin account name
    #[arg(long, value_name = "NAME")]
    pub atuin_user: Option<String>,
    /// File with the Atuin password
    #[arg(long, value_name = "FILE")]
    pub atuin_password_file: Option<PathBuf>,
    /// File with the Atuin key (base64 or the 24-word mnemonic)
    #[arg(long, value_name = "FILE")]
    pub atuin_key_file: Option<PathBuf>,
    /// Create the Atuin account (first machine)
    #[arg(long)]
    pub atuin_register: bool,
    /// File with a Tailscale auth key
    #[arg(long, value_name = "FILE")]
    pub tailscale_auth_key_file: Option<PathBuf>,
    /// The cache key to expect from the server (name:base64), instead of trusting it on first use
    #[arg(long, value_name = "KEY")]
    pub trust_key: Option<String>,
    /// Where a new fleet flake fetches atuin-bootstrap from (its inputs.atuin-bootstrap.url):
    /// a flake URL of the project's repository, your fork, or a clone the box can read
    #[arg(long, value_name = "URL")]
    pub atuin_bootstrap_url: Option<String>,
    /// The box's published bucket (its publish.read_url): a second substituter after the box,
    /// trusted with the same key, for when the box sleeps
    #[arg(long, value_name = "URL")]
    pub published_cache: Option<String>,
    /// This machine pushes to the box's cache: write a netrc with the token (--token-file,
    /// push scope) and point Nix's netrc-file at it
    #[arg(long)]
    pub push: bool,
    /// On NixOS, also run the printed nixos-rebuild command
    #[arg(long)]
    pub apply: bool,
    /// Accept every default and ask nothing
    #[arg(long)]
    pub yes: bool,
    /// Print the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// `--profile`: which template of `templates/profiles/` the host's `default.nix` starts from.
// `help = None` on each value: the docs are for readers; `--help` lists the values bare, as
// it always has.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Profile {
    /// A machine on battery (suggested where a battery is found).
    #[value(help = None::<&str>)]
    Laptop,
    /// A machine that stays put (suggested when neither a battery nor WSL is found).
    #[value(help = None::<&str>)]
    Desktop,
    /// A headless machine.
    #[value(help = None::<&str>)]
    Server,
    /// NixOS-WSL on a Windows PC, as the fleet's build box (suggested under WSL).
    #[value(help = None::<&str>)]
    Wsl,
}

/// The whole wizard: detect the machine, take the answers, build the plan, then print it
/// (`--dry-run`) or apply it. Refuses to run under sudo, as the files are the user's.
pub fn run(process: &mut Process, mut args: BootstrapArgs, config: &Config) -> Result<()> {
    if common::os::is_root()
        && let Some(user) = process.var("SUDO_USER").filter(|u| u != "root")
    {
        return Err(usage(format!(
            "run bootstrap-new-machine as {user}, without sudo: it sets up {user}'s files and \
                 asks for sudo itself, only to write root-owned files such as /etc/nix/nix.conf"
        )));
    }
    let machine = Machine::detect(process);
    let asker = if args.yes {
        Asker::Defaults
    } else if process.stdout_is_terminal && process.stderr_is_terminal {
        Asker::Terminal
    } else {
        Asker::Nobody
    };
    writeln!(process.stderr, "{}", machine.summary())?;
    let configured_server = config.client_server.as_ref().map(|s| s.value.clone());
    let answers = answers::resolve(&args, &machine, configured_server, &asker)?;
    let key = server_probe::trusted_key(process, &args, &answers.server, &asker)?;

    let secrets = answers.repo.join("secrets");
    args.token_file = token_check::step(
        process,
        args.token_file.take(),
        &secrets,
        &answers.server,
        &answers.hostname,
        args.push,
        &asker,
    )?;
    let pushes = push_netrc::wanted(&args, &secrets, &asker)?;
    let atuin_server = args
        .atuin_server
        .clone()
        .unwrap_or_else(|| atuin_sync::default_server(&answers.server));
    let fleet_url = fleet_repo::server_fetch_url(&answers.repo);
    let secrets_text = secrets.display().to_string();
    let repo_text = answers.repo.display().to_string();
    let mut values: Vec<(&str, &str)> = vec![
        ("hostName", &answers.hostname),
        ("system", &machine.system),
        ("stateVersion", machine.state_version()),
        ("serverUrl", &answers.server),
        ("atuinServer", &atuin_server),
        ("secretsDir", &secrets_text),
        ("repoDir", &repo_text),
    ];
    let mut unset = Vec::new();
    // Offline without --trust-key: the host leaves the cache off until the key is written
    // (the module warns at every rebuild), instead of a key NixOS would refuse.
    match &key {
        Some(key) => values.push(("publicKey", key)),
        None => unset.push("publicKey"),
    }
    match &fleet_url {
        Some(url) => values.push(("fleetRepoUrl", url)),
        None => unset.push("fleetRepoUrl"),
    }
    let mut plan = Plan::default();
    if key.is_none() {
        plan.notes.push(format!(
            "the build server's cache key is not known, so hosts/{}/default.nix leaves \
             publicKey commented out and the machine does not use the box's cache yet: run \
             bootstrap-new-machine again when the box answers, or set publicKey to what \
             `atuin-bootstrap cache public-key` prints on the box",
            answers.hostname
        ));
    }
    let netrc_file = if pushes {
        Some(push_netrc::file(&args, &secrets, &answers.server)?)
    } else {
        None
    };
    let netrc = netrc_file.as_ref().map(|f| f.path.display().to_string());
    match &netrc {
        Some(file) => values.push(("netrcFile", file)),
        None => unset.push("netrcFile"),
    }
    // Root is no one's login: the host file gets no user account for it.
    if machine.user == "root" {
        unset.push("userName");
        plan.notes.push(
            "running as root: no user account was written into the host file; run \
             bootstrap-new-machine as the machine's user to add one"
                .into(),
        );
    } else {
        values.push(("userName", &machine.user));
    }
    let secret_values = secrets::host_values(&args, &secrets, machine.has_syncthing);
    for (key, place) in &secret_values {
        match place {
            Some(place) => values.push((key, place)),
            None => unset.push(key),
        }
    }

    if answers.profile == "wsl" && fleet_url.is_none() {
        plan.notes.push(fleet_repo::no_fleet_url_note(&answers));
    }
    // The machine's own files, from a NixOS machine whose profile boots NixOS itself.
    let machine_files = machine.is_nixos && host::needs_machine_files(answers.profile);
    let hardware = (machine_files && machine.has_nixos_generate_config)
        .then(fleet_repo::hardware_config)
        .flatten();
    let (boot_loader, boot_problem) = match machine.boot.as_ref().filter(|_| machine_files) {
        Some(facts) => match boot_loader::choose(facts) {
            Ok(chosen) => (Some(chosen), None),
            Err(why) => (None, Some(why)),
        },
        None => (None, None),
    };
    let inputs = host::Inputs {
        profile: answers.profile,
        values: &values,
        unset: &unset,
        hardware: hardware.as_deref(),
        boot_loader: boot_loader.as_ref(),
    };
    fleet_repo::plan(
        &mut plan,
        &answers.repo,
        &answers.hostname,
        &inputs,
        boot_problem,
        machine.is_nixos,
        args.atuin_bootstrap_url
            .as_deref()
            .unwrap_or(templates::DEFAULT_ATUIN_BOOTSTRAP_URL),
    )?;
    let token_secret = secrets::plan(&mut plan, &args, &secrets)?;
    plan.files.extend(netrc_file);
    nix_conf::plan(
        &mut plan,
        &args,
        &machine,
        &answers.server,
        key.as_deref(),
        netrc.as_deref(),
    )?;
    atuin_sync::plan_config(&mut plan, process, &args, &atuin_server)?;
    client_config::plan(&mut plan, process, &answers.server, token_secret.as_deref())?;
    links::plan(&mut plan, process, &machine);
    syncthing::plan(&mut plan, &machine, &answers.repo, &answers.hostname);
    atuin_sync::plan_account(&mut plan, process, &args, &answers.repo)?;
    let rebuild = rebuild::command(&answers, key.as_deref());
    if machine.is_nixos && args.apply {
        let command = rebuild.clone();
        plan.commands.push(PlannedCommand {
            display: command.clone(),
            run: Box::new(move || rebuild::run(&command)),
        });
    }

    if args.dry_run {
        writeln!(
            process.stdout,
            "plan for {} (--dry-run: nothing changed)",
            answers.hostname
        )?;
        write!(process.stdout, "{}", plan.describe())?;
        return Ok(());
    }
    fleet_repo::ensure_git_repository(&answers.repo)?;
    let notes = plan.notes.clone();
    let done = plan.apply()?;
    if done.is_empty() {
        writeln!(
            process.stdout,
            "nothing to change: {} is already set up",
            answers.hostname
        )?;
    } else {
        for line in &done {
            writeln!(process.stdout, "{line}")?;
        }
    }
    for note in notes.iter().filter(|n| !n.starts_with("atuin: ")) {
        writeln!(process.stdout, "note: {note}")?;
    }
    writeln!(process.stdout)?;
    if machine.is_nixos && !args.apply {
        writeln!(
            process.stdout,
            "to switch this machine to its fleet configuration, run:"
        )?;
        writeln!(process.stdout, "  {rebuild}")?;
    }
    writeln!(
        process.stdout,
        "so the build server sees the new host, lock the fleet's inputs (the box cannot: it \
         builds in pure mode), commit and push:\n  {}",
        fleet_repo::commit_command(&answers.repo, &answers.hostname)
    )?;
    Ok(())
}
