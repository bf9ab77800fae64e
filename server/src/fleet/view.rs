//! One look at what the box knows for its hosts: every system build of theirs, each host's
//! newest on the watched branch, the pins and the retry requests; and from that and a host's
//! last report, the host object. The builds are read again only when a job succeeded or the
//! branch moved (git is asked only then too), so the often-read fleet view costs two small
//! queries. Not for recording anything.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use anyhow::Result;

use super::state::{StoredReport, host_state};
use super::store::ReportStore;
use crate::builds::BuildServer;
use crate::builds::jobs::history::{HostBuild, Pin, latest_on_branch};
use common::protocol::host::{
    Host, LastReport, Latest, Pinned, Running, Target, TargetSource, is_behind,
};

pub(super) struct Known {
    built: Arc<HostBuilds>,
    pins: BTreeMap<String, Pin>,
    retries: BTreeMap<String, String>,
}

/// The hosts' builds and each one's newest on the branch, as of one set of succeeded jobs and
/// one branch tip: the same until a job succeeds or the branch moves, so kept between looks.
pub(super) struct HostBuilds {
    /// The succeeded jobs' version and the branch tip this was made at.
    key: ((u64, u64), Option<String>),
    /// Every succeeded build of a host's system, newest job first.
    builds: Vec<HostBuild>,
    latest: BTreeMap<String, HostBuild>,
    /// The paths built for each host.
    built_for: HashMap<String, HashSet<String>>,
    /// The newest build of each path: (job, revision).
    by_path: HashMap<String, (u64, String)>,
}

impl HostBuilds {
    /// The builds now: `kept` again when nothing changed since it was made.
    pub(super) fn read(
        builds: &BuildServer,
        kept: Option<Arc<HostBuilds>>,
    ) -> Result<Arc<HostBuilds>> {
        let version = builds.jobs().history().succeeded_version()?;
        let order = builds.branch_generations()?;
        let key = (version, order.as_ref().map(|o| o.tip()));
        if let Some(kept) = kept.filter(|k| k.key == key) {
            return Ok(kept);
        }
        let host_builds = builds.jobs().history().host_builds()?;
        let latest = match order {
            Some(order) => latest_on_branch(&host_builds, |rev| order.of(rev)),
            None => BTreeMap::new(),
        };
        let mut built_for: HashMap<String, HashSet<String>> = HashMap::new();
        let mut by_path = HashMap::new();
        for build in &host_builds {
            built_for
                .entry(build.host.clone())
                .or_default()
                .insert(build.path.clone());
            by_path
                .entry(build.path.clone())
                .or_insert_with(|| (build.job, build.rev.clone()));
        }
        Ok(Arc::new(HostBuilds {
            key,
            builds: host_builds,
            latest,
            built_for,
            by_path,
        }))
    }
}

impl Known {
    pub(super) fn read(
        builds: &BuildServer,
        reports: &ReportStore,
        built: Arc<HostBuilds>,
    ) -> Result<Known> {
        Ok(Known {
            built,
            pins: builds.jobs().history().pins()?,
            retries: reports.retries()?,
        })
    }

    /// The builds of `host`'s system, newest job first.
    pub(super) fn builds_of<'a>(
        &'a self,
        host: &'a str,
    ) -> impl Iterator<Item = &'a HostBuild> + 'a {
        self.built.builds.iter().filter(move |b| b.host == host)
    }

    /// The hosts that have a build of their system (none with an input overridden only).
    pub(super) fn built_hosts(&self) -> HashSet<&str> {
        self.built
            .builds
            .iter()
            .filter(|b| !b.overridden)
            .map(|b| b.host.as_str())
            .collect()
    }

    /// What `host` is to run: its pin, else its newest build on the branch.
    fn target(&self, builds: &BuildServer, host: &str) -> Result<Option<Target>> {
        let (path, rev, job, source) = match (self.pins.get(host), self.built.latest.get(host)) {
            (Some(pin), _) => {
                let rev = self
                    .built
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
    pub(super) fn host(
        &self,
        builds: &BuildServer,
        name: String,
        last: Option<StoredReport>,
    ) -> Result<Host> {
        let latest = self.built.latest.get(&name).map(|build| Latest {
            job: build.job,
            rev: build.rev.clone(),
            path: build.path.clone(),
            finished_at: build.finished_at.clone(),
        });
        let target = self.target(builds, &name)?;
        let running = match &last {
            None => None,
            Some(report) => {
                let built_by = match self.built.by_path.get(&report.path) {
                    Some(known) => Some(known.clone()),
                    None => builds.jobs().history().job_that_built(&report.path)?,
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
            self.built
                .built_for
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
