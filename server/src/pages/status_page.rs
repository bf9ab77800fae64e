//! `GET /`: the status page. The repository (URL, branch, newest revision and its subject,
//! the last poll and its error) and the queue, the running jobs with their progress, then
//! the recent jobs, the fleet, Nix's remote builders and the watched flake inputs (when there
//! are any), the published bucket (with `[publish]`) and the cache, each a `<section>` with an id the script refreshes one by one.

use std::fmt::Write;
use std::time::SystemTime;

use hyper::StatusCode;

use super::format::{duration, run_time, short_rev, time_ago};
use super::html::{self, Escaped};
use super::{Site, cache_help, fleet_table, jobs_table};
use crate::api::AppState;
use crate::builds::jobs::model::{Job, JobState};
use crate::builds::repo::watcher::RepoStatus;
use crate::http::response::HttpResult;

/// Jobs in the recent jobs table.
const RECENT_JOBS: usize = 25;
/// Running jobs shown with their progress (no more run at once on a sane box).
const RUNNING_SHOWN: usize = 16;

pub(crate) async fn respond(state: &AppState, site: &Site) -> HttpResult {
    let now = SystemTime::now();
    let builds = &state.builds;
    let jobs = builds.jobs();
    let recent = jobs.list(RECENT_JOBS, None)?;
    let running = jobs.list(RUNNING_SHOWN, Some(JobState::Running))?;
    let queue = jobs.history().count_in_state(JobState::Queued)?;
    let hosts = state.fleet.hosts(builds).await?;
    let keys = state.cache.public_keys();

    let mut main = String::with_capacity(16 * 1024);
    repo_section(
        &mut main,
        builds.repo_status().as_ref(),
        &state.config.repo_branch.value,
        queue,
        now,
    );
    running_section(&mut main, &running, now);
    jobs_table::write(&mut main, &recent, now);
    fleet_table::write(&mut main, &hosts, builds.repo_status().as_ref(), now);
    builders_section(&mut main, &builds.builders(), now);
    inputs_section(&mut main, &builds.input_status(), now);
    if let Some(publisher) = &state.publisher {
        publish_section(&mut main, &publisher.status(), now);
    }
    cache_help::write(&mut main, &keys, site);
    let page = html::page("atuin-bootstrap", "id=\"status\"", &main);
    Ok(html::respond(StatusCode::OK, page))
}

fn repo_section(
    out: &mut String,
    repo: Option<&RepoStatus>,
    branch: &str,
    queue: u64,
    now: SystemTime,
) {
    out.push_str("<section id=\"repo\"><h2>Repository</h2><dl>");
    let Some(repo) = repo else {
        let _ = write!(
            out,
            "<dt>URL</dt><dd class=\"mute\">none: start the server with <code>serve --repo \
             URL</code> (or set <code>repo.url</code>) to build a fleet (the cache serves the \
             store all the same)</dd><dt>Branch</dt><dd>{}</dd>",
            Escaped(branch)
        );
        queue_line(out, queue);
        out.push_str("</dl></section>\n");
        return;
    };
    let _ = write!(
        out,
        "<dt>URL</dt><dd><code>{}</code></dd><dt>Branch</dt><dd>{}</dd>",
        Escaped(&repo.url),
        Escaped(&repo.branch)
    );
    out.push_str("<dt>Newest revision</dt><dd>");
    match &repo.rev {
        Some(rev) => {
            let _ = write!(
                out,
                "<code title=\"{0}\">{1}</code> {2}",
                Escaped(rev),
                Escaped(short_rev(rev)),
                Escaped(repo.subject.as_deref().unwrap_or(""))
            );
        }
        None => out.push_str("<span class=\"mute\">not fetched yet</span>"),
    }
    out.push_str("</dd><dt>Last poll</dt><dd>");
    out.push_str(&time_ago(repo.last_poll.as_deref(), now));
    match &repo.last_error {
        Some(error) => {
            let _ = write!(
                out,
                " <span class=\"err\"><span aria-hidden=\"true\">✗</span> failed: {}</span>",
                Escaped(error)
            );
        }
        None if repo.last_poll.is_some() => {
            out.push_str(" <span class=\"ok\"><span aria-hidden=\"true\">✓</span> ok</span>")
        }
        None => {}
    }
    out.push_str("</dd>");
    queue_line(out, queue);
    out.push_str("</dl></section>\n");
}

/// Nix's remote builders, when it has any: a table of what each builds and whether the last
/// probe reached it.
fn builders_section(
    out: &mut String,
    builders: &[common::protocol::status::BuilderStatus],
    now: SystemTime,
) {
    if builders.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"builders\"><h2>Remote builders</h2><table><thead><tr><th>Builder</th>\
         <th>Systems</th><th>Jobs</th><th>Features</th><th>State</th><th>Checked</th></tr>\
         </thead><tbody>",
    );
    for b in builders {
        let state = match (b.reachable, &b.last_checked) {
            (_, None) => "<span class=\"mute\">not probed yet</span>",
            (true, Some(_)) => "reachable",
            (false, Some(_)) => "<strong>unreachable</strong>",
        };
        let _ = write!(
            out,
            "<tr><td><code>{uri}</code></td><td>{systems}</td><td>{jobs}</td><td>{features}</td>\
             <td>{state}</td><td>{checked}</td></tr>",
            uri = Escaped(&b.uri),
            systems = Escaped(&b.systems.join(", ")),
            jobs = b.max_jobs,
            features = Escaped(&b.features.join(", ")),
            checked = time_ago(b.last_checked.as_deref(), now),
        );
    }
    out.push_str("</tbody></table></section>\n");
}

