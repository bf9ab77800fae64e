//! The command line, as clap types only: the main command with its subcommands, and the
//! applets (`bt`, `bs`, `bl`, `bootstrap-new-machine`) that share their argument sets.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "atuin-bootstrap",
    version,
    about = "Build server, signed Nix binary cache and bootstrap wizard for a NixOS fleet"
)]
pub struct MainCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file (default: $ATUIN_BOOTSTRAP_CONFIG, else
    /// $XDG_CONFIG_HOME/atuin-bootstrap/config.toml, else /etc/atuin-bootstrap/config.toml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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

#[derive(Debug, Args, Default)]
pub struct StateDirArg {
    /// State directory of the server (default: server.state_dir)
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (server.listen)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    #[command(flatten)]
    pub state: StateDirArg,
    /// Secret key file to sign with, in Nix's format; repeatable (cache.secret_key_files)
    #[arg(long = "cache-key-file", value_name = "FILE")]
    pub cache_key_files: Vec<PathBuf>,
    /// Git URL or local path of the fleet flake (repo.url)
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,
    /// Branch to watch (repo.branch)
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// How often to poll the repository, e.g. 60s or 5m (repo.poll_interval)
    #[arg(long, value_name = "DURATION")]
    pub poll_interval: Option<String>,
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Server URL (client.server, ATUIN_BOOTSTRAP_SERVER)
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// API token (client.token, ATUIN_BOOTSTRAP_TOKEN)
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// Hosts, flake attribute paths or package names (default: build.default_targets)
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Git revision to build (default: the newest commit of the watched branch)
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// Nix system to build packages for, e.g. aarch64-linux (default: the server's own)
    #[arg(long, value_name = "SYSTEM")]
    pub system: Option<String>,
    /// Wait until the job ends
    #[arg(long, conflicts_with = "follow")]
    pub wait: bool,
    /// Stream the log until the job ends
    #[arg(long)]
    pub follow: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    /// Print only the job id
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Job id (default: the server overview)
    #[arg(value_name = "JOB")]
    pub job: Option<u64>,
    /// Print the API's JSON
    #[arg(long)]
    pub json: bool,
    /// Refresh in place
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Job id (default: the newest job)
    #[arg(value_name = "JOB")]
    pub job: Option<u64>,
    /// Stream the log until the job ends
    #[arg(short, long)]
    pub follow: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    #[arg(value_name = "JOB")]
    pub job: u64,
    /// Print the job's JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Store paths or links to them, e.g. a `nix build` result (default: ./result)
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// How the NARs are compressed on the way (the store URL's ?compression=)
    #[arg(long, value_enum, value_name = "METHOD", default_value_t = PushCompression::Zstd)]
    pub compression: PushCompression,
    /// Print what was sent as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// The compressions Nix's HTTP binary cache store can upload with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PushCompression {
    Zstd,
    Xz,
    Bzip2,
    Br,
    None,
}

impl PushCompression {
    pub fn as_str(self) -> &'static str {
        match self {
            PushCompression::Zstd => "zstd",
            PushCompression::Xz => "xz",
            PushCompression::Bzip2 => "bzip2",
            PushCompression::Br => "br",
            PushCompression::None => "none",
        }
    }
}

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

