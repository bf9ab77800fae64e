//! Keeps the mirror current: fetches every `repo.poll_interval` (and whenever a request or a
//! webhook asks), announces each new branch tip once to be built, and records what the last
//! fetch did for `/api/v1/status` (its `last_error` in words without server paths; the
//! server's log has the whole error). Failed fetches are retried with backoff and never stop
//! the server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

use super::mirror::{FetchError, Mirror};
use crate::builds::jobs::model::Trigger;
use crate::timestamp::now;

/// First retry after a failed fetch; doubled on each failure up to the poll interval.
const FIRST_RETRY: Duration = Duration::from_secs(5);

/// The repository part of `/api/v1/status`.
#[derive(Debug, Clone, Serialize)]
pub struct RepoStatus {
    pub url: String,
    pub branch: String,
    pub rev: Option<String>,
    pub last_poll: Option<String>,
    pub last_error: Option<String>,
}

/// A branch tip to build, and what found it.
#[derive(Debug, Clone)]
pub struct NewTip {
    pub rev: String,
    pub trigger: Trigger,
}

pub struct Watcher {
    mirror: Arc<Mirror>,
    interval: Duration,
    status: Mutex<RepoStatus>,
    /// The last tip handed to `tips`; whoever fetches, a move of the branch is announced once.
    announced: Mutex<Option<String>>,
    tips: mpsc::Sender<NewTip>,
    /// One fetch at a time: the poll loop and webhooks share the mirror.
    fetching: tokio::sync::Mutex<()>,
}

impl Watcher {
    pub fn new(
        mirror: Arc<Mirror>,
        url: String,
        branch: String,
        interval: Duration,
        tips: mpsc::Sender<NewTip>,
    ) -> Watcher {
        let rev = mirror.tip().ok().flatten();
        Watcher {
            mirror,
            interval: interval.max(Duration::from_secs(1)),
            announced: Mutex::new(rev.clone()),
            tips,
            status: Mutex::new(RepoStatus {
                url,
                branch,
                rev,
                last_poll: None,
                last_error: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    pub fn mirror(&self) -> &Arc<Mirror> {
        &self.mirror
    }

    pub fn status(&self) -> RepoStatus {
        self.status.lock().expect("status lock").clone()
    }

    /// Fetches now and returns the branch tip. A tip not seen before is announced as found by
    /// `announce`; with `None`, the caller builds it itself (a webhook answers with the job it
    /// made), and it is only marked as seen.
    pub async fn fetch(&self, announce: Option<Trigger>) -> Result<String, FetchError> {
        let _one_at_a_time = self.fetching.lock().await;
        let mirror = self.mirror.clone();
        let result = tokio::task::spawn_blocking(move || mirror.fetch())
            .await
            .unwrap_or_else(|e| {
                Err(FetchError::Mirror {
                    detail: anyhow::Error::new(e).context("the fetch task failed"),
                })
            });
        {
            let mut status = self.status.lock().expect("status lock");
            status.last_poll = Some(now());
            match &result {
                Ok(tip) => {
                    status.rev = Some(tip.clone());
                    status.last_error = None;
                }
                Err(e) => {
                    tracing::warn!("fetching the fleet repository failed: {}", e.for_log());
                    status.last_error = Some(e.to_string());
                }
            }
        }
        let tip = result?;
        let moved = {
            let mut announced = self.announced.lock().expect("announced lock");
            let moved = announced.as_deref() != Some(tip.as_str());
            *announced = Some(tip.clone());
            moved
        };
        if moved {
            tracing::info!("branch moved to {tip}");
            if let Some(trigger) = announce {
                let _ = self
                    .tips
                    .send(NewTip {
                        rev: tip.clone(),
                        trigger,
                    })
                    .await;
            }
        }
        Ok(tip)
    }

    /// Polls until the process ends.
    pub async fn run(self: Arc<Self>) {
        let mut failures: u32 = 0;
        loop {
            let delay = match self.fetch(Some(Trigger::Poll)).await {
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
