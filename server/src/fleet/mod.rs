//! The fleet view on the box: every host of the flake's `nixosConfigurations` at the newest
//! revision, and every host that has reported, each with its newest build on the watched
//! branch, its pin, its target (the pin, else that build), what it last reported running, and
//! its state. Reports come from each host's `atuin-bootstrap deploy`; each report is also told
//! to whoever subscribed (alerts). Pins and retry requests are set here. Not for deploying
//! (that runs on the hosts, see `deploy`).
//!
//! A host that is not in the flake and has not reported for `fleet.forget_after` is forgotten
//! (its reports deleted) when the hosts are next listed: names made up by a report token do not
//! stay on the page for ever.

mod pinning;
mod state;
mod store;
mod view;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Result;
use tokio::sync::broadcast;

use crate::builds::BuildServer;
use common::protocol::host::{Host, PinRequest, Report};
use state::StoredReport;
use store::ReportStore;
use view::{HostBuilds, Known};

pub(crate) struct Fleet {
    reports: ReportStore,
    reported: broadcast::Sender<Reported>,
    /// Hosts not in the flake are forgotten this long after their last report.
    forget_after: Duration,
    /// The hosts' builds as last read.
    built: Mutex<Option<Arc<HostBuilds>>>,
}

/// The default of `fleet.forget_after`.
pub(crate) const DEFAULT_FORGET_AFTER: Duration = Duration::from_secs(7 * 86400);

/// A report as it was recorded, for subscribers.
#[derive(Debug, Clone)]
pub(crate) struct Reported {
    /// The host as it is after the report.
    pub host: Host,
    /// The host's report before this one said the same state about the same build (a
    /// heartbeat, or a rollback reported again while the failed build is still the target).
    pub repeat: bool,
}

/// Reports held for a subscriber that lags; past that it misses the oldest.
const REPORTS_BUFFER: usize = 256;

/// Why one host cannot be shown.
pub(crate) enum HostLookup {
    Found(Box<Host>),
    /// Not a host of the flake and never reported; the known hosts are named.
    Unknown(Vec<String>),
}

/// Why a pin, release or retry was not done.
pub(crate) enum Refused {
    /// Not a host of the flake and never reported; the known hosts are named.
    UnknownHost(Vec<String>),
    /// What was asked names no build the box has (or no commit): why, in words.
    Unprocessable(String),
}

impl Fleet {
    pub(crate) fn open(state_dir: &Path) -> Result<Fleet> {
        Ok(Fleet {
            reports: ReportStore::open(&state_dir.join("fleet.sqlite"))?,
            reported: broadcast::channel(REPORTS_BUFFER).0,
            forget_after: DEFAULT_FORGET_AFTER,
            built: Mutex::new(None),
        })
    }

    pub(crate) fn with_forget_after(mut self, forget_after: Duration) -> Fleet {
        self.forget_after = forget_after;
        self
    }

