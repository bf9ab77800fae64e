//! `bl [JOB] [-f | --follow]`: a job's log (the newest job when none is given), streamed as it
//! arrives so a log larger than memory still passes; `-f` follows until the job ends and exits
//! with its result. Which job it shows, when it chose, and why a log is empty go to stderr.

use std::io::Write;

use anyhow::{Context, Result};

use super::ApiClient;
use super::follow::{self, empty_log_reason, leave_running_on_interrupt};
use super::render::{Style, job_line};
use crate::client::ClientArgs;
use clap::Args;
use common::exit::{Exit, SERVER};
use common::process::Process;

/// `bl [JOB] [-f]` (also `atuin-bootstrap logs`): whose log, and whether to follow it.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Job id (default: the newest job)
    #[arg(value_name = "JOB")]
    pub job: Option<u64>,
    /// Stream the log until the job ends
    #[arg(short, long)]
    pub follow: bool,
    /// Where the server is; reading a log needs no token.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Prints a job's log (the newest job's when none is named), or follows it to the end and
/// exits with the job's result; an empty log is explained on stderr.
pub fn run(process: &mut Process, client: &ApiClient, args: LogsArgs) -> Result<()> {
    let chosen = args.job.is_none();
    let id = match args.job {
        Some(id) => id,
        None => newest_job(client)?,
    };
    if args.follow {
        // Asked first, so an unknown job is a clear 404 rather than an empty stream.
        let job = client.get_json(&format!("/api/v1/jobs/{id}"))?;
        if chosen {
            // The newest job may not be the one the user has in mind (a poll's, just made).
            let style = Style {
                colour: process.colour(),
            };
            writeln!(
                process.stderr,
                "following the newest job: {}",
                job_line(&job, style)
            )?;
        }
        leave_running_on_interrupt(id);
        let followed = follow::follow(client, id, &mut process.stdout, false)?;
        if followed.logged_bytes == 0 {
            writeln!(
                process.stderr,
                "job {id} has an empty log: {}",
                empty_log_reason(&followed.job)
            )?;
        }
        return follow::result_of_followed(&followed);
    }
    let mut reader = client.stream(&format!("/api/v1/jobs/{id}/log"))?;
    let written =
        std::io::copy(&mut reader, &mut process.stdout).context("failed to write the log")?;
    if written == 0 {
        let job = client.get_json(&format!("/api/v1/jobs/{id}"))?;
        writeln!(
            process.stderr,
            "job {id} has an empty log: {}",
            empty_log_reason(&job)
        )?;
    }
    Ok(())
}

fn newest_job(client: &ApiClient) -> Result<u64> {
    let jobs = client.get_json("/api/v1/jobs?limit=1")?;
    jobs["jobs"][0]["id"].as_u64().ok_or_else(|| {
        Exit {
            code: SERVER,
            message: "the server has no jobs yet".into(),
        }
        .into()
    })
}
