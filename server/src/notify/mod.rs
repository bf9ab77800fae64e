//! Alerts (`[notify]`): a POST to `notify.url` when a job fails, when the first job of a
//! target set succeeds after failed ones (recovered), and when a host reports a rollback
//! that is new (not the same rollback reported again). It listens to the job service's
//! endings and the fleet's reports, and hands alerts to one delivery worker; it never
//! slows a build or a request. Also when publishing to the bucket has failed for longer than
//! `publish.alert_after` (once a failing streak). Which events: `notify.on`; the body:
//! `notify.format`.

mod alert;
mod delivery;

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::builds::BuildServer;
use crate::builds::jobs::model::{Job, JobState};
use crate::builds::jobs::stats;
use crate::fleet::{Fleet, Reported};
use crate::publish::Publisher;
pub(crate) use alert::Alert;
use common::config::{NotifyEvent, NotifySettings};
use common::protocol::host::ReportState;

/// Starts listening and delivering; `base_url` is the server's address in the links.
/// Nothing is started when `notify.url` is empty. The tasks end with the runtime.
pub(crate) fn start(
    settings: &NotifySettings,
    base_url: String,
    builds: &Arc<BuildServer>,
    fleet: &Fleet,
    publisher: Option<&Arc<Publisher>>,
) -> Vec<JoinHandle<()>> {
    let Some(url) = &settings.url else {
        return Vec::new();
    };
    let on = settings.on.value.clone();
    tracing::info!(
        "alerts ({}) go to {}",
        on.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", "),
        delivery::shown(&url.value)
    );
    let (queue, alerts) = mpsc::channel(delivery::QUEUE);
    let jobs = JobAlerts {
        on: on.clone(),
        base_url: base_url.clone(),
        builds: Arc::downgrade(builds),
        queue: queue.clone(),
    };
    let publishing = (on.contains(&NotifyEvent::PublishFailing))
        .then_some(publisher)
        .flatten()
        .map(|publisher| {
            tokio::spawn(publish_alerts(
                Arc::downgrade(publisher),
                base_url.clone(),
                queue.clone(),
            ))
        });
    let hosts = HostAlerts {
        on,
        base_url,
        queue,
    };
    let mut tasks = vec![
        tokio::spawn(delivery::run(
            url.value.clone(),
            settings.format.value,
            alerts,
        )),
        tokio::spawn(jobs.run(builds.jobs().subscribe_endings())),
        tokio::spawn(hosts.run(fleet.subscribe())),
    ];
    tasks.extend(publishing);
    tasks
}

/// Looks every few seconds whether publishing has failed for `publish.alert_after`.
async fn publish_alerts(
    publisher: std::sync::Weak<Publisher>,
    base_url: String,
    queue: mpsc::Sender<Alert>,
) {
    loop {
        let Some(publisher) = publisher.upgrade() else {
            return;
        };
        if let Some((lasted, error)) = publisher.failing_alert() {
            let bucket = publisher.status().bucket;
            enqueue(
                &queue,
                Alert::publish_failing(&bucket, lasted, &error, &base_url),
            );
        }
        let every = (publisher.alert_after() / 4).clamp(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(30),
        );
        drop(publisher);
        tokio::time::sleep(every).await;
    }
}

/// Hands an alert to the worker without waiting; a full queue drops it.
fn enqueue(queue: &mpsc::Sender<Alert>, alert: Alert) {
    if let Err(e) = queue.try_send(alert) {
        tracing::warn!("an alert was dropped: {e}");
    }
}

struct JobAlerts {
    on: Vec<NotifyEvent>,
    base_url: String,
    builds: std::sync::Weak<BuildServer>,
    queue: mpsc::Sender<Alert>,
}

impl JobAlerts {
    async fn run(self, mut endings: broadcast::Receiver<Job>) {
        loop {
            let job = match endings.recv().await {
                Ok(job) => job,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!("alerts missed {missed} job endings");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if let Some(alert) = self.alert_for(job) {
                enqueue(&self.queue, alert);
            }
        }
    }

    fn alert_for(&self, job: Job) -> Option<Alert> {
        match job.state {
            JobState::Failed if self.on.contains(&NotifyEvent::JobFailed) => {
                Some(Alert::job_failed(job, &self.base_url))
            }
            JobState::Succeeded if self.on.contains(&NotifyEvent::JobRecovered) => {
                let builds = self.builds.upgrade()?;
                match stats::previous_outcome(builds.jobs().history(), &job) {
                    Ok(Some(JobState::Failed)) => Some(Alert::job_recovered(job, &self.base_url)),
                    Ok(_) => None,
                    Err(e) => {
                        tracing::warn!("cannot tell whether job {} recovered: {e:#}", job.id);
                        None
                    }
                }
            }
            _ => None,
        }
    }
}

struct HostAlerts {
    on: Vec<NotifyEvent>,
    base_url: String,
    queue: mpsc::Sender<Alert>,
}

impl HostAlerts {
    async fn run(self, mut reports: broadcast::Receiver<Reported>) {
        if !self.on.contains(&NotifyEvent::HostRolledBack) {
            return;
        }
        loop {
            let reported = match reports.recv().await {
                Ok(reported) => reported,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!("alerts missed {missed} host reports");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let rolled_back = reported
                .host
                .last_report
                .as_ref()
                .is_some_and(|r| r.state == ReportState::RolledBack);
            if rolled_back && !reported.repeat {
                enqueue(
                    &self.queue,
                    Alert::host_rolled_back(reported.host, &self.base_url),
                );
            }
        }
    }
}
