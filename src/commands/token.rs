//! `atuin-bootstrap token create|list|revoke`: API tokens in the server's state dir.

use std::io::Write;

use anyhow::Result;

use crate::cli::TokenCommand;
use crate::config::Config;
use crate::exit::usage;
use crate::tokens::TokenStore;

pub fn run(config: &Config, command: TokenCommand, out: &mut dyn Write) -> Result<()> {
    let store = TokenStore::new(&config.state_dir.value);
    match command {
        TokenCommand::Create { name } => {
            let token = store.create(&name).map_err(|e| usage(format!("{e:#}")))?;
            writeln!(out, "token {name:?} created; it is shown only this once:")?;
            writeln!(out, "{token}")?;
        }
        TokenCommand::List => {
            for token in store.list()? {
                writeln!(out, "{}\t{}", token.name, token.created_at)?;
            }
        }
        TokenCommand::Revoke { name } => {
            store.revoke(&name).map_err(|e| usage(format!("{e:#}")))?;
            writeln!(out, "token {name:?} revoked")?;
        }
    }
    Ok(())
}
