//! `atuin-bootstrap cancel JOB`: stops a queued or running job (the server stops nix and its
//! builders) and prints the job as it ended.

use std::io::Write;

use anyhow::Result;

use super::ApiClient;
use super::render::{Style, job_line};
use crate::client::ClientArgs;
use clap::Args;
use common::process::Process;

/// `atuin-bootstrap cancel JOB [--json]`: the job to stop, and how to print it as it ended.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The id of the job to stop.
    // `help = None`: the doc is for readers; `--help` shows JOB without a line, as it always has.
    #[arg(value_name = "JOB", help = None::<&str>)]
    pub job: u64,
    /// Print the job's JSON
    #[arg(long)]
    pub json: bool,
    /// Where the server is, and the token to cancel with when the server has tokens.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Asks the server to stop `job` and prints the job as it ended: one line, or its JSON with
/// `json`.
pub fn run(process: &mut Process, client: &ApiClient, job: u64, json: bool) -> Result<()> {
    let (_, ended) = client.post_json(&format!("/api/v1/jobs/{job}/cancel"), None)?;
    if json {
        writeln!(process.stdout, "{ended}")?;
    } else {
        let style = Style {
            colour: process.colour(),
        };
        writeln!(process.stdout, "{}", job_line(&ended, style))?;
    }
    Ok(())
}
