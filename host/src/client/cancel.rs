//! `atuin-bootstrap cancel JOB`: stops a queued or running job (the server stops nix and its
//! builders) and prints the job as it ended.

use std::io::Write;

use anyhow::Result;

use super::render::{job_line, Style};
use super::ApiClient;
use crate::client::ClientArgs;
use clap::Args;
use common::process::Process;

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
