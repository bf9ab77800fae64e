//! An alert and how it is written: the JSON body (`{"event", "message", "job", "host",
//! "url"}`) or ntfy's plain text with Title, Tags, Priority and Click headers. Pure: no
//! network, no decisions about when to alert.

use std::time::Duration;

use serde::Serialize;

use crate::builds::jobs::model::Job;
use crate::pages;
use common::config::{NotifyEvent, NotifyFormat};
use common::protocol::host::Host;

/// Longest error or report text quoted in a message.
const QUOTED: usize = 300;

/// One alert to deliver.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Alert {
    #[serde(serialize_with = "event_name")]
    pub event: NotifyEvent,
    pub message: String,
    pub job: Option<Job>,
    pub host: Option<Host>,
    pub url: String,
}

fn event_name<S: serde::Serializer>(event: &NotifyEvent, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(event.as_str())
}

/// What goes on the wire: the body, its type, and extra headers.
pub(crate) struct Request {
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl Alert {
    /// A job that failed.
    pub(crate) fn job_failed(job: Job, base_url: &str) -> Alert {
        let mut message = format!(
            "job {} failed: {} at {}",
            job.id,
            job.targets.join(", "),
            revisions(&job)
        );
        if let Some(error) = job.error.as_deref().and_then(|e| e.lines().next()) {
            message.push_str(": ");
            message.push_str(&cut(error));
        }
        Alert {
            event: NotifyEvent::JobFailed,
            message,
            url: pages::job_url(base_url, job.id),
            job: Some(job),
            host: None,
        }
    }

    /// The first job of a target set to succeed after failed ones.
    pub(crate) fn job_recovered(job: Job, base_url: &str) -> Alert {
        Alert {
            event: NotifyEvent::JobRecovered,
            message: format!(
                "job {} succeeded again: {} at {} (the previous build of these targets failed)",
                job.id,
                job.targets.join(", "),
                revisions(&job)
            ),
            url: pages::job_url(base_url, job.id),
            job: Some(job),
            host: None,
        }
    }

    /// A host that went back to its previous system.
    pub(crate) fn host_rolled_back(host: Host, base_url: &str) -> Alert {
        let mut message = format!("{} rolled back", host.name);
        if let Some(reason) = host.last_report.as_ref().and_then(|r| r.message.as_deref()) {
            message.push_str(": ");
            message.push_str(&cut(reason));
        }
        Alert {
            event: NotifyEvent::HostRolledBack,
            message,
            url: pages::host_url(base_url, &host.name),
            job: None,
            host: Some(host),
        }
    }

    /// Publishing to the bucket that has failed for `lasted`.
    pub(crate) fn publish_failing(
        bucket: &str,
        lasted: Duration,
        error: &str,
        base_url: &str,
    ) -> Alert {
        Alert {
            event: NotifyEvent::PublishFailing,
            message: format!(
                "publishing to bucket {bucket} has failed for {}: {}",
                humantime::format_duration(Duration::from_secs(lasted.as_secs())),
                cut(error)
            ),
            url: format!("{}/", base_url.trim_end_matches('/')),
            job: None,
            host: None,
        }
    }

    /// The request that carries this alert in `format`.
    pub(crate) fn request(&self, format: NotifyFormat) -> Request {
        match format {
            NotifyFormat::Json => Request {
                content_type: "application/json",
                body: serde_json::to_vec(self).expect("an alert is serialisable"),
                headers: Vec::new(),
            },
            NotifyFormat::Ntfy => {
                let (title, tags, priority) = match self.event {
                    NotifyEvent::JobFailed => (
                        format!("job {} failed", self.job.as_ref().map_or(0, |j| j.id)),
                        "x",
                        "high",
                    ),
                    NotifyEvent::JobRecovered => (
                        format!("job {} recovered", self.job.as_ref().map_or(0, |j| j.id)),
                        "white_check_mark",
                        "default",
                    ),
                    NotifyEvent::HostRolledBack => (
                        format!(
                            "{} rolled back",
                            self.host.as_ref().map_or("a host", |h| h.name.as_str())
                        ),
                        "rewind",
                        "high",
                    ),
                    NotifyEvent::PublishFailing => {
                        ("publishing failing".to_string(), "warning", "high")
                    }
                };
                Request {
                    content_type: "text/plain; charset=utf-8",
                    body: self.message.clone().into_bytes(),
                    headers: vec![
                        ("Title", format!("atuin-bootstrap: {title}")),
                        ("Tags", format!("{tags},{}", self.event.as_str())),
                        ("Priority", priority.to_string()),
                        ("Click", self.url.clone()),
                    ],
                }
            }
        }
    }
}

/// `0b1c2d3e`, or with inputs overridden `0b1c2d3e with terminal at 9f3a4b5c`.
fn revisions(job: &Job) -> String {
    let mut text = short(&job.rev).to_owned();
    for (name, rev) in &job.inputs {
        text.push_str(&format!(" with {name} at {}", short(rev)));
    }
    text
}

fn short(rev: &str) -> &str {
    rev.get(..8).unwrap_or(rev)
}

fn cut(text: &str) -> String {
    let mut cut: String = text.chars().take(QUOTED).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builds::jobs::model::{JobState, Trigger};

    fn job() -> Job {
        Job {
            id: 12,
            state: JobState::Failed,
            targets: vec!["laptop".into()],
            attrs: vec!["nixosConfigurations.laptop.config.system.build.toplevel".into()],
            rev: "0b1c2d3e4f".into(),
            trigger: Trigger::Poll,
            created_at: "2026-11-26T06:00:00Z".into(),
            started_at: None,
            finished_at: None,
            outputs: Default::default(),
            error: Some("builder for x failed with exit code 3\nmore".into()),
            progress: None,
            attempt: 1,
            inputs: Default::default(),
            pushed: Vec::new(),
            input_refs: Default::default(),
        }
    }

    #[test]
    fn json_carries_the_event_the_job_and_the_page() {
        let alert = Alert::job_failed(job(), "http://box:8780");
        let body: serde_json::Value =
            serde_json::from_slice(&alert.request(NotifyFormat::Json).body).unwrap();
        assert_eq!(body["event"], "job_failed");
        assert_eq!(
            body["message"],
            "job 12 failed: laptop at 0b1c2d3e: builder for x failed with exit code 3"
        );
        assert_eq!(body["job"]["id"], 12);
        assert_eq!(body["job"]["state"], "failed");
        assert!(body["host"].is_null());
        assert_eq!(body["url"], "http://box:8780/jobs/12");
    }

    #[test]
    fn ntfy_is_plain_text_with_title_tags_and_click() {
        let alert = Alert::job_recovered(job(), "http://box:8780");
        let request = alert.request(NotifyFormat::Ntfy);
        assert!(request.content_type.starts_with("text/plain"));
        assert!(
            String::from_utf8(request.body)
                .unwrap()
                .starts_with("job 12 succeeded again")
        );
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(header("Title"), "atuin-bootstrap: job 12 recovered");
        assert_eq!(header("Click"), "http://box:8780/jobs/12");
        assert!(header("Tags").contains("job_recovered"));
    }
}