/// The bucket the box publishes to: where hosts read it, how far behind it is, the last job
/// in it and the last error.
fn publish_section(
    out: &mut String,
    publish: &common::protocol::status::PublishStatus,
    now: SystemTime,
) {
    let _ = write!(
        out,
        "<section id=\"publish\"><h2>Published bucket</h2><dl><dt>Bucket</dt>\
         <dd><code>{}</code></dd><dt>Read at</dt><dd>",
        Escaped(&publish.bucket)
    );
    match &publish.read_url {
        Some(url) => {
            let _ = write!(out, "<code>{}</code>", Escaped(url));
        }
        None => out.push_str("<span class=\"mute\">not announced (publish.read_url)</span>"),
    }
    out.push_str("</dd><dt>Behind</dt><dd>");
    if publish.pending_paths == 0 {
        out.push_str("<span class=\"ok\"><span aria-hidden=\"true\">✓</span> up to date</span>");
    } else {
        let _ = write!(
            out,
            "{} path(s), {} NAR bytes",
            publish.pending_paths, publish.pending_bytes
        );
    }
    out.push_str("</dd><dt>Last job in it</dt><dd>");
    match publish.last_job {
        Some(job) => {
            let _ = write!(out, "<a href=\"/jobs/{job}\">{job}</a>");
        }
        None => out.push_str("<span class=\"mute\">—</span>"),
    }
    out.push_str("</dd><dt>Last upload</dt><dd>");
    out.push_str(&time_ago(publish.last_published_at.as_deref(), now));
    if let Some(error) = &publish.last_error {
        let _ = write!(
            out,
            " <span class=\"err\"><span aria-hidden=\"true\">✗</span> failing: {}</span>",
            Escaped(error)
        );
    }
    out.push_str("</dd></dl></section>\n");
}

/// The watched flake inputs, when `repo.watch_inputs` names any: where each comes from, the
/// commit the fleet's lock pins, the upstream's newest, and why one cannot be followed.
fn inputs_section(
    out: &mut String,
    inputs: &[common::protocol::status::InputStatus],
    now: SystemTime,
) {
    if inputs.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"inputs\"><h2>Watched inputs</h2><table><thead><tr><th>Input</th>\
         <th>Upstream</th><th>Locked</th><th>Newest</th><th>Polled</th></tr></thead><tbody>",
    );
    let rev = |rev: &Option<String>| match rev {
        Some(rev) => format!(
            "<code title=\"{}\">{}</code>",
            Escaped(rev),
            Escaped(short_rev(rev))
        ),
        None => "<span class=\"mute\">—</span>".to_string(),
    };
    for input in inputs {
        let _ = write!(
            out,
            "<tr><td>{name}</td><td><code>{upstream}</code></td><td>{locked}</td>\
             <td>{newest}</td><td class=\"wrap\">{polled}",
            name = Escaped(&input.name),
            upstream = Escaped(input.upstream.as_deref().unwrap_or("")),
            locked = rev(&input.locked),
            newest = rev(&input.rev),
            polled = time_ago(input.last_poll.as_deref(), now),
        );
        if let Some(error) = &input.last_error {
            let _ = write!(
                out,
                " <span class=\"err\"><span aria-hidden=\"true\">✗</span> {}</span>",
                Escaped(error)
            );
        }
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table></section>\n");
}

fn queue_line(out: &mut String, queue: u64) {
    let _ = write!(
        out,
        "<dt>Queue</dt><dd id=\"queue\">{queue} job{} waiting</dd>",
        if queue == 1 { "" } else { "s" }
    );
}

fn running_section(out: &mut String, running: &[Job], now: SystemTime) {
    out.push_str("<section id=\"running\"><h2>Running</h2>");
    if running.is_empty() {
        out.push_str("<p class=\"mute\">Nothing is building.</p>");
    }
    for job in running {
        let _ = write!(
            out,
            "<div class=\"card\" data-job=\"{id}\"><p><a href=\"/jobs/{id}\">Job {id}</a> · {targets} \
             · <code>{rev}</code> · started {started}",
            id = job.id,
            targets = Escaped(&job.targets.join(", ")),
            rev = Escaped(short_rev(&job.rev)),
            started = time_ago(job.started_at.as_deref(), now),
        );
        if let Some(seconds) = run_time(job.started_at.as_deref(), None, now) {
            let _ = write!(out, " ({})", duration(seconds));
        }
        out.push_str("</p>");
        progress(out, job, "");
        out.push_str("</div>");
    }
    out.push_str("</section>\n");
}

/// The progress bar and its words; `ids` adds the element ids the job page's script uses.
pub(super) fn progress(out: &mut String, job: &Job, ids: &str) {
    let (bar, text) = if ids.is_empty() {
        (String::new(), String::new())
    } else {
        (
            format!(" id=\"{ids}bar\""),
            format!(" id=\"{ids}progress-text\""),
        )
    };
    match &job.progress {
        Some(p) => {
            let _ = write!(
                out,
                "<p><progress{bar} value=\"{done}\" max=\"{max}\">{done} of {total}</progress> \
                 <span{text}>{done} of {total} derivations",
                done = p.done,
                total = p.total,
                max = p.total.max(1),
            );
            if let Some(current) = &p.current {
                let _ = write!(out, " · building {}", Escaped(current));
            }
            out.push_str("</span></p>");
        }
        None => {
            let _ = write!(
                out,
                "<p><progress{bar}></progress> <span{text}>evaluating, nothing built yet</span></p>"
            );
        }
    }
}
