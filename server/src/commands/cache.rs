//! `atuin-bootstrap cache public-key [--push]|generate-key`: the binary cache's signing keys
//! (the build keys, or with `--push` the key pushed paths are signed with).

use std::io::Write;

use anyhow::Result;

use crate::cache::keys;
use crate::commands::GlobalStateDirArg;
use clap::{Args, Subcommand};
use common::config::Config;
use common::exit::usage;
use common::state_dir::StateDir;
use std::path::PathBuf;

#[derive(Debug, Args)]
/// `cache`: the signing keys of the binary cache.
pub struct CacheArgs {
    #[command(flatten)]
    /// The state directory to work on.
    pub state: GlobalStateDirArg,
    #[command(subcommand)]
    /// What to do with the keys.
    pub command: CacheCommand,
}

#[derive(Debug, Subcommand)]
/// The `cache` subcommands.
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

/// Runs a `cache` subcommand, printing to `out`.
pub fn run(config: &Config, command: CacheCommand, out: &mut dyn Write) -> Result<()> {
    match command {
        CacheCommand::PublicKey { push: true, .. } => {
            let state = StateDir::new(config.state_dir.value.clone());
            let key = keys::resolve_push_key(&state, false).map_err(|e| usage(format!("{e:#}")))?;
            writeln!(out, "{}", key.public_key())?;
        }
        CacheCommand::PublicKey { .. } => {
            let state = StateDir::new(config.state_dir.value.clone());
            let keys = keys::resolve(&config.secret_key_files.value, &state, false)
                .map_err(|e| usage(format!("{e:#}")))?;
            for key in keys {
                writeln!(out, "{}", key.public_key())?;
            }
        }
        CacheCommand::GenerateKey { name, file } => {
            let key = keys::generate_into(&name, &file).map_err(|e| usage(format!("{e:#}")))?;
            writeln!(out, "{}", key.public_key())?;
        }
    }
    Ok(())
}