    /// Every report recorded from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Reported> {
        self.reported.subscribe()
    }

    fn known(&self, builds: &BuildServer) -> Result<Known> {
        let kept = self.built.lock().expect("fleet builds lock").clone();
        let built = HostBuilds::read(builds, kept)?;
        *self.built.lock().expect("fleet builds lock") = Some(built.clone());
        Known::read(builds, &self.reports, built)
    }

    /// The hosts that have reported, sorted by name, without listing the flake's hosts
    /// (which may evaluate it): cheap enough for every scrape of `/metrics`.
    pub(crate) fn reported_hosts(&self, builds: &BuildServer) -> Result<Vec<Host>> {
        let known = self.known(builds)?;
        self.reports
            .all_last()?
            .into_iter()
            .map(|(name, last)| known.host(builds, name, Some(last)))
            .collect()
    }

    /// Every host, sorted by name.
    pub(crate) async fn hosts(&self, builds: &BuildServer) -> Result<Vec<Host>> {
        let names = builds.host_names().await;
        let known = self.known(builds)?;
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
                known.host(builds, name, last)
            })
            .collect()
    }

    /// One host, or the names of those that are known.
    pub(crate) async fn lookup(&self, builds: &BuildServer, name: &str) -> Result<HostLookup> {
        let last = self.reports.last(name)?;
        if last.is_none() && !builds.host_names().await.iter().any(|h| h == name) {
            let known = self.hosts(builds).await?.into_iter().map(|h| h.name);
            return Ok(HostLookup::Unknown(known.collect()));
        }
        let host = self.known(builds)?.host(builds, name.to_string(), last)?;
        Ok(HostLookup::Found(Box::new(host)))
    }

    /// Records a host's report and answers with the host as it is now.
    pub(crate) async fn report(
        &self,
        builds: &BuildServer,
        name: &str,
        report: &Report,
    ) -> Result<Host> {
        let known = self.known(builds)?;
        let before = self.reports.last(name)?;
        let target = match &report.wanted {
            Some(_) => None,
            None => known.host(builds, name.to_string(), None)?.target,
        };
        let about = report.wanted.clone().or(target.map(|t| t.path));
        self.reports.add(
            name,
            report.state,
            &report.path,
            report.message.as_deref(),
            about.as_deref(),
        )?;
        let last = self.reports.last(name)?;
        let host = known.host(builds, name.to_string(), last)?;
        let repeat = before.is_some_and(|b| b.state == report.state && b.about == about);
        let _ = self.reported.send(Reported {
            host: host.clone(),
            repeat,
        });
        Ok(host)
    }

    /// Pins `name` to a revision or a store path (`request`), replacing its pin.
    pub(crate) async fn pin(
        &self,
        builds: &BuildServer,
        name: &str,
        request: &PinRequest,
    ) -> Result<Result<Host, Refused>> {
        if let Some(unknown) = self.unknown(builds, name).await? {
            return Ok(Err(unknown));
        }
        let known = self.known(builds)?;
        let pin = match (&request.rev, &request.path) {
            (Some(rev), None) => match resolve(builds, rev).await? {
                Ok(full) => pinning::at_rev(&known, name, &full),
                Err(why) => Err(why),
            },
            (None, Some(path)) => pinning::at_path(&known, name, path),
            _ => Err(
                "a pin names a revision or a store path: {\"rev\": \"…\"} or \
                 {\"path\": \"/nix/store/…\"}"
                    .to_string(),
            ),
        };
        let pin = match pin {
            Ok(pin) => pin,
            Err(why) => return Ok(Err(Refused::Unprocessable(why))),
        };
        builds.jobs().history().pin(&[pin])?;
        Ok(Ok(self.one(builds, name)?))
    }

    /// Pins every host that has a build of its system to its build at `rev`; when one of
    /// them has none there, pins none and names those hosts.
    pub(crate) async fn pin_all(
        &self,
        builds: &BuildServer,
        rev: &str,
    ) -> Result<Result<Vec<Host>, Refused>> {
        let full = match resolve(builds, rev).await? {
            Ok(full) => full,
            Err(why) => return Ok(Err(Refused::Unprocessable(why))),
        };
        let known = self.known(builds)?;
        let names: BTreeSet<String> = self
            .hosts(builds)
            .await?
            .into_iter()
            .map(|h| h.name)
            .collect();
        let built = known.built_hosts();
        let mut pins = Vec::new();
        let mut without = Vec::new();
        for name in names.iter().filter(|n| built.contains(n.as_str())) {
            match pinning::at_rev(&known, name, &full) {
                Ok(pin) => pins.push(pin),
                Err(_) => without.push(name.as_str()),
            }
        }
        if !without.is_empty() {
            return Ok(Err(Refused::Unprocessable(format!(
                "no successful build at {} of host{} {}; nothing was pinned (pin the others \
                 one by one)",
                &full[..8],
                if without.len() == 1 { "" } else { "s" },
                without.join(", ")
            ))));
        }
        if pins.is_empty() {
            return Ok(Err(Refused::Unprocessable(
                "no host has a successful build yet; nothing was pinned".into(),
            )));
        }
        builds.jobs().history().pin(&pins)?;
        Ok(Ok(self.hosts(builds).await?))
    }

    /// Releases `name`'s pin (if it had one): it follows the branch again.
    pub(crate) async fn unpin(
        &self,
        builds: &BuildServer,
        name: &str,
    ) -> Result<Result<Host, Refused>> {
        if let Some(unknown) = self.unknown(builds, name).await? {
            return Ok(Err(unknown));
        }
        builds.jobs().history().unpin(Some(name))?;
        Ok(Ok(self.one(builds, name)?))
    }

    /// Releases every pin.
    pub(crate) async fn unpin_all(&self, builds: &BuildServer) -> Result<Vec<Host>> {
        builds.jobs().history().unpin(None)?;
        self.hosts(builds).await
    }

    /// Asks `name` to forget the builds that failed on it (`retry_at` moves).
    pub(crate) async fn retry(
        &self,
        builds: &BuildServer,
        name: &str,
    ) -> Result<Result<Host, Refused>> {
        if let Some(unknown) = self.unknown(builds, name).await? {
            return Ok(Err(unknown));
        }
        self.reports.request_retry(name)?;
        Ok(Ok(self.one(builds, name)?))
    }

    /// `Some` naming the known hosts when `name` is none of them.
    async fn unknown(&self, builds: &BuildServer, name: &str) -> Result<Option<Refused>> {
        Ok(match self.lookup(builds, name).await? {
            HostLookup::Found(_) => None,
            HostLookup::Unknown(known) => Some(Refused::UnknownHost(known)),
        })
    }

    /// A host known to exist, as it is now.
    fn one(&self, builds: &BuildServer, name: &str) -> Result<Host> {
        let last = self.reports.last(name)?;
        self.known(builds)?.host(builds, name.to_string(), last)
    }
}

/// A full or short commit id resolved in the fleet repository's mirror (on the branch or
/// not), or why it cannot be.
async fn resolve(builds: &BuildServer, rev: &str) -> Result<Result<String, String>> {
    let Some(mirror) = builds.mirror().cloned() else {
        return Ok(Err("no fleet repository is configured (repo.url)".into()));
    };
    let rev = rev.to_string();
    let resolved = tokio::task::spawn_blocking(move || mirror.resolve_commit(&rev)).await?;
    match resolved {
        Ok(full) => Ok(Ok(full)),
        Err(error) => match pinning::revision_refusal(&error) {
            Some(why) => Ok(Err(why)),
            None => Err(anyhow::Error::new(error)),
        },
    }
}
