//! Runs one invocation: picks the applet, parses its command line, loads the configuration
//! and calls the mode. Returns an error whose `Exit` (if any) decides the exit code.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

use crate::cli::{BootstrapCli, Command, ConfigCommand, LogsCli, MainCli, StatusCli, TriggerCli};
use common::applet::{Applet, make_links};
use common::config::schema::{self as keys, KeyDef};
use common::config::{self, Flag, FlagValue, Inputs};
use common::exit::usage;
use common::process::Process;
use host::client::{self, ClientArgs};
use server::commands;
use server::commands::cache::{CacheArgs, CacheCommand};
use server::commands::serve::ServeArgs;
use server::commands::token::TokenArgs;

pub(crate) fn run(mut process: Process) -> Result<()> {
    let argv0 = process
        .args
        .first()
        .map(|a| a.to_string_lossy().into_owned());
    let applet = Applet::detect(
        argv0.as_deref(),
        process.var("ATUIN_BOOTSTRAP_ARGV0").as_deref(),
    );
    // Help and errors name the applet, also when it was chosen by ATUIN_BOOTSTRAP_ARGV0.
    let mut args = process.args.clone();
    if let Some(first) = args.first_mut() {
        *first = applet.name().into();
    }
    // Each applet is its subcommand under another name: parsed by its own clap type (for its
    // help and errors), then run as that subcommand.
    let cli = match applet {
        Applet::Main => parse::<MainCli>(&mut process, args)?,
        Applet::Trigger => {
            let cli = parse::<TriggerCli>(&mut process, args)?;
            MainCli {
                global: cli.global,
                command: Command::Trigger(cli.args),
            }
        }
        Applet::Status => {
            let cli = parse::<StatusCli>(&mut process, args)?;
            MainCli {
                global: cli.global,
                command: Command::Status(cli.args),
            }
        }
        Applet::Logs => {
            let cli = parse::<LogsCli>(&mut process, args)?;
            MainCli {
                global: cli.global,
                command: Command::Logs(cli.args),
            }
        }
        Applet::Bootstrap => {
            let cli = parse::<BootstrapCli>(&mut process, args)?;
            MainCli {
                global: cli.global,
                command: Command::Bootstrap(Box::new(cli.args)),
            }
        }
    };
    run_main(process, cli)
}

/// Parses the command line; `--help` and `--version` print and end the run successfully.
fn parse<T: Parser>(process: &mut Process, args: Vec<std::ffi::OsString>) -> Result<T> {
    match T::try_parse_from(args) {
        Ok(cli) => Ok(cli),
        Err(e) if !e.use_stderr() => {
            write!(process.stdout, "{}", e.render())?;
            Err(common::exit::Exit {
                code: 0,
                message: String::new(),
            }
            .into())
        }
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // clap shows the help as the "error"; say what is missing, and keep the help.
            write!(process.stderr, "{}", e.render())?;
            Err(usage("a subcommand is missing (its list is above)"))
        }
        Err(e) => Err(usage(one_line(&e.render().to_string()))),
    }
}

/// clap's error as one sentence: its lines before the usage block, joined, with the hint.
fn one_line(rendered: &str) -> String {
    let text: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Usage:"))
        .filter(|line| !line.is_empty() && !line.starts_with("For more information"))
        .collect();
    let joined = text.join(" ");
    let sentence = joined.strip_prefix("error: ").unwrap_or(&joined);
    format!("{sentence} (see --help)")
}

fn load_config(
    process: &Process,
    config_flag: Option<PathBuf>,
    flags: Vec<Flag>,
) -> Result<config::Config> {
    config::load(Inputs {
        config_flag,
        vars: &process.vars,
        flags,
        user_config_dir: process.user_config_dir.clone(),
        user_data_dir: process.user_data_dir.clone(),
    })
}

fn state_dir_flag(dir: Option<PathBuf>) -> Vec<Flag> {
    dir.map(|d| {
        (
            &keys::SERVER_STATE_DIR,
            "--state-dir",
            FlagValue::One(d.display().to_string()),
        )
    })
    .into_iter()
    .collect()
}

