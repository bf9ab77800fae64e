//! `bs [JOB] [--json] [--watch]`: the server overview (repo, queue, running and recent jobs,
//! cache key, the fleet, Nix's remote builders when there are any) or one job in detail; `--json` prints the API's JSON as it is; `--watch`
//! redraws in place on a terminal until Ctrl-C.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;

use super::ApiClient;
use super::render::{Style, age, builder_rows, host_rows, job_detail, job_rows, short_rev, table};
use crate::client::ClientArgs;
use clap::Args;
use common::process::Process;
use common::protocol::status::RepoStatus;

/// `bs [JOB] [--json] [--watch]` (also `atuin-bootstrap status`): one job or the overview,
/// and how to show it.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Job id (default: the server overview)
    #[arg(value_name = "JOB")]
    pub job: Option<u64>,
    /// Print the API's JSON
    #[arg(long)]
    pub json: bool,
    /// Refresh in place
    #[arg(long)]
    pub watch: bool,
    /// Where the server is; reading the status needs no token.
    #[command(flatten)]
    pub client: ClientArgs,
}

const RECENT_JOBS: usize = 10;
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Prints the server overview or one job (tables, or the API's JSON with `--json`); with
/// `--watch` on a terminal, redraws every 2 seconds until Ctrl-C.
pub fn run(process: &mut Process, client: &ApiClient, args: StatusArgs) -> Result<()> {
    let style = Style {
        colour: process.colour(),
    };
    let render = |client: &ApiClient| -> Result<String> {
        if args.json {
            let value = match args.job {
                Some(id) => client.get_json(&format!("/api/v1/jobs/{id}"))?,
                None => {
                    // The status as the API has it, with the recent jobs `bs` shows.
                    let mut status = client.get_json("/api/v1/status")?;
                    let jobs = client.get_json(&format!("/api/v1/jobs?limit={RECENT_JOBS}"))?;
                    status["jobs"] = jobs["jobs"].clone();
                    status
                }
            };
            return Ok(format!("{value}\n"));
        }
        match args.job {
            Some(id) => Ok(job_detail(
                &client.get_json(&format!("/api/v1/jobs/{id}"))?,
                style,
            )),
            None => overview(client, style),
        }
    };
    if !(args.watch && process.stdout_is_terminal) {
        let text = render(client)?;
        process.stdout.write_all(text.as_bytes())?;
        return Ok(());
    }
    let _ = ctrlc::set_handler(|| std::process::exit(common::exit::INTERRUPTED));
    loop {
        let text = render(client)?;
        // Home, draw, clear what the last frame left below.
        write!(process.stdout, "\u{1b}[H\u{1b}[2J{text}")?;
        process.stdout.flush()?;
        std::thread::sleep(WATCH_EVERY);
    }
}

fn overview(client: &ApiClient, style: Style) -> Result<String> {
    let status = client.status()?;
    let jobs = client.get_json(&format!("/api/v1/jobs?limit={RECENT_JOBS}"))?;
    let mut out = String::new();
    let mut row = |key: &str, value: String| {
        out.push_str(&format!("{} {value}\n", style.bold(&format!("{key:<8}"))))
    };
    row(
        "server",
        format!("{} (atuin-bootstrap {})", client.base(), status.version),
    );
    row("repo", repo_line(&status.repo, style));
    for input in &status.inputs {
        row("input", input_line(input, style));
    }
    let running: Vec<String> = status.running.iter().map(u64::to_string).collect();
    row(
        "queue",
        format!(
            "{} queued, {} running{}",
            status.queue,
            running.len(),
            if running.is_empty() {
                String::new()
            } else {
                format!(" ({})", running.join(", "))
            }
        ),
    );
    row(
        "cache",
        format!(
            "{} (priority {})",
            status.cache.public_keys.join(" "),
            status.cache.priority
        ),
    );
    if status.pushed.count > 0 {
        row(
            "pushed",
            format!(
                "{} path{} kept ({})",
                status.pushed.count,
                if status.pushed.count == 1 { "" } else { "s" },
                size_in_words(status.pushed.bytes)
            ),
        );
    }
    if let Some(publish) = &status.publish {
        row("publish", publish_line(publish, style));
    }
    let jobs = jobs["jobs"].as_array().cloned().unwrap_or_default();
    out.push('\n');
    if jobs.is_empty() {
        out.push_str("no jobs yet\n");
    } else {
        out.push_str(&table(
            &[
                "ID", "STATE", "TARGETS", "REV", "TRIGGER", "CREATED", "DURATION",
            ],
            &job_rows(&jobs, style),
            style,
        ));
    }
    out.push('\n');
    if status.hosts.is_empty() {
        // Why there are none: no repository, not fetched yet, or a flake without hosts.
        let why = match (&status.repo.url, &status.repo.rev) {
            (None, _) => "no hosts (no fleet repository: start the server with `serve --repo URL`)"
                .to_string(),
            (Some(_), None) => "no hosts yet (the fleet flake's nixosConfigurations show once \
                                the repository is fetched, and hosts that report)"
                .to_string(),
            (Some(_), Some(rev)) => format!(
                "no hosts: the fleet flake at {} has no nixosConfigurations (a folder under \
                 hosts/ each; bootstrap-new-machine adds them)",
                short_rev(rev)
            ),
        };
        out.push_str(&why);
        out.push('\n');
    } else {
        out.push_str(&table(
            &["HOST", "RUNNING", "NEWEST", "STATE", "LAST SEEN"],
            &host_rows(&status.hosts, style),
            style,
        ));
    }
    if !status.builders.is_empty() {
        out.push('\n');
        out.push_str(&table(
            &["BUILDER", "SYSTEMS", "JOBS", "FEATURES", "STATE", "CHECKED"],
            &builder_rows(&status.builders, style),
            style,
        ));
    }
    Ok(out)
}

/// `512 B`, `3.4 MiB`, `1.2 GiB`: NAR bytes as a person reads them.
fn size_in_words(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The bucket: `nix → https://cache.example.org, up to date (job 12)` or `3 paths (1.2 MiB)
/// behind`, with the last error in red.
fn publish_line(publish: &common::protocol::status::PublishStatus, style: Style) -> String {
    let mut line = publish.bucket.clone();
    if let Some(url) = &publish.read_url {
        line.push_str(&format!(" → {url}"));
    }
    if publish.pending_paths == 0 {
        line.push_str(", up to date");
    } else {
        line.push_str(&format!(
            ", {} path{} ({}) behind",
            publish.pending_paths,
            if publish.pending_paths == 1 { "" } else { "s" },
            size_in_words(publish.pending_bytes)
        ));
    }
    if let Some(job) = publish.last_job {
        line.push_str(&format!(" (job {job})"));
    }
    if let Some(error) = &publish.last_error {
        line.push_str(&format!(", last error: {}", style.red(error)));
    }
    line
}

/// A watched flake input: `nix-terminal git+https://… @ 9f3a4b5c (fleet pins 0b1c2d3e)`.
fn input_line(input: &common::protocol::status::InputStatus, style: Style) -> String {
    let mut line = input.name.clone();
    if let Some(upstream) = &input.upstream {
        line.push_str(&format!(" {upstream}"));
    }
    if let Some(rev) = &input.rev {
        line.push_str(&format!(" @ {}", short_rev(rev)));
    }
    if let Some(locked) = &input.locked {
        line.push_str(&format!(" (fleet pins {})", short_rev(locked)));
    }
    if let Some(error) = &input.last_error {
        line.push_str(&format!(", {}", style.red(error)));
    }
    line
}

fn repo_line(repo: &RepoStatus, style: Style) -> String {
    let Some(url) = &repo.url else {
        return style
            .dim("none configured (start the server with `serve --repo URL`, or set repo.url)");
    };
    let mut line = format!("{url} {}", repo.branch);
    if let Some(rev) = &repo.rev {
        line.push_str(&format!(" @ {}", short_rev(rev)));
    }
    if let Some(polled) = &repo.last_poll {
        line.push_str(&format!(", fetched {}", age(polled)));
    }
    if let Some(error) = &repo.last_error {
        line.push_str(&format!(", last error: {}", style.red(error)));
    }
    if let Some(note) = &repo.note {
        line.push_str(&format!("; {note}"));
    }
    line
}
