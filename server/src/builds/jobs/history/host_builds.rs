//! The hosts' system builds in the job history: every succeeded build of a
//! `nixosConfigurations.<host>…toplevel` (whatever the target was called), and of those the
//! one a host should run: its newest build *on the branch*, by git ancestry and not by job
//! order, so a build of an older revision (`bt --rev`, an API job) only warms the cache. A
//! build with a flake input overridden (an `input` job) is of another fleet than the
//! repository's and never counts as a host's newest. What the branch's order is belongs to the
//! repository side (`repo::ancestry`); this file only applies it.

use std::collections::BTreeMap;

use anyhow::Result;

use super::{COLUMNS, JobHistory, job_from_row};
use crate::builds::jobs::targets::host_of_attr;

/// What a succeeded job built for one host: its system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostBuild {
    pub host: String,
    pub job: u64,
    pub rev: String,
    pub path: String,
    pub finished_at: Option<String>,
    /// Built with a flake input overridden: a host's pin may name it, nothing else picks it.
    pub overridden: bool,
}

impl JobHistory {
    /// Every succeeded build of a host's system, newest job first. Reads only the columns it
    /// needs: the fleet view asks for this on every look.
    pub(crate) fn host_builds(&self) -> Result<Vec<HostBuild>> {
        let conn = self.lock();
        let mut statement = conn.prepare_cached(
            "SELECT id, rev, targets, attrs, outputs, finished_at, inputs != '{}' FROM jobs \
             WHERE state = 'succeeded' AND instr(attrs, 'nixosConfigurations.') > 0 \
             ORDER BY id DESC",
        )?;
        let mut rows = statement.query([])?;
        let mut builds = Vec::new();
        while let Some(row) = rows.next()? {
            let job = row.get::<_, i64>(0)? as u64;
            let rev: String = row.get(1)?;
            let targets: Vec<String> = serde_json::from_str(&row.get::<_, String>(2)?)?;
            let attrs: Vec<String> = serde_json::from_str(&row.get::<_, String>(3)?)?;
            let outputs: BTreeMap<String, String> =
                serde_json::from_str(&row.get::<_, String>(4)?)?;
            let finished_at: Option<String> = row.get(5)?;
            let overridden: bool = row.get(6)?;
            for (target, attr) in targets.iter().zip(&attrs) {
                let (Some(host), Some(path)) = (host_of_attr(attr), outputs.get(target)) else {
                    continue;
                };
                builds.push(HostBuild {
                    host: host.to_string(),
                    job,
                    rev: rev.clone(),
                    path: path.clone(),
                    finished_at: finished_at.clone(),
                    overridden,
                });
            }
        }
        Ok(builds)
    }

    /// Changes whenever a job succeeds (succeeded jobs never change or go): the count of
    /// succeeded jobs and the highest id among them. What `host_builds` returns is the same
    /// while this is.
    pub(crate) fn succeeded_version(&self) -> Result<(u64, u64)> {
        let (count, max): (i64, i64) = self.lock().query_row(
            "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM jobs WHERE state = 'succeeded'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok((count as u64, max as u64))
    }

    /// The succeeded build of each host with the highest job id (not an `input` job's): what
    /// retention kept before builds followed the branch, and still keeps.
    pub(crate) fn newest_host_builds(&self) -> Result<BTreeMap<String, HostBuild>> {
        let mut newest = BTreeMap::new();
        for build in self.host_builds()? {
            if !build.overridden {
                newest.entry(build.host.clone()).or_insert(build);
            }
        }
        Ok(newest)
    }

    /// The newest succeeded job with `path` among its outputs: (job id, revision).
    pub(crate) fn job_that_built(&self, path: &str) -> Result<Option<(u64, String)>> {
        let conn = self.lock();
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE state = 'succeeded' \
             AND instr(outputs, ?1) > 0 ORDER BY id DESC"
        ))?;
        let quoted = serde_json::to_string(path)?;
        for job in statement.query_map([&quoted], job_from_row)? {
            let job = job?;
            if job.outputs.values().any(|p| p == path) {
                return Ok(Some((job.id, job.rev)));
            }
        }
        Ok(None)
    }
}

