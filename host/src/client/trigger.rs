//! `bt [TARGET…] [--rev REV] [--wait | --follow] [--json] [-q]`: queues a job and prints its
//! id; waits or follows on request and then exits with the job's result.

use std::io::Write;

use anyhow::Result;
use serde_json::json;

use super::ApiClient;
use super::follow::{self, leave_running_on_interrupt};
use super::render::{Style, job_line};
use crate::client::ClientArgs;
use clap::Args;
use common::process::Process;

/// `bt [TARGET…]` (also `atuin-bootstrap trigger`): what to build, at which revision, and
/// whether to wait for it.
#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// Hosts, flake attribute paths or package names (default: build.default_targets)
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Git revision to build (default: the newest commit of the watched branch)
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// Nix system to build packages for, e.g. aarch64-linux (default: the server's own)
    #[arg(long, value_name = "SYSTEM")]
    pub system: Option<String>,
    /// Wait until the job ends
    #[arg(long, conflicts_with = "follow")]
    pub wait: bool,
    /// Stream the log until the job ends
    #[arg(long)]
    pub follow: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    /// Print only the job id
    #[arg(short, long)]
    pub quiet: bool,
    /// Where the server is, and the token to queue with when the server has tokens.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Queues a job and prints it (its id alone when piped or with `-q`); with `--wait` or
/// `--follow`, waits for it and exits with the job's result.
pub fn run(process: &mut Process, client: &ApiClient, args: TriggerArgs) -> Result<()> {
    let mut body = json!({ "targets": args.targets });
    if let Some(rev) = &args.rev {
        body["rev"] = json!(rev);
    }
    if let Some(system) = &args.system {
        body["system"] = json!(system);
    }
    let (status, job) = client.post_json("/api/v1/jobs", Some(&body))?;
    let id = job["id"].as_u64().unwrap_or_default();
    let style = Style {
        colour: process.colour(),
    };
    let waiting = args.wait || args.follow;
    if args.quiet {
        writeln!(process.stdout, "{id}")?;
    } else if args.json {
        if !waiting {
            writeln!(process.stdout, "{job}")?;
        }
    } else if process.stdout_is_terminal {
        let how = if status == 200 {
            "already queued: "
        } else {
            ""
        };
        writeln!(process.stdout, "{how}{}", job_line(&job, style))?;
    } else {
        writeln!(process.stdout, "{id}")?;
    }
    if !waiting {
        return Ok(());
    }
    process.stdout.flush()?;
    leave_running_on_interrupt(id);
    let ended = if args.follow {
        let with_bar = process.stderr_is_terminal && (process.stdout_is_terminal || args.json);
        // With --json, stdout carries only JSON: the log goes to stderr.
        let lines: &mut dyn std::io::Write = if args.json || args.quiet {
            &mut process.stderr
        } else {
            &mut process.stdout
        };
        follow::follow(client, id, lines, with_bar)?
    } else {
        follow::Followed {
            job: follow::wait(client, id)?,
            logged_errors: Vec::new(),
            logged_bytes: 0,
        }
    };
    if args.json && !args.quiet {
        writeln!(process.stdout, "{}", ended.job)?;
    } else if !args.quiet {
        // One closing line, on a terminal or not, with what was built.
        writeln!(process.stdout, "{}", ending_line(&ended.job, style))?;
    }
    follow::result_of_followed(&ended)
}

/// `job 12 succeeded laptop @ 0b1c2d3 (api): laptop → /nix/store/…`.
fn ending_line(job: &serde_json::Value, style: Style) -> String {
    let mut line = job_line(job, style);
    if let Some(outputs) = job["outputs"].as_object().filter(|o| !o.is_empty()) {
        let built: Vec<String> = outputs
            .iter()
            .map(|(target, path)| format!("{target} → {}", path.as_str().unwrap_or("")))
            .collect();
        line.push_str(&format!(": {}", built.join(", ")));
    }
    line
}