#[derive(Debug, Args)]
pub struct FleetArgs {
    #[command(subcommand)]
    pub command: Option<FleetCommand>,
    /// Print the host object(s) as JSON
    #[arg(long, global = true)]
    pub json: bool,
    /// Server URL (client.server, ATUIN_BOOTSTRAP_SERVER)
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// API token, with the deploy scope for changes (client.token, ATUIN_BOOTSTRAP_TOKEN)
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// The hosts table (also `fleet` alone)
    List,
    /// Pin a host to a revision or a store path the box built for it (or, with --all, every
    /// host to a revision)
    #[command(
        override_usage = "atuin-bootstrap fleet pin [OPTIONS] HOST REV|/nix/store/PATH\n       \
                                atuin-bootstrap fleet pin [OPTIONS] --all REV"
    )]
    Pin {
        /// HOST and REV|/nix/store/PATH, or with --all only REV
        #[arg(value_name = "ARGS", required = true, num_args = 1..=2)]
        args: Vec<String>,
        /// Pin every host that has a build at REV (none when one of them has no build there)
        #[arg(long)]
        all: bool,
    },
    /// Release a host's pin (or every pin with --all): it follows the branch again
    Unpin {
        #[arg(
            value_name = "HOST",
            required_unless_present = "all",
            conflicts_with = "all"
        )]
        host: Option<String>,
        /// Release every pin
        #[arg(long)]
        all: bool,
    },
    /// Ask a host to forget the builds that failed on it, so its next deploy tries them again
    Retry {
        #[arg(value_name = "HOST")]
        host: String,
    },
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

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Profile {
    Laptop,
    Desktop,
    Server,
    Wsl,
}

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

#[derive(Debug, Args)]
pub struct CacheArgs {
    #[command(flatten)]
    pub state: GlobalStateDirArg,
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub state: GlobalStateDirArg,
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// `--state-dir` and `--force`, accepted before or after the subcommand.
#[derive(Debug, Args, Default)]
pub struct GlobalStateDirArg {
    /// State directory of the server (default: server.state_dir)
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Go on where it would refuse: a state dir no server uses while a running server uses
    /// another; `token revoke` of the last token
    #[arg(long, global = true)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Print the public key(s), one a line
    PublicKey {
        /// Secret key file; repeatable (default: the configured keys)
        #[arg(long = "cache-key-file", value_name = "FILE")]
        cache_key_files: Vec<PathBuf>,
        /// Print the push key instead: the key pushed paths are signed with
        #[arg(long, conflicts_with = "cache_key_files")]
        push: bool,
    },
    /// Write a new secret key to FILE and print its public key
    GenerateKey {
        /// Key name, e.g. buildbox-1
        name: String,
        /// Where to write the secret key (must not exist)
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once
    Create {
        name: String,
        /// What the token may do, comma-separated: build (ask for and cancel builds), report
        /// (hosts' deploy reports), push (upload to the cache with nix copy), deploy (pin hosts,
        /// release them, ask them to retry). A machine: build,report (the default); a pusher:
        /// push; an admin's laptop: build,report,push,deploy
        #[arg(
            long,
            value_delimiter = ',',
            value_name = "SCOPES",
            default_value = "build,report"
        )]
        scope: Vec<String>,
        /// Bind the token to one host: it reports only for HOST, and tokens bound to no host
        /// may no longer report for it (a machine's own token: --host <its hostname>)
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
    },
    /// List token names, scopes and bound hosts (with none, writes are open to anyone)
    List,
    /// Revoke a token (the last one only with --force, which opens writes to anyone)
    Revoke {
        name: String,
        /// Set from the global `--force` (one flag for both refusals).
        #[arg(skip)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub state: StateDirArg,
    /// Also run Nix's garbage collector
    #[arg(long)]
    pub collect: bool,
    /// Also empty the NAR cache (NARs kept on disk after serving them once)
    #[arg(long)]
    pub nar_cache: bool,
    /// Work on this state dir even when no server uses it while a running server uses another
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct LinksArgs {
    /// Directory to create the links in
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration and where each value came from
    Show {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    pub shell: Shell,
}

/// `bt`.
#[derive(Debug, Parser)]
#[command(
    name = "bt",
    version,
    about = "Queue builds on the atuin-bootstrap server"
)]
pub struct TriggerCli {
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
pub struct StatusCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub args: StatusArgs,
}

/// `bl`.
#[derive(Debug, Parser)]
#[command(name = "bl", version, about = "Show atuin-bootstrap build logs")]
pub struct LogsCli {
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
pub struct BootstrapCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub args: BootstrapArgs,
}