fn run_main(mut process: Process, cli: MainCli) -> Result<()> {
    let config_flag = cli.global.config;
    match cli.command {
        Command::Serve(args) => {
            let flags = serve_flags(&args);
            let config = load_config(&process, config_flag, flags)?;
            commands::serve::run(&process, config)
        }
        Command::Config(ConfigCommand::Show { json }) => {
            let config = load_config(&process, config_flag, Vec::new())?;
            write!(process.stdout, "{}", config::show::render(&config, json))?;
            Ok(())
        }
        Command::Cache(CacheArgs { state, command }) => {
            let mut flags = state_dir_flag(state.state_dir);
            if let CacheCommand::PublicKey {
                cache_key_files, ..
            } = &command
                && !cache_key_files.is_empty()
            {
                flags.push(key_files_flag(cache_key_files));
            }
            let config = load_config(&process, config_flag, flags)?;
            if matches!(&command, CacheCommand::PublicKey { cache_key_files, .. } if cache_key_files.is_empty())
            {
                note_state_dir(&mut process, &config, state.force)?;
            }
            commands::cache::run(&config, command, &mut process.stdout)
        }
        Command::Token(TokenArgs { state, mut command }) => {
            let config = load_config(&process, config_flag, state_dir_flag(state.state_dir))?;
            note_state_dir(&mut process, &config, state.force)?;
            if let server::commands::token::TokenCommand::Revoke { force, .. } = &mut command {
                *force = state.force;
            }
            commands::token::run(&config, command, &mut process.stdout, &mut process.stderr)
        }
        Command::Gc(args) => {
            let config = load_config(&process, config_flag, state_dir_flag(args.state.state_dir))?;
            note_state_dir(&mut process, &config, args.force)?;
            commands::gc::run(&config, args.collect, args.nar_cache, &mut process.stdout)
        }
        Command::Links(args) => {
            let exe = process
                .current_exe
                .clone()
                .context("cannot tell where this executable is")?;
            for link in make_links(&exe, &args.dir)? {
                writeln!(process.stdout, "{}", link.display())?;
            }
            Ok(())
        }
        Command::Trigger(args) => {
            let client = client_for(&process, config_flag, &args.client)?;
            client::trigger::run(&mut process, &client, args)
        }
        Command::Status(args) => {
            let client = reader_for(&mut process, config_flag, &args.client)?;
            client::status::run(&mut process, &client, args)
        }
        Command::Logs(args) => {
            let client = reader_for(&mut process, config_flag, &args.client)?;
            client::logs::run(&mut process, &client, args)
        }
        Command::Cancel(args) => {
            let client = client_for(&process, config_flag, &args.client)?;
            client::cancel::run(&mut process, &client, args.job, args.json)
        }
        Command::Push(args) => {
            let client = client_for(&process, config_flag, &args.client)?;
            client::push::run(&mut process, &client, &args)
        }
        Command::Bootstrap(args) => {
            let config = load_config(&process, config_flag, Vec::new())?;
            host::wizard::run(&mut process, *args, &config)
        }
        Command::Deploy(args) => {
            let mut flags = client_flags(&args.client);
            if let Some(host) = &args.host {
                flags.push((&keys::DEPLOY_HOST, "--host", FlagValue::One(host.clone())));
            }
            if let Some(mode) = args.mode {
                flags.push((
                    &keys::DEPLOY_MODE,
                    "--mode",
                    FlagValue::One(mode.as_str().to_string()),
                ));
            }
            let config = load_config(&process, config_flag, flags)?;
            host::deploy::run(&mut process, &config, &args)
        }
        Command::Fleet(args) => {
            let client_args = ClientArgs {
                server: args.server.clone(),
                token: args.token.clone(),
            };
            let client = client_for(&process, config_flag, &client_args)?;
            client::fleet::run(&mut process, &client, args)
        }
        Command::Completions(args) => crate::completions::run(args.shell, &mut process.stdout),
        Command::Man => crate::completions::man(&mut process.stdout),
    }
}

/// An admin command says which state dir it works on, and whether a server uses it; it refuses
/// (exit 2) a state dir no server uses while a running server uses another, unless `force`.
fn note_state_dir(process: &mut Process, config: &config::Config, force: bool) -> Result<()> {
    let registry = process
        .user_data_dir
        .as_deref()
        .map(server::server_marker::registry_dir);
    let line =
        server::server_marker::check_admin(&config.state_dir.value, registry.as_deref(), force)?;
    writeln!(process.stderr, "{line}")?;
    Ok(())
}

/// The API client for a client mode: `--server`/`--token` over the environment and the file.
fn client_for(
    process: &Process,
    config_flag: Option<PathBuf>,
    args: &ClientArgs,
) -> Result<client::ApiClient> {
    let config = load_config(process, config_flag, client_flags(args))?;
    client::connect(&config)
}

/// The API client for a mode that only reads (`bs`, `bl`): reads need no token, so a token
/// file that cannot be read is a warning, not an error.
fn reader_for(
    process: &mut Process,
    config_flag: Option<PathBuf>,
    args: &ClientArgs,
) -> Result<client::ApiClient> {
    let config = load_config(process, config_flag, client_flags(args))?;
    client::connect_reading(&config, &mut process.stderr)
}

/// `--server` and `--token`, as the keys they set.
fn client_flags(args: &ClientArgs) -> Vec<Flag> {
    let mut flags = Vec::new();
    if let Some(server) = &args.server {
        flags.push((
            &keys::CLIENT_SERVER,
            "--server",
            FlagValue::One(server.clone()),
        ));
    }
    if let Some(token) = &args.token {
        flags.push((
            &keys::CLIENT_TOKEN,
            "--token",
            FlagValue::One(token.clone()),
        ));
    }
    flags
}

fn serve_flags(args: &ServeArgs) -> Vec<Flag> {
    let mut flags = state_dir_flag(args.state.state_dir.clone());
    let mut one = |key: &'static KeyDef, flag: &'static str, value: &Option<String>| {
        if let Some(v) = value {
            flags.push((key, flag, FlagValue::One(v.clone())));
        }
    };
    one(&keys::SERVER_LISTEN, "--listen", &args.listen);
    one(&keys::REPO_URL, "--repo", &args.repo);
    one(&keys::REPO_BRANCH, "--branch", &args.branch);
    one(
        &keys::REPO_POLL_INTERVAL,
        "--poll-interval",
        &args.poll_interval,
    );
    if !args.cache_key_files.is_empty() {
        flags.push(key_files_flag(&args.cache_key_files));
    }
    flags
}

fn key_files_flag(files: &[PathBuf]) -> Flag {
    (
        &keys::CACHE_SECRET_KEY_FILES,
        "--cache-key-file",
        FlagValue::Many(files.iter().map(|p| p.display().to_string()).collect()),
    )
}
