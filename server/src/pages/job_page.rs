//! `GET /jobs/{id}`: one job — its state, why it failed (the error and the log's last lines,
//! first on the page), progress while it runs, its facts, and its log (the last MiB, with a
//! link to the whole plain text). While the job runs, the script follows the log from where
//! the page ends, streamed, and shows the ending when it comes.

use std::fmt::Write;
use std::time::SystemTime;

use hyper::StatusCode;

use super::format::{duration, job_state, run_time, short_rev, time_ago};
use super::html::{self, Escaped};
use super::log_tail::{self, last_lines};
use super::status_page::progress;
use crate::api::AppState;
use crate::builds::jobs::model::{Job, JobState};
use crate::http::response::{HttpError, HttpResult};

/// The most of a log a page carries; the rest is in the plain-text log.
const LOG_SHOWN: u64 = 1024 * 1024;
/// Lines of a failed build shown first.
const FAILURE_LINES: usize = 25;

pub(crate) async fn respond(state: &AppState, id: &str) -> HttpResult {
    let number: u64 = id
        .parse()
        .map_err(|_| HttpError::NotFound(format!("no job {id:?}")))?;
    let jobs = state.builds.jobs();
    let job = jobs
        .get(number)?
        .ok_or_else(|| HttpError::NotFound(format!("no job {number}")))?;
    let job = crate::api::jobs::with_pushed(state, job).await?;
    let tail = log_tail::read(&jobs.log_path(number), LOG_SHOWN)
        .map_err(|e| anyhow::anyhow!("failed to read the log of job {number}: {e}"))?;
    let now = SystemTime::now();

    let mut main = String::with_capacity(tail.text.len() * 11 / 10 + 4096);
    head(&mut main, &job, now);
    if job.state == JobState::Failed {
        failure(&mut main, &job, &tail.text);
    }
    facts(&mut main, &job, now);
    log(&mut main, &job, &tail);
    let attrs = format!(
        "id=\"job\" data-job=\"{}\" data-state=\"{}\" data-log-bytes=\"{}\"",
        job.id,
        job.state.as_str(),
        tail.end
    );
    let title = format!("Job {} {} · atuin-bootstrap", job.id, job.state.as_str());
    Ok(html::respond(
        StatusCode::OK,
        html::page(&title, &attrs, &main),
    ))
}

fn head(out: &mut String, job: &Job, now: SystemTime) {
    let _ = write!(
        out,
        "<section id=\"head\"><h1>Job {} {}</h1><p>{} · <code>{}</code> · {}</p>",
        job.id,
        job_state(job.state),
        Escaped(&job.targets.join(", ")),
        Escaped(short_rev(&job.rev)),
        job.trigger.as_str(),
    );
    match job.state {
        JobState::Running => progress(out, job, "job-"),
        JobState::Queued => {
            let _ = write!(
                out,
                "<p class=\"mute\">Waiting in the queue since {}.</p>",
                time_ago(Some(&job.created_at), now)
            );
        }
        _ => {}
    }
    out.push_str("</section>\n");
}

fn failure(out: &mut String, job: &Job, log: &str) {
    out.push_str("<section id=\"failure\" class=\"card bad\"><h2>Why it failed</h2>");
    if let Some(error) = &job.error {
        let _ = write!(out, "<p class=\"err\">{}</p>", Escaped(error));
    }
    let last = last_lines(log, FAILURE_LINES);
    if !last.is_empty() {
        let _ = write!(
            out,
            "<p>The log's last lines:</p><pre id=\"last-lines\">{}</pre>",
            Escaped(&last)
        );
    }
    out.push_str("</section>\n");
}

