//! `bl [JOB] [-f | --follow]`: a job's log (the newest job when none is given), streamed as it
//! arrives so a log larger than memory still passes; `-f` follows until the job ends and exits
//! with its result.

use std::io::Write;

use anyhow::{Context, Result};

use super::follow::{self, leave_running_on_interrupt};
use super::ApiClient;
use crate::cli::LogsArgs;
use crate::exit::{Exit, SERVER};
use crate::process::Process;

pub fn run(process: &mut Process, client: &ApiClient, args: LogsArgs) -> Result<()> {
    let id = match args.job {
        Some(id) => id,
        None => newest_job(client)?,
    };
    if args.follow {
        // Asked first, so an unknown job is a clear 404 rather than an empty stream.
        client.get_json(&format!("/api/v1/jobs/{id}"))?;
        leave_running_on_interrupt(id);
        let job = follow::follow(client, id, &mut process.stdout, false)?;
        return follow::result_of(&job);
    }
    let mut reader = client.stream(&format!("/api/v1/jobs/{id}/log"))?;
    let written =
        std::io::copy(&mut reader, &mut process.stdout).context("failed to write the log")?;
    if written == 0 {
        let job = client.get_json(&format!("/api/v1/jobs/{id}"))?;
        let why = match job["state"].as_str() {
            Some("succeeded") => "nothing needed building: every output was already there",
            Some("queued") => "it has not started yet",
            _ => "nothing was logged",
        };
        writeln!(process.stderr, "job {id} has an empty log: {why}")?;
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
