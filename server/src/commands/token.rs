//! `atuin-bootstrap token create|list|revoke`: API tokens in the server's state dir. With no
//! token, every write is open to anyone who can reach the server: `list` says so, and `revoke`
//! refuses to remove the last token without `--force` and warns when it does.

use std::io::Write;

use anyhow::Result;

use crate::commands::GlobalStateDirArg;
use crate::tokens::{Revoked, Scope, TokenStore};
use clap::{Args, Subcommand};
use common::config::Config;
use common::exit::usage;

#[derive(Debug, Args)]
/// `token`: the API tokens that writes need.
pub struct TokenArgs {
    #[command(flatten)]
    /// The state directory whose tokens.json is changed.
    pub state: GlobalStateDirArg,
    #[command(subcommand)]
    /// What to do with the tokens.
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
/// The `token` subcommands.
pub enum TokenCommand {
    /// Create a token and print it once
    Create {
        /// The token's name (unique; what reports and pushes are credited to).
        // `help = None`: the doc is for readers; `--help` shows NAME without a line, as it always has.
        #[arg(help = None::<&str>)]
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
        /// The name of the token to revoke.
        // `help = None`: the doc is for readers; `--help` shows NAME without a line, as it always has.
        #[arg(help = None::<&str>)]
        name: String,
        /// Set from the global `--force` (one flag for both refusals).
        #[arg(skip)]
        force: bool,
    },
}

/// What no token means, said where it matters.
const WRITES_OPEN: &str = "writes are open to anyone who can reach the server";

/// Runs a `token` subcommand: the token itself on `out`, notes on `err`.
pub fn run(
    config: &Config,
    command: TokenCommand,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let store = TokenStore::new(&config.state_dir.value);
    match command {
        TokenCommand::Create { name, scope, host } => {
            let scopes = scope
                .iter()
                .filter(|s| !s.trim().is_empty())
                .map(|s| Scope::parse(s))
                .collect::<Result<Vec<Scope>>>()
                .map_err(|e| usage(format!("{e:#}")))?;
            let token = store
                .create_for(&name, &scopes, host.as_deref())
                .map_err(|e| usage(format!("{e:#}")))?;
            let scopes = store
                .identify(&token)?
                .map(|t| scope_list(&t.scopes))
                .unwrap_or_default();
            let bound = host
                .map(|h| format!(", reports only for host {h}"))
                .unwrap_or_default();
            writeln!(
                err,
                "token {name:?} ({scopes}{bound}) created; it is shown only this once:"
            )?;
            writeln!(out, "{token}")?;
        }
        TokenCommand::List => {
            let tokens = store.list()?;
            if tokens.is_empty() {
                writeln!(
                    out,
                    "no tokens: {WRITES_OPEN} (make one with `atuin-bootstrap token create NAME`)"
                )?;
            }
            for token in tokens {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}",
                    token.name,
                    token.created_at,
                    scope_list(&token.scopes),
                    token
                        .host
                        .as_deref()
                        .map(|h| format!("host={h}"))
                        .unwrap_or_else(|| "any host".into())
                )?;
            }
        }
        TokenCommand::Revoke { name, force } => {
            match store
                .revoke(&name, force)
                .map_err(|e| usage(format!("{e:#}")))?
            {
                Revoked::RefusedLast => {
                    return Err(usage(format!(
                        "token {name:?} is the last one, and without a token {WRITES_OPEN}; \
                         create another first, or run `atuin-bootstrap token revoke {name} \
                         --force` to open writes anyway"
                    )));
                }
                Revoked::Done { left } => {
                    writeln!(out, "token {name:?} revoked")?;
                    if left == 0 {
                        writeln!(
                            err,
                            "warning: that was the last token: {WRITES_OPEN} (make a new one \
                             with `atuin-bootstrap token create NAME`)"
                        )?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// `build,report,push`.
fn scope_list(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}
