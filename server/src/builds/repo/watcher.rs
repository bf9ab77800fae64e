//! Keeps the mirror current: fetches every `repo.poll_interval` (and whenever a request or a
//! webhook asks), announces each new branch tip once to be built, and records what the last
//! fetch did for `/api/v1/status` (its `last_error` in words without server paths; the
//! server's log has the whole error) and for the status page and `/metrics` (the tip's
//! subject, the last fetch that worked, how many failed). Failed fetches are retried with
//! backoff and never stop the server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

use super::commit_subject;
use super::mirror::{FetchError, Mirror};
use common::timestamp::now;

/// First retry after a failed fetch; doubled on each failure up to the poll interval.
const FIRST_RETRY: Duration = Duration::from_secs(5);

/// The repository part of `/api/v1/status`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RepoStatus {
    /// Credentials replaced by `***`.
    pub url: String,
    pub branch: String,
    pub rev: Option<String>,
    pub last_poll: Option<String>,
    pub last_error: Option<String>,
    /// When a fetch last worked.
    pub last_success: Option<String>,
    /// Fetches that failed since the server started.
    pub poll_errors: u64,
    /// The first line of the tip's commit message.
    pub subject: Option<String>,
}

/// Whether a fetch that finds a new branch tip hands it on to be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnNewTip {
    /// Sent to `tips` (the poll loop, and a request that fetches first).
    Announce,
    /// Only marked as seen: the caller builds it itself (a webhook answers with the job it
    /// made).
    CallerBuilds,
}

pub(crate) struct Watcher {
    mirror: Arc<Mirror>,
    interval: Duration,
    status: Mutex<RepoStatus>,
    /// The last tip handed to `tips`; whoever fetches, a move of the branch is announced once.
    announced: Mutex<Option<String>>,
    /// The revisions of new branch tips, to be built.
    tips: mpsc::Sender<String>,
    /// One fetch at a time: the poll loop and webhooks share the mirror.
    fetching: tokio::sync::Mutex<()>,
}

impl Watcher {
    pub(crate) fn new(
        mirror: Arc<Mirror>,
        url: String,
        branch: String,
        interval: Duration,
        tips: mpsc::Sender<String>,
    ) -> Watcher {
        let rev = mirror.tip().ok().flatten();
        let subject = rev
            .as_deref()
            .and_then(|rev| commit_subject::of(mirror.path(), rev).ok());
        Watcher {
            mirror,
            interval: interval.max(Duration::from_secs(1)),
            announced: Mutex::new(rev.clone()),
            tips,
            status: Mutex::new(RepoStatus {
                // Shown to anyone who can read the status: never a credential.
                url: common::credentials::redact_url(&url),
                branch,
                rev,
                last_poll: None,
                last_error: None,
                last_success: None,
                poll_errors: 0,
                subject,
            }),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn mirror(&self) -> &Arc<Mirror> {
        &self.mirror
    }

    pub(crate) fn status(&self) -> RepoStatus {
        self.status.lock().expect("status lock").clone()
    }

    /// Fetches now and returns the branch tip. A tip not seen before is handed on as
    /// `on_new_tip` says.
    pub(crate) async fn fetch(&self, on_new_tip: OnNewTip) -> Result<String, FetchError> {
        let _one_at_a_time = self.fetching.lock().await;
        let mirror = self.mirror.clone();
        let known = self.status().rev.zip(self.status().subject);
        let result = tokio::task::spawn_blocking(move || {
            let tip = mirror.fetch()?;
            // The tip's subject is for people (the status page): a failure to read it only
            // leaves it out.
            let subject = match known {
                Some((rev, subject)) if rev == tip => Some(subject),
                _ => commit_subject::of(mirror.path(), &tip).ok(),
            };
            Ok((tip, subject))
        })
        .await
        .unwrap_or_else(|e| {
            Err(FetchError::Mirror {
                detail: anyhow::Error::new(e).context("the fetch task failed"),
            })
        });
        {
            let mut status = self.status.lock().expect("status lock");
            let at = now();
            status.last_poll = Some(at.clone());
            match &result {
                Ok((tip, subject)) => {
                    status.rev = Some(tip.clone());
                    status.subject = subject.clone();
                    status.last_error = None;
                    status.last_success = Some(at);
                }
                Err(e) => {
                    tracing::warn!("fetching the fleet repository failed: {}", e.for_log());
                    status.last_error = Some(e.to_string());
                    status.poll_errors += 1;
                }
            }
        }
        let (tip, _) = result?;
        let moved = {
            let mut announced = self.announced.lock().expect("announced lock");
            let moved = announced.as_deref() != Some(tip.as_str());
            *announced = Some(tip.clone());
            moved
        };
        if moved {
            tracing::info!("branch moved to {tip}");
            if on_new_tip == OnNewTip::Announce {
                let _ = self.tips.send(tip.clone()).await;
            }
        }
        Ok(tip)
    }

    /// Polls until the process ends.
    pub(crate) async fn run(self: Arc<Self>) {
        let mut failures: u32 = 0;
        loop {
            let delay = match self.fetch(OnNewTip::Announce).await {
                Ok(_) => {
                    failures = 0;
                    self.interval
                }
                Err(_) => {
                    // fetch() has logged why.
                    failures += 1;
                    let backoff = FIRST_RETRY.saturating_mul(1 << (failures - 1).min(16));
                    let delay = backoff.min(self.interval);
                    tracing::info!("the next fetch is in {delay:?}");
                    delay
                }
            };
            tokio::time::sleep(delay).await;
        }
    }
}
