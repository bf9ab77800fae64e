//! The fleet view on the box: every host of the flake's `nixosConfigurations` at the newest
//! revision, and every host that has reported, each with its newest successful system build,
//! what it last reported running, and its state. Reports come from each host's
//! `atuin-bootstrap deploy`. Not for deploying (that runs on the hosts, see `deploy`).

mod state;
mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Result;

use crate::builds::jobs::history::HostBuild;
use crate::builds::BuildServer;
use crate::protocol::host::{is_behind, Host, LastReport, Latest, Report, Running};
use state::{host_state, StoredReport};
use store::ReportStore;

pub struct Fleet {
    reports: ReportStore,
}

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
        })
    }

    /// Every host, sorted by name.
    pub async fn hosts(&self, builds: &BuildServer) -> Result<Vec<Host>> {
        let names = builds.host_names().await;
        let newest = builds.jobs().newest_host_builds()?;
        let mut reports: BTreeMap<String, StoredReport> =
            self.reports.all_last()?.into_iter().collect();
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
        self.reports.add(
            name,
            report.state,
            &report.path,
            report.message.as_deref(),
            about.as_deref(),
        )?;
        let last = self.reports.last(name)?;
        self.host(builds, name.to_string(), newest.get(name), last)
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
