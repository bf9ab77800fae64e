//! Waiting for a job and following its log: the log streams as the server writes it, with a
//! progress bar (derivations built / total, current derivation, elapsed) on a terminal and
//! plain lines elsewhere. Ctrl-C leaves the job running and says how to cancel it (exit 130).

use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use super::api::ApiClient;
use common::exit::{Exit, JOB_FAILED};

const POLL: Duration = Duration::from_millis(400);

/// Ctrl-C while waiting: the job keeps running; say so and how to cancel it, exit 130. A
/// signal handler is process-wide by nature, and it writes to stderr itself because the
/// process ends right there.
pub(super) fn leave_running_on_interrupt(id: u64) {
    let _ = ctrlc::set_handler(move || {
        eprintln!(
            "\ninterrupted: job {id} keeps running on the server; cancel it with `atuin-bootstrap cancel {id}`"
        );
        std::process::exit(common::exit::INTERRUPTED);
    });
}

/// Waits until the job has ended (the server answers when it does, or every 30 s); returns it.
pub(super) fn wait(client: &ApiClient, id: u64) -> Result<Value> {
    loop {
        let asked = std::time::Instant::now();
        let job = client.get_json(&format!("/api/v1/jobs/{id}?wait=30"))?;
        if is_finished(&job) {
            return Ok(job);
        }
        // An older server answers at once: poll it instead of asking in a tight loop.
        if asked.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(POLL);
        }
    }
}

/// A followed job as it ended, and the `error:` lines its log showed (at most a few), so its
/// ending does not repeat an error the user has just read.
pub(super) struct Followed {
    pub job: Value,
    pub logged_errors: Vec<String>,
    /// Bytes of log streamed: none for a job that had nothing to build.
    pub logged_bytes: u64,
}

/// At most this many `error:` lines are remembered from a followed log.
const REMEMBERED_ERRORS: usize = 16;

/// Streams the log to `lines` (or above a progress bar) until the job ends; returns the job
/// as it ended.
pub(super) fn follow(
    client: &ApiClient,
    id: u64,
    lines: &mut dyn Write,
    with_bar: bool,
) -> Result<Followed> {
    let bar = with_bar.then(progress_bar);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| -> Result<Followed> {
        if let Some(bar) = &bar {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    if let Ok(job) = client.get_json(&format!("/api/v1/jobs/{id}")) {
                        show_progress(bar, &job);
                    }
                    std::thread::sleep(POLL);
                }
            });
        }
        let streamed = stream_log(client, id, lines, bar.as_ref());
        stop.store(true, Ordering::SeqCst);
        let (logged_errors, logged_bytes) = streamed?;
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        // The log ends when the job has; its final state may lag by a moment.
        Ok(Followed {
            job: wait(client, id)?,
            logged_errors,
            logged_bytes,
        })
    })
}

fn stream_log(
    client: &ApiClient,
    id: u64,
    lines: &mut dyn Write,
    bar: Option<&ProgressBar>,
) -> Result<(Vec<String>, u64)> {
    let reader = client.stream(&format!("/api/v1/jobs/{id}/log?follow=true"))?;
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    let mut errors = Vec::new();
    let mut bytes = 0;
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok((errors, bytes));
        }
        bytes += read as u64;
        let text = String::from_utf8_lossy(&line);
        if let Some(error) = text.trim_start().strip_prefix("error:")
            && errors.len() < REMEMBERED_ERRORS
        {
            errors.push(error.trim().to_string());
        }
        match bar {
            Some(bar) => bar.println(String::from_utf8_lossy(&line).trim_end()),
            None => {
                lines.write_all(&line)?;
                lines.flush()?;
            }
        }
    }
}

/// A spinner until Nix says how many derivations there are, then a bar (never a full bar at
/// 0/0).
fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner:.green} [{elapsed_precise}] {wide_msg}")
            .expect("a valid spinner template"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner:.green} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} derivations {wide_msg}",
    )
    .expect("a valid progress template")
    .progress_chars("=> ")
}

