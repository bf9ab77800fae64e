//! `atuin-bootstrap cache public-key [--push]|generate-key`: the binary cache's signing keys
//! (the build keys, or with `--push` the key pushed paths are signed with).

use std::io::Write;

use anyhow::Result;

use crate::cache::keys;
use crate::cli::CacheCommand;
use crate::config::Config;
use crate::exit::usage;
use crate::state_dir::StateDir;

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
