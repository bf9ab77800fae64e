//! The commands of `atuin-bootstrap` that are not a client or the wizard: `serve` itself, and
//! the administrative ones that run without a server (cache keys, API tokens, GC roots, which
//! work on the state directory the server uses: `--state-dir` or `server.state_dir`).

pub mod cache;
pub mod gc;
pub mod serve;
pub mod token;

use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args, Default)]
/// `--state-dir`, for the commands that take it after the subcommand only.
pub struct StateDirArg {
    /// State directory of the server (default: server.state_dir)
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
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