/// Each host's newest build on the branch: of its builds (none with an input overridden) at
/// commits `generation` numbers, the one at the highest number; of several there, the newest
/// job. A host with no build on the branch has none.
pub(crate) fn latest_on_branch(
    builds: &[HostBuild],
    generation: impl Fn(&str) -> Option<u32>,
) -> BTreeMap<String, HostBuild> {
    let mut numbers: BTreeMap<&str, Option<u32>> = BTreeMap::new();
    let mut latest: BTreeMap<String, (u32, &HostBuild)> = BTreeMap::new();
    for build in builds.iter().filter(|b| !b.overridden) {
        let number = *numbers
            .entry(build.rev.as_str())
            .or_insert_with(|| generation(&build.rev));
        let Some(number) = number else {
            continue;
        };
        let newer = match latest.get(&build.host) {
            None => true,
            Some((best, kept)) => (number, build.job) > (*best, kept.job),
        };
        if newer {
            latest.insert(build.host.clone(), (number, build));
        }
    }
    latest
        .into_iter()
        .map(|(host, (_, build))| (host, build.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::Ending;
    use super::*;
    use crate::builds::jobs::model::{JobState, NewJob, Trigger};

    fn succeed(store: &JobHistory, targets: &[(&str, &str)], rev: &str) -> u64 {
        let new = NewJob {
            targets: targets.iter().map(|(t, _)| t.to_string()).collect(),
            attrs: targets
                .iter()
                .map(|(t, _)| {
                    if t.contains('.') {
                        t.to_string()
                    } else {
                        crate::builds::jobs::targets::host_attr(t)
                    }
                })
                .collect(),
            rev: rev.into(),
            trigger: Trigger::Api,
            inputs: BTreeMap::new(),
            failed: None,
        };
        let (job, _) = store.create(&new).unwrap();
        store.claim_next().unwrap();
        let outputs = targets
            .iter()
            .map(|(t, p)| (t.to_string(), p.to_string()))
            .collect();
        store
            .finish(
                job.id,
                &Ending {
                    state: JobState::Succeeded,
                    outputs,
                    error: None,
                    progress: None,
                },
            )
            .unwrap();
        job.id
    }

    #[test]
    fn a_build_with_an_input_overridden_is_never_a_hosts_newest() {
        use crate::builds::jobs::model::InputOverride;
        let dir = tempfile::tempdir().unwrap();
        let store = JobHistory::open(&dir.path().join("jobs.sqlite")).unwrap();
        let fleet_build = succeed(&store, &[("laptop", "/nix/store/a-l1")], "r1");
        let mut inputs = BTreeMap::new();
        inputs.insert(
            "terminal".to_string(),
            InputOverride {
                rev: "t2".into(),
                flake_ref: "git+file:///m?rev=t2".into(),
            },
        );
        let (warm, created) = store
            .create(&NewJob {
                trigger: Trigger::Input,
                inputs,
                ..NewJob::for_test(&[&crate::builds::jobs::targets::host_attr("laptop")], "r1")
            })
            .unwrap();
        assert!(created, "another job than the fleet's own build");
        assert_eq!(warm.inputs["terminal"], "t2");
        assert_eq!(warm.input_refs["terminal"], "git+file:///m?rev=t2");
        store.claim_next().unwrap();
        let outputs = [(warm.targets[0].clone(), "/nix/store/b-l2".to_string())].into();
        store
            .finish(
                warm.id,
                &Ending {
                    state: JobState::Succeeded,
                    outputs,
                    error: None,
                    progress: None,
                },
            )
            .unwrap();
        let newest = store.newest_host_builds().unwrap();
        assert_eq!(newest["laptop"].job, fleet_build);
        assert_eq!(newest["laptop"].path, "/nix/store/a-l1");
        assert!(store.get(fleet_build).unwrap().unwrap().inputs.is_empty());
    }

    #[test]
    fn newest_host_builds_and_who_built_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobHistory::open(&dir.path().join("jobs.sqlite")).unwrap();
        let first = succeed(
            &store,
            &[
                ("laptop", "/nix/store/a-l1"),
                ("desktop", "/nix/store/a-d1"),
            ],
            "r1",
        );
        let second = succeed(&store, &[("laptop", "/nix/store/b-l2")], "r2");
        let full = "nixosConfigurations.desktop.config.system.build.toplevel";
        let third = succeed(&store, &[(full, "/nix/store/c-d3")], "r3");
        succeed(
            &store,
            &[("packages.x86_64-linux.hello", "/nix/store/h")],
            "r4",
        );
        // A failed job never counts.
        let (failed, _) = store.create(&NewJob::for_test(&["x"], "r5")).unwrap();
        store.claim_next().unwrap();
        store
            .finish(
                failed.id,
                &Ending {
                    state: JobState::Failed,
                    outputs: BTreeMap::new(),
                    error: Some("no".into()),
                    progress: None,
                },
            )
            .unwrap();

        let newest = store.newest_host_builds().unwrap();
        assert_eq!(newest.len(), 2);
        assert_eq!(newest["laptop"].job, second);
        assert_eq!(newest["laptop"].path, "/nix/store/b-l2");
        assert_eq!(newest["desktop"].job, third);
        assert_eq!(newest["desktop"].rev, "r3");

        assert_eq!(
            store.job_that_built("/nix/store/a-d1").unwrap(),
            Some((first, "r1".to_string()))
        );
        assert_eq!(store.job_that_built("/nix/store/a").unwrap(), None);
        assert_eq!(store.job_that_built("/nix/store/nope").unwrap(), None);
    }

    #[test]
    fn the_latest_build_follows_the_branch_not_the_job_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobHistory::open(&dir.path().join("jobs.sqlite")).unwrap();
        // r1 < r2 on the branch; r2 is built, then r1 again (`bt --rev r1`), and r9 is a
        // commit a force-push dropped.
        succeed(&store, &[("laptop", "/nix/store/a-l1")], "r1");
        let at_r2 = succeed(
            &store,
            &[
                ("laptop", "/nix/store/b-l2"),
                ("desktop", "/nix/store/b-d2"),
            ],
            "r2",
        );
        let again = succeed(&store, &[("laptop", "/nix/store/a-l1b")], "r1");
        succeed(&store, &[("desktop", "/nix/store/z-d9")], "r9");
        let generation = |rev: &str| match rev {
            "r1" => Some(1),
            "r2" => Some(2),
            _ => None,
        };
        let builds = store.host_builds().unwrap();
        assert_eq!(builds[0].job, again + 1, "newest job first");
        let latest = latest_on_branch(&builds, generation);
        assert_eq!(latest["laptop"].job, at_r2);
        assert_eq!(latest["laptop"].path, "/nix/store/b-l2");
        assert_eq!(latest["desktop"].job, at_r2);
        // By job order, the old revision would have won.
        assert_eq!(store.newest_host_builds().unwrap()["laptop"].job, again);

        // A second build at the newest revision is the newer of the two.
        let rebuilt = succeed(&store, &[("laptop", "/nix/store/c-l2")], "r2");
        let latest = latest_on_branch(&store.host_builds().unwrap(), generation);
        assert_eq!(latest["laptop"].job, rebuilt);
        // Nothing on the branch: no latest.
        assert!(latest_on_branch(&store.host_builds().unwrap(), |_| None).is_empty());
    }
}
