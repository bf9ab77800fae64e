//! The fleet view on the box: every host of the flake's `nixosConfigurations` at the newest
//! revision, and every host that has reported, each with its newest successful system build,
//! what it last reported running, and its state. Reports come from each host's
//! `atuin-bootstrap deploy`; each report is also told to whoever subscribed (alerts). Not for
//! deploying (that runs on the hosts, see `deploy`).
//!
//! A host that is not in the flake and has not reported for `fleet.forget_after` is forgotten
//! (its reports deleted) when the hosts are next listed: names made up by a report token do not
//! stay on the page for ever.

mod state;
mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use tokio::sync::broadcast;

use crate::builds::jobs::history::HostBuild;
use crate::builds::BuildServer;
use crate::protocol::host::{is_behind, Host, LastReport, Latest, Report, Running};
use state::{host_state, StoredReport};
use store::ReportStore;

pub struct Fleet {
    reports: ReportStore,
    reported: broadcast::Sender<Reported>,
    /// Hosts not in the flake are forgotten this long after their last report.
    forget_after: Duration,
}

/// The default of `fleet.forget_after`.
pub const DEFAULT_FORGET_AFTER: Duration = Duration::from_secs(7 * 86400);

/// A report as it was recorded, for subscribers.
#[derive(Debug, Clone)]
pub struct Reported {
    /// The host as it is after the report.
    pub host: Host,
    /// The host's report before this one said the same state about the same build (a
    /// heartbeat, or a rollback reported again while the failed build is still the newest).
    pub repeat: bool,
}

/// Reports held for a subscriber that lags; past that it misses the oldest.
const REPORTS_BUFFER: usize = 256;

/// Why one host cannot be shown.
pub enum HostLookup {
    Found(Box<Host>),
    /// Not a host of the flake and never reported; the known hosts are named.
    Unknown(Vec<String>),
}

impl Fleet {
    pub fn open(state_dir: &Path) -> Result<Fleet> {
        Ok(Fleet {
            reports: ReportStore::open(&state_dir.join("fleet.sqlite"))?,
            reported: broadcast::channel(REPORTS_BUFFER).0,
            forget_after: DEFAULT_FORGET_AFTER,
        })
    }

    pub fn with_forget_after(mut self, forget_after: Duration) -> Fleet {
        self.forget_after = forget_after;
        self
    }

    /// Every report recorded from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Reported> {
        self.reported.subscribe()
    }

    /// The hosts that have reported, sorted by name, without listing the flake's hosts
    /// (which may evaluate it): cheap enough for every scrape of `/metrics`.
    pub fn reported_hosts(&self, builds: &BuildServer) -> Result<Vec<Host>> {
        let newest = builds.jobs().newest_host_builds()?;
        self.reports
            .all_last()?
            .into_iter()
            .map(|(name, last)| {
                let build = newest.get(&name);
                self.host(builds, name, build, Some(last))
            })
            .collect()
    }

    /// Every host, sorted by name.
    pub async fn hosts(&self, builds: &BuildServer) -> Result<Vec<Host>> {
        let names = builds.host_names().await;
        let newest = builds.jobs().newest_host_builds()?;
        let mut reports: BTreeMap<String, StoredReport> =
            self.reports.all_last()?.into_iter().collect();
        // Without the flake's hosts (no repository, or not evaluated yet) nobody is forgotten.
        if !names.is_empty() {
            let cutoff = SystemTime::now()
                .checked_sub(self.forget_after)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let stale: Vec<String> = reports
                .iter()
                .filter(|(name, last)| {
                    !names.contains(name)
                        && humantime::parse_rfc3339(&last.at).is_ok_and(|at| at < cutoff)
                })
                .map(|(name, _)| name.clone())
                .collect();
            for name in stale {
                self.reports.forget(&name)?;
                reports.remove(&name);
                tracing::info!(
                    "forgot host {name}: not in the flake, and silent for fleet.forget_after"
                );
            }
        }
        let every: BTreeSet<String> = names.into_iter().chain(reports.keys().cloned()).collect();
        every
            .into_iter()
            .map(|name| {
                let last = reports.remove(&name);
                self.host(builds, name.clone(), newest.get(&name), last)
            })
            .collect()
    }

    /// One host, or the names of those that are known.
    pub async fn lookup(&self, builds: &BuildServer, name: &str) -> Result<HostLookup> {
        let last = self.reports.last(name)?;
        let newest = builds.jobs().newest_host_builds()?;
        if last.is_none() && !builds.host_names().await.iter().any(|h| h == name) {
            let known = self.hosts(builds).await?.into_iter().map(|h| h.name);
            return Ok(HostLookup::Unknown(known.collect()));
        }
        let host = self.host(builds, name.to_string(), newest.get(name), last)?;
        Ok(HostLookup::Found(Box::new(host)))
    }

    /// Records a host's report and answers with the host as it is now.
    pub async fn report(&self, builds: &BuildServer, name: &str, report: &Report) -> Result<Host> {
        let newest = builds.jobs().newest_host_builds()?;
        let about = report
            .wanted
            .clone()
            .or_else(|| newest.get(name).map(|build| build.path.clone()));
        let before = self.reports.last(name)?;
        self.reports.add(
            name,
            report.state,
            &report.path,
            report.message.as_deref(),
            about.as_deref(),
        )?;
        let last = self.reports.last(name)?;
        let host = self.host(builds, name.to_string(), newest.get(name), last)?;
        let repeat = before.is_some_and(|b| b.state == report.state && b.about == about);
        let _ = self.reported.send(Reported {
            host: host.clone(),
            repeat,
        });
        Ok(host)
    }

    fn host(
        &self,
        builds: &BuildServer,
        name: String,
        newest: Option<&HostBuild>,
        last: Option<StoredReport>,
    ) -> Result<Host> {
        let latest = newest.map(|build| Latest {
            job: build.job,
            rev: build.rev.clone(),
            path: build.path.clone(),
            finished_at: build.finished_at.clone(),
        });
        let running = match &last {
            None => None,
            Some(report) => {
                let built_by = match &latest {
                    Some(l) if l.path == report.path => Some((l.job, l.rev.clone())),
                    _ => builds.jobs().job_that_built(&report.path)?,
                };
                Some(Running {
                    path: report.path.clone(),
                    known: built_by.is_some(),
                    job: built_by.as_ref().map(|(job, _)| *job),
                    rev: built_by.map(|(_, rev)| rev),
                    since: report.running_since.clone(),
                })
            }
        };
        Ok(Host {
            state: host_state(last.as_ref(), latest.as_ref()),
            behind: is_behind(running.as_ref().map(|r| r.path.as_str()), latest.as_ref()),
            last_seen: last.as_ref().map(|r| r.at.clone()),
            last_report: last.map(|r| LastReport {
                state: r.state,
                path: r.path,
                message: r.message,
                at: r.at,
            }),
            name,
            latest,
            running,
        })
    }
}
