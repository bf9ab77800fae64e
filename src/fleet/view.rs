//! One look at what the box knows for its hosts: every system build of theirs, each host's
//! newest on the watched branch, the pins and the retry requests; and from that and a host's
//! last report, the host object. Read once per request, so a view of the whole fleet reads the
//! job store once and asks git only when the branch moved. Not for recording anything.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;

use super::state::{host_state, StoredReport};
use super::store::ReportStore;
use crate::builds::jobs::history::{latest_on_branch, HostBuild, Pin};
use crate::builds::BuildServer;
use crate::protocol::host::{
    is_behind, Host, LastReport, Latest, Pinned, Running, Target, TargetSource,
};

pub struct Known {
    /// Every succeeded build of a host's system, newest job first.
    builds: Vec<HostBuild>,
    latest: BTreeMap<String, HostBuild>,
    pins: BTreeMap<String, Pin>,
    retries: BTreeMap<String, String>,
    /// The paths built for each host.
    built_for: HashMap<String, HashSet<String>>,
}

impl Known {
    pub fn read(builds: &BuildServer, reports: &ReportStore) -> Result<Known> {
        let host_builds = builds.jobs().host_builds()?;
        let latest = match builds.branch_generations()? {
            Some(order) => latest_on_branch(&host_builds, |rev| order.of(rev)),
            None => BTreeMap::new(),
        };
        let mut built_for: HashMap<String, HashSet<String>> = HashMap::new();
        for build in &host_builds {
            built_for
                .entry(build.host.clone())
                .or_default()
                .insert(build.path.clone());
        }
        Ok(Known {
            builds: host_builds,
            latest,
            pins: builds.jobs().pins()?,
            retries: reports.retries()?,
            built_for,
        })
    }

    /// The builds of `host`'s system, newest job first.
    pub fn builds_of<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a HostBuild> + 'a {
        self.builds.iter().filter(move |b| b.host == host)
    }

    /// The hosts that have a build of their system (none with an input overridden only).
    pub fn built_hosts(&self) -> HashSet<&str> {
        self.builds
            .iter()
            .filter(|b| !b.overridden)
            .map(|b| b.host.as_str())
            .collect()
    }

    /// What `host` is to run: its pin, else its newest build on the branch.
    fn target(&self, builds: &BuildServer, host: &str) -> Result<Option<Target>> {
        let (path, rev, job, source) = match (self.pins.get(host), self.latest.get(host)) {
            (Some(pin), _) => {
                let rev = self
                    .builds
                    .iter()
                    .find(|b| b.job == pin.job)
                    .map(|b| b.rev.clone())
                    .or_else(|| pin.rev.clone());
                (pin.path.clone(), rev, pin.job, TargetSource::Pinned)
            }
            (None, Some(latest)) => (
                latest.path.clone(),
                Some(latest.rev.clone()),
                latest.job,
                TargetSource::Latest,
            ),
            (None, None) => return Ok(None),
        };
        Ok(Some(Target {
            path,
            rev,
            job: Some(job),
            source,
            pushed: pushed_by(builds, job)?,
        }))
    }

    /// `name` as the box sees it, with its last report.
    pub fn host(
        &self,
        builds: &BuildServer,
        name: String,
        last: Option<StoredReport>,
    ) -> Result<Host> {
        let latest = self.latest.get(&name).map(|build| Latest {
            job: build.job,
            rev: build.rev.clone(),
            path: build.path.clone(),
            finished_at: build.finished_at.clone(),
        });
        let target = self.target(builds, &name)?;
        let running = match &last {
            None => None,
            Some(report) => {
                let built_by = match self.builds.iter().find(|b| b.path == report.path) {
                    Some(build) => Some((build.job, build.rev.clone())),
                    None => builds.jobs().job_that_built(&report.path)?,
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
        let target_path = target.as_ref().map(|t| t.path.as_str());
        let built_here = |path: &str| {
            self.built_for
                .get(&name)
                .is_some_and(|paths| paths.contains(path))
        };
        Ok(Host {
            state: host_state(last.as_ref(), target_path, built_here),
            behind: is_behind(running.as_ref().map(|r| r.path.as_str()), target_path),
            last_seen: last.as_ref().map(|r| r.at.clone()),
            last_report: last.map(|r| LastReport {
                state: r.state,
                path: r.path,
                message: r.message,
                at: r.at,
            }),
            pinned: self.pins.get(&name).map(|pin| Pinned {
                rev: pin.rev.clone(),
                path: pin.path.clone(),
                at: pin.at.clone(),
            }),
            retry_at: self.retries.get(&name).cloned(),
            target,
            latest,
            running,
            name,
        })
    }
}

/// The paths that came by push in job `job`'s outputs' closures, as its JSON lists them
/// (`pushed`; none when the job's JSON has no such list).
fn pushed_by(builds: &BuildServer, job: u64) -> Result<Vec<String>> {
    let Some(job) = builds.jobs().get(job)? else {
        return Ok(Vec::new());
    };
    let json = serde_json::to_value(&job)?;
    Ok(json["pushed"]
        .as_array()
        .map(|paths| {
            paths
                .iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}
