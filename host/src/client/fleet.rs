//! `atuin-bootstrap fleet [list|pin|unpin|retry]`: the hosts table, and the changes a person
//! with a `deploy` token makes to what hosts run: pin a host (or every host) to a build,
//! release it, ask it to forget the builds that failed on it. A change prints one line saying
//! what changed; `--json` prints the host object (or `{"hosts": […]}`) the server answered.

use std::io::Write;

use anyhow::Result;
use serde_json::{Value, json};

use super::ApiClient;
use super::render::{Style, fleet_rows, short_rev, store_name, table, target_name};
use clap::{Args, Subcommand};
use common::exit::{Exit, SERVER, usage};
use common::process::Process;
use common::protocol::host::Host;

/// `atuin-bootstrap fleet [COMMAND]`, with the output and server flags every subcommand takes.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// What to do; `None` (`fleet` alone) lists the hosts.
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

/// The `fleet` subcommands: list the hosts, or change a host's (or every host's) pin or failures.
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
        /// The host to release; `None` with `--all`.
        // `help = None`: the doc is for readers; `--help` stays as it always was.
        #[arg(
            help = None::<&str>,
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
        /// The host whose failed builds are forgotten.
        // `help = None`: the doc is for readers; `--help` stays as it always was.
        #[arg(value_name = "HOST", help = None::<&str>)]
        host: String,
    },
}

/// Runs one `fleet` subcommand on the server and prints the outcome: a table or a line, or
/// the API's JSON with `--json`.
pub fn run(process: &mut Process, client: &ApiClient, args: FleetArgs) -> Result<()> {
    let style = Style {
        colour: process.colour(),
    };
    let (answer, line) = match args.command.unwrap_or(FleetCommand::List) {
        FleetCommand::List => {
            let answer = client.get_json("/api/v1/hosts")?;
            let hosts = hosts_of(client, &answer)?;
            let text = if hosts.is_empty() {
                "no hosts yet (the fleet flake's nixosConfigurations, and hosts that report)"
                    .to_string()
            } else {
                let header = ["HOST", "STATE", "RUNNING", "TARGET", "PINNED", "LAST SEEN"];
                table(&header, &fleet_rows(&hosts, style), style)
                    .trim_end()
                    .to_string()
            };
            (answer, text)
        }
        FleetCommand::Pin { args: words, all } => pin(client, &words, all)?,
        FleetCommand::Unpin {
            host: Some(host), ..
        } => {
            check_host(&host)?;
            let before = host_of(client, &client.get_json(&host_path(&host, ""))?)?;
            let answer = client.send_json("DELETE", &host_path(&host, "/pin"), None)?;
            let after = host_of(client, &answer)?;
            let latest = follows(&after);
            let line = if before.pinned.is_some() {
                format!("{host} unpinned: it follows the branch again ({latest})")
            } else {
                format!("{host} was not pinned: it follows the branch ({latest})")
            };
            (answer, line)
        }
        FleetCommand::Unpin { host: None, .. } => {
            let answer = client.send_json("DELETE", "/api/v1/fleet/pin", None)?;
            hosts_of(client, &answer)?;
            (
                answer,
                "every pin released: every host follows the branch again".to_string(),
            )
        }
        FleetCommand::Retry { host } => {
            check_host(&host)?;
            let answer = client.send_json("POST", &host_path(&host, "/retry"), None)?;
            host_of(client, &answer)?;
            let line = format!(
                "{host} will try again the builds that failed on it, at its next deploy run"
            );
            (answer, line)
        }
    };
    if args.json {
        writeln!(process.stdout, "{answer}")?;
    } else {
        writeln!(process.stdout, "{line}")?;
    }
    Ok(())
}

/// `fleet pin HOST REV|PATH` or `fleet pin --all REV`.
fn pin(client: &ApiClient, words: &[String], all: bool) -> Result<(Value, String)> {
    if all {
        let [rev] = words else {
            return Err(usage(
                "fleet pin --all takes one revision: fleet pin --all REV (see --help)",
            ));
        };
        check_rev(rev)?;
        let answer = client.send_json("PUT", "/api/v1/fleet/pin", Some(&json!({ "rev": rev })))?;
        let hosts = hosts_of(client, &answer)?;
        let pinned: Vec<&str> = hosts
            .iter()
            .filter(|h| {
                h.pinned
                    .as_ref()
                    .and_then(|p| p.rev.as_deref())
                    .is_some_and(|r| r.starts_with(&rev.to_ascii_lowercase()))
            })
            .map(|h| h.name.as_str())
            .collect();
        let line = format!(
            "{} host{} pinned to {}: {}",
            pinned.len(),
            if pinned.len() == 1 { "" } else { "s" },
            short_rev(rev),
            pinned.join(", ")
        );
        return Ok((answer, line));
    }
    let [host, what] = words else {
        return Err(usage(
            "fleet pin takes a host and what to pin it to: fleet pin HOST REV|/nix/store/PATH, \
             or fleet pin --all REV (see --help)",
        ));
    };
    check_host(host)?;
    let body = if what.starts_with('/') {
        if !what.starts_with("/nix/store/") {
            return Err(usage(format!(
                "{what:?} is not a store path (/nix/store/<hash>-<name>)"
            )));
        }
        json!({ "path": what })
    } else {
        check_rev(what)?;
        json!({ "rev": what })
    };
    let answer = client.send_json("PUT", &host_path(host, "/pin"), Some(&body))?;
    let pinned = host_of(client, &answer)?;
    let to = match (&pinned.pinned, &pinned.target) {
        (Some(pin), _) if pin.rev.is_none() => pin.path.clone(),
        (_, Some(target)) => format!("{} ({})", target_name(target), store_name(&target.path)),
        _ => what.clone(),
    };
    let line = format!("{host} pinned to {to}; it is {}", pinned.state.words());
    Ok((answer, line))
}

/// `latest 0b1c2d3e`, or that it has no build yet.
fn follows(host: &Host) -> String {
    match &host.latest {
        Some(latest) => format!("newest build {}", short_rev(&latest.rev)),
        None => "no build of it yet".to_string(),
    }
}

fn host_path(host: &str, tail: &str) -> String {
    format!("/api/v1/hosts/{host}{tail}")
}

fn check_host(host: &str) -> Result<()> {
    if common::protocol::host::is_valid_host_name(host) {
        Ok(())
    } else {
        Err(usage(format!(
            "{host:?} is not a host name (letters, digits, '-', '_' and '.')"
        )))
    }
}

fn check_rev(rev: &str) -> Result<()> {
    if (4..=40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(usage(format!(
            "{rev:?} is neither a commit id (4 to 40 hex digits) nor a /nix/store/ path"
        )))
    }
}

fn host_of(client: &ApiClient, answer: &Value) -> Result<Host> {
    serde_json::from_value(answer.clone()).map_err(|e| not_understood(client, e))
}

fn hosts_of(client: &ApiClient, answer: &Value) -> Result<Vec<Host>> {
    serde_json::from_value(answer["hosts"].clone()).map_err(|e| not_understood(client, e))
}

fn not_understood(client: &ApiClient, error: serde_json::Error) -> anyhow::Error {
    Exit {
        code: SERVER,
        message: format!(
            "{} answered with hosts this client does not understand ({error}); is it an \
             atuin-bootstrap server of this version?",
            client.base()
        ),
    }
    .into()
}
