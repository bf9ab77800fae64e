//! The command line as a whole: the main command with its subcommands, and the applets (`bt`,
//! `bs`, `bl`, `bootstrap-new-machine`). Each mode owns its own arguments (in its wing, next to
//! its code); this file only composes them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use host::client::cancel::CancelArgs;
use host::client::fleet::FleetArgs;
use host::client::logs::LogsArgs;
use host::client::push::PushArgs;
use host::client::status::StatusArgs;
use host::client::trigger::TriggerArgs;
use host::deploy::DeployArgs;
use host::wizard::BootstrapArgs;
use server::commands::cache::CacheArgs;
use server::commands::gc::GcArgs;
use server::commands::serve::ServeArgs;
use server::commands::token::TokenArgs;

#[derive(Debug, Parser)]
#[command(
    name = "atuin-bootstrap",
    version,
    about = "Build server, signed Nix binary cache and bootstrap wizard for a NixOS fleet"
)]
pub(crate) struct MainCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Configuration file (default: $ATUIN_BOOTSTRAP_CONFIG, else
    /// $XDG_CONFIG_HOME/atuin-bootstrap/config.toml, else /etc/atuin-bootstrap/config.toml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the build server and binary cache
    Serve(ServeArgs),
    /// Queue builds on the server (also `bt`)
    Trigger(TriggerArgs),
    /// Show server or job status (also `bs`)
    Status(StatusArgs),
    /// Show build logs (also `bl`)
    Logs(LogsArgs),
    /// Join this machine to the fleet (also `bootstrap-new-machine`)
    Bootstrap(Box<BootstrapArgs>),
    /// Cancel a queued or running job
    Cancel(CancelArgs),
    /// Upload store paths (default ./result) and their closure into the box's cache
    Push(PushArgs),
    /// Take this host's newest system from the box: switch, check, roll back on failure
    Deploy(DeployArgs),
    /// The hosts; pin one (or all) to a build, release it, ask it to retry
    Fleet(FleetArgs),
    /// Binary-cache signing keys
    Cache(CacheArgs),
    /// API tokens for writes (with none, writes are open to anyone)
    Token(TokenArgs),
    /// Drop old GC roots of builds and optionally collect garbage
    Gc(GcArgs),
    /// Create the bt, bs, bl and bootstrap-new-machine symlinks in DIR
    Links(LinksArgs),
    /// Inspect the configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print shell completions (for atuin-bootstrap and its applets)
    Completions(CompletionsArgs),
    /// Print the man page (roff)
    Man,
}

#[derive(Debug, Args)]
pub(crate) struct LinksArgs {
    /// Directory to create the links in
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print the effective configuration and where each value came from
    Show {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    pub shell: Shell,
}

/// `bt`.
#[derive(Debug, Parser)]
#[command(
    name = "bt",
    version,
    about = "Queue builds on the atuin-bootstrap server"
)]
pub(crate) struct TriggerCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub args: TriggerArgs,
}

/// `bs`.
#[derive(Debug, Parser)]
#[command(
    name = "bs",
    version,
    about = "Show atuin-bootstrap server and job status"
)]
pub(crate) struct StatusCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub args: StatusArgs,
}

/// `bl`.
#[derive(Debug, Parser)]
#[command(name = "bl", version, about = "Show atuin-bootstrap build logs")]
pub(crate) struct LogsCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub args: LogsArgs,
}

/// `bootstrap-new-machine`.
#[derive(Debug, Parser)]
#[command(
    name = "bootstrap-new-machine",
    version,
    about = "Join this machine to the atuin-bootstrap fleet"
)]
pub(crate) struct BootstrapCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub args: BootstrapArgs,
}
