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
use crate::exit::{Exit, JOB_FAILED};

const POLL: Duration = Duration::from_millis(400);

/// Ctrl-C while waiting: the job keeps running; say so and how to cancel it, exit 130. A
/// signal handler is process-wide by nature, and it writes to stderr itself because the
/// process ends right there.
pub fn leave_running_on_interrupt(id: u64) {
    let _ = ctrlc::set_handler(move || {
        eprintln!(
            "\ninterrupted: job {id} keeps running on the server; cancel it with `atuin-bootstrap cancel {id}`"
        );
        std::process::exit(crate::exit::INTERRUPTED);
    });
}

/// Waits until the job has ended (the server answers when it does, or every 30 s); returns it.
pub fn wait(client: &ApiClient, id: u64) -> Result<Value> {
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

/// Streams the log to `lines` (or above a progress bar) until the job ends; returns the job
/// as it ended.
pub fn follow(client: &ApiClient, id: u64, lines: &mut dyn Write, with_bar: bool) -> Result<Value> {
    let bar = with_bar.then(progress_bar);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| -> Result<Value> {
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
        streamed?;
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        // The log ends when the job has; its final state may lag by a moment.
        wait(client, id)
    })
}

fn stream_log(
    client: &ApiClient,
    id: u64,
    lines: &mut dyn Write,
    bar: Option<&ProgressBar>,
) -> Result<()> {
    let reader = client.stream(&format!("/api/v1/jobs/{id}/log?follow=true"))?;
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
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
    if let (Some(done), Some(total)) = (progress["done"].as_u64(), progress["total"].as_u64()) {
        if total > 0 {
            if bar.length().is_none() {
                bar.set_style(bar_style());
            }
            bar.set_length(total);
            bar.set_position(done);
        }
    }
    let current = progress["current"]
        .as_str()
        .unwrap_or(job["state"].as_str().unwrap_or(""));
    bar.set_message(current.to_string());
}

pub fn is_finished(job: &Value) -> bool {
    matches!(
        job["state"].as_str(),
        Some("succeeded" | "failed" | "cancelled")
    )
}

/// Exit 0 for a job that succeeded, 1 (with its error) for one that failed or was cancelled.
pub fn result_of(job: &Value) -> Result<()> {
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
}
