//! Keeps the mirror current: fetches every `repo.poll_interval` (or at once when a webhook
//! asks), reports each new branch tip, and records what the last fetch did for
//! `/api/v1/status`. Failed fetches are retried with backoff and never stop the server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;
use tokio::sync::{mpsc, Notify};

use super::mirror::Mirror;
use crate::jobs::model::{now, Trigger};

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
    /// One fetch at a time: the poll loop and webhooks share the mirror.
    fetching: tokio::sync::Mutex<()>,
    poke: Notify,
}

impl Watcher {
    pub fn new(mirror: Arc<Mirror>, url: String, branch: String, interval: Duration) -> Watcher {
        let rev = mirror.tip().ok().flatten();
        Watcher {
            mirror,
            interval: interval.max(Duration::from_secs(1)),
            status: Mutex::new(RepoStatus {
                url,
                branch,
                rev,
                last_poll: None,
                last_error: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
            poke: Notify::new(),
        }
    }

    pub fn mirror(&self) -> &Arc<Mirror> {
        &self.mirror
    }

    pub fn status(&self) -> RepoStatus {
        self.status.lock().expect("status lock").clone()
    }

    /// Fetches now; returns the tip before and after.
    pub async fn fetch(&self) -> Result<(Option<String>, String)> {
        let _one_at_a_time = self.fetching.lock().await;
        let mirror = self.mirror.clone();
        let result = tokio::task::spawn_blocking(move || {
            let before = mirror.tip().ok().flatten();
            mirror.fetch().map(|after| (before, after))
        })
        .await
        .context("the fetch task failed")?;
        let mut status = self.status.lock().expect("status lock");
        status.last_poll = Some(now());
        match &result {
            Ok((_, after)) => {
                status.rev = Some(after.clone());
                status.last_error = None;
            }
            Err(e) => status.last_error = Some(format!("{e:#}")),
        }
        result
    }

    /// Polls until the process ends, sending every new tip to `tips`.
    pub async fn run(self: Arc<Self>, tips: mpsc::Sender<NewTip>) {
        let mut failures: u32 = 0;
        loop {
            let delay = match self.fetch().await {
                Ok((before, after)) => {
                    failures = 0;
                    if before.as_deref() != Some(after.as_str()) {
                        tracing::info!("branch moved to {after}");
                        let tip = NewTip {
                            rev: after,
                            trigger: Trigger::Poll,
                        };
                        if tips.send(tip).await.is_err() {
                            return;
                        }
                    }
                    self.interval
                }
                Err(e) => {
                    failures += 1;
                    let backoff = FIRST_RETRY.saturating_mul(1 << (failures - 1).min(16));
                    let delay = backoff.min(self.interval);
                    tracing::warn!(
                        "fetching the fleet repository failed (retry in {delay:?}): {e:#}"
                    );
                    delay
                }
            };
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.poke.notified() => {}
            }
        }
    }

    /// Makes the poll loop fetch now instead of waiting out its interval.
    pub fn poke(&self) {
        self.poke.notify_one();
    }
}