fn show_progress(bar: &ProgressBar, job: &Value) {
    let progress = &job["progress"];
    if let (Some(done), Some(total)) = (progress["done"].as_u64(), progress["total"].as_u64())
        && total > 0
    {
        if bar.length().is_none() {
            bar.set_style(bar_style());
        }
        bar.set_length(total);
        bar.set_position(done);
    }
    let current = progress["current"]
        .as_str()
        .unwrap_or(job["state"].as_str().unwrap_or(""));
    bar.set_message(current.to_string());
}

/// Why a job's log is empty, in words.
pub(super) fn empty_log_reason(job: &Value) -> &'static str {
    match job["state"].as_str() {
        Some("succeeded") => "nothing needed building: every output was already there",
        Some("queued") => "it has not started yet",
        Some("cancelled") => "it was cancelled before anything was built",
        _ => "nothing was logged",
    }
}

pub(super) fn is_finished(job: &Value) -> bool {
    matches!(
        job["state"].as_str(),
        Some("succeeded" | "failed" | "cancelled")
    )
}

/// The ending of a followed job: as `result_of`, but an error its log already showed is not
/// said again ("its error is in the log above").
pub(super) fn result_of_followed(followed: &Followed) -> Result<()> {
    let job = &followed.job;
    let error = job["error"].as_str().unwrap_or("").trim();
    let first_line = error.lines().next().unwrap_or("").trim();
    let shown = !first_line.is_empty()
        && followed
            .logged_errors
            .iter()
            .any(|logged| logged.contains(first_line) || first_line.contains(logged.as_str()));
    if job["state"] == "failed" && shown {
        return Err(Exit {
            code: JOB_FAILED,
            message: format!("job {} failed (its error is in the log above)", job["id"]),
        }
        .into());
    }
    result_of(job)
}

/// Exit 0 for a job that succeeded, 1 (with its error) for one that failed or was cancelled.
pub(super) fn result_of(job: &Value) -> Result<()> {
    let state = job["state"].as_str().unwrap_or("ended");
    if state == "succeeded" {
        return Ok(());
    }
    let id = &job["id"];
    // A cancel's error only repeats the state; a failure's says why.
    let message = match (state, job["error"].as_str()) {
        ("cancelled", _) => format!("job {id} was cancelled"),
        (_, Some(error)) if !error.is_empty() && error != state => {
            format!("job {id} {state}: {error}")
        }
        _ => format!("job {id} {state}"),
    };
    Err(Exit {
        code: JOB_FAILED,
        message,
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_say_what_happened_once() {
        let said = |job: Value| result_of(&job).map_err(|e| e.to_string());
        assert!(said(serde_json::json!({"id": 3, "state": "succeeded"})).is_ok());
        assert_eq!(
            said(serde_json::json!({"id": 3, "state": "cancelled", "error": "cancelled"})),
            Err("job 3 was cancelled".to_string())
        );
        assert_eq!(
            said(serde_json::json!({"id": 4, "state": "failed", "error": "builder exited 3"})),
            Err("job 4 failed: builder exited 3".to_string())
        );
    }

    #[test]
    fn a_followed_failure_does_not_repeat_the_logs_error() {
        let failed = serde_json::json!({"id": 4, "state": "failed",
            "error": "builder for '/nix/store/x-broken.drv' failed with exit code 3"});
        let followed = |logged: &[&str]| {
            result_of_followed(&Followed {
                job: failed.clone(),
                logged_errors: logged.iter().map(|s| s.to_string()).collect(),
                logged_bytes: 1,
            })
            .map_err(|e| e.to_string())
        };
        assert_eq!(
            followed(&["builder for '/nix/store/x-broken.drv' failed with exit code 3"]),
            Err("job 4 failed (its error is in the log above)".to_string())
        );
        // An error the log never showed (the flake did not evaluate) is said in full.
        assert_eq!(
            followed(&[]),
            Err(
                "job 4 failed: builder for '/nix/store/x-broken.drv' failed with exit code 3"
                    .to_string()
            )
        );
    }
}