fn facts(out: &mut String, job: &Job, now: SystemTime) {
    out.push_str("<section id=\"facts\"><h2>Facts</h2><dl><dt>Targets</dt><dd>");
    for (index, target) in job.targets.iter().enumerate() {
        let attr = job.attrs.get(index).filter(|a| *a != target);
        let _ = write!(out, "<div><code>{}</code>", Escaped(target));
        if let Some(attr) = attr {
            let _ = write!(out, " <span class=\"mute\">= {}</span>", Escaped(attr));
        }
        out.push_str("</div>");
    }
    let _ = write!(
        out,
        "</dd><dt>Revision</dt><dd><code>{}</code></dd><dt>Trigger</dt><dd>{}</dd>\
         <dt>Asked for</dt><dd>{}</dd><dt>Started</dt><dd>{}</dd><dt>Finished</dt><dd>{}</dd>",
        Escaped(&job.rev),
        job.trigger.as_str(),
        time_ago(Some(&job.created_at), now),
        time_ago(job.started_at.as_deref(), now),
        time_ago(job.finished_at.as_deref(), now),
    );
    if !job.inputs.is_empty() {
        out.push_str("<dt>Inputs</dt><dd>");
        for (name, rev) in &job.inputs {
            let _ = write!(
                out,
                "<div><code>{}</code> at <code>{}</code></div>",
                Escaped(name),
                Escaped(rev)
            );
        }
        out.push_str("<span class=\"mute\">(newer than the fleet pins: this build only warms the cache)</span></dd>");
    }
    if let Some(seconds) = run_time(job.started_at.as_deref(), job.finished_at.as_deref(), now) {
        let _ = write!(out, "<dt>Duration</dt><dd>{}</dd>", duration(seconds));
    }
    if !job.outputs.is_empty() {
        out.push_str("<dt>Outputs</dt><dd>");
        for (target, path) in &job.outputs {
            let _ = write!(
                out,
                "<div>{}: <code>{}</code></div>",
                Escaped(target),
                Escaped(path)
            );
        }
        out.push_str("</dd>");
    }
    if !job.pushed.is_empty() {
        let _ = write!(
            out,
            "<dt>Pushed</dt><dd><strong>{} path(s) of the outputs' closure came by push, \
             not from this box's builds</strong> (signed by the push key only):",
            job.pushed.len()
        );
        for path in &job.pushed {
            let _ = write!(out, "<div><code>{}</code></div>", Escaped(path));
        }
        out.push_str("</dd>");
    }
    if let (Some(error), false) = (&job.error, job.state == JobState::Failed) {
        let _ = write!(out, "<dt>Note</dt><dd>{}</dd>", Escaped(error));
    }
    out.push_str("</dl></section>\n");
}

fn log(out: &mut String, job: &Job, tail: &log_tail::Tail) {
    let _ = write!(
        out,
        "<section id=\"log-section\"><h2>Log</h2><p><a href=\"/api/v1/jobs/{}/log\">plain text</a>",
        job.id
    );
    if tail.left_out > 0 {
        let _ = write!(
            out,
            " <span class=\"mute\">(the first {} KiB are left out here)</span>",
            tail.left_out / 1024
        );
    }
    out.push_str("</p>");
    if tail.text.is_empty() {
        let _ = write!(
            out,
            "<pre id=\"log\" data-empty=\"1\">{}</pre>",
            if job.state.is_finished() {
                "(no log)"
            } else {
                "(nothing logged yet)"
            }
        );
    } else {
        let _ = write!(out, "<pre id=\"log\">{}</pre>", Escaped(&tail.text));
    }
    out.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builds::jobs::model::Trigger;

    #[test]
    fn a_job_whose_closure_holds_pushed_paths_says_so() {
        let mut job = Job {
            id: 3,
            state: JobState::Succeeded,
            targets: vec!["hello".into()],
            attrs: vec!["packages.x86_64-linux.hello".into()],
            rev: "0b1c2d3e4f".into(),
            trigger: Trigger::Api,
            created_at: "2026-11-26T06:00:00Z".into(),
            started_at: None,
            finished_at: None,
            outputs: [("hello".to_string(), "/nix/store/aaa-hello".to_string())].into(),
            error: None,
            progress: None,
            attempt: 1,
            inputs: Default::default(),
            pushed: Vec::new(),
            input_refs: Default::default(),
        };
        let mut page = String::new();
        facts(&mut page, &job, SystemTime::now());
        assert!(!page.contains("Pushed"), "{page}");
        job.pushed = vec!["/nix/store/bbb-lib<x>".into()];
        let mut page = String::new();
        facts(&mut page, &job, SystemTime::now());
        assert!(page.contains("<dt>Pushed</dt>"), "{page}");
        assert!(page.contains("came by push"), "{page}");
        assert!(page.contains("/nix/store/bbb-lib&lt;x&gt;"), "{page}");
    }
}
