//! The recent jobs table of the status page: id (a link to the job's page), state with its
//! icon and word, targets, short revision, trigger, start and run time.

use std::fmt::Write;
use std::time::SystemTime;

use super::format::{duration, job_state, run_time, short_rev, time_ago};
use super::html::Escaped;
use crate::builds::jobs::model::{Job, JobState};

pub(super) fn write(out: &mut String, jobs: &[Job], now: SystemTime) {
    out.push_str("<section id=\"jobs\"><h2>Recent jobs</h2>");
    if jobs.is_empty() {
        out.push_str(
            "<p class=\"mute\">No jobs yet: a new commit on the branch, a webhook or \
             <code>bt</code> starts one.</p></section>\n",
        );
        return;
    }
    out.push_str(
        "<div class=\"scroll\"><table><thead><tr><th>Job</th><th>State</th><th>Targets</th>\
         <th>Revision</th><th>Trigger</th><th>Started</th><th>Duration</th></tr></thead><tbody>",
    );
    for job in jobs {
        let started = match (job.started_at.as_deref(), job.state) {
            (Some(at), _) => time_ago(Some(at), now),
            (None, JobState::Queued) => format!(
                "<span class=\"mute\">queued {}</span>",
                time_ago(Some(&job.created_at), now)
            ),
            // Failed at once (a flake that does not evaluate) or cancelled while queued.
            (None, _) => "<span class=\"mute\">never started</span>".to_string(),
        };
        let took = run_time(job.started_at.as_deref(), job.finished_at.as_deref(), now)
            .map(duration)
            .unwrap_or_default();
        let _ = write!(
            out,
            "<tr id=\"job-{id}\"><td><a href=\"/jobs/{id}\">#{id}</a></td><td>{state}</td>\
             <td class=\"wrap\">{targets}</td><td><code title=\"{rev}\">{short}</code></td>\
             <td>{trigger}</td><td>{started}</td><td>{took}</td></tr>",
            id = job.id,
            state = job_state(job.state),
            targets = Escaped(&job.targets.join(", ")),
            rev = Escaped(&job.rev),
            short = Escaped(short_rev(&job.rev)),
            trigger = job.trigger.as_str(),
        );
    }
    out.push_str("</tbody></table></div></section>\n");
}
