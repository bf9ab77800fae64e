//! What the job history says in numbers, for `/metrics` and alerts: jobs by state and
//! trigger, how long finished jobs took (as histogram buckets), and how the previous job of
//! the same target set ended. Read-only queries over the history's database; no job is
//! changed here.

use anyhow::Result;
use rusqlite::{OptionalExtension, params};

use super::history::JobHistory;
use super::model::{Job, JobState, Trigger, series};

/// Upper bounds of the job duration buckets, in seconds (`+Inf` is implied).
pub(crate) const DURATION_BOUNDS: [f64; 11] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0,
];

/// How many jobs are in one state, by one trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StateCount {
    pub state: JobState,
    pub trigger: Trigger,
    pub jobs: u64,
}

/// How long the finished jobs of one state ran (from started to finished).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Durations {
    pub state: JobState,
    /// Jobs that took at most each of `DURATION_BOUNDS` (cumulative).
    pub at_most: Vec<u64>,
    pub count: u64,
    pub sum_seconds: f64,
}

/// Jobs by state and trigger.
pub(crate) fn counts(history: &JobHistory) -> Result<Vec<StateCount>> {
    history.read(|conn| {
        let mut statement = conn.prepare_cached(
            "SELECT state, trigger, COUNT(*) FROM jobs GROUP BY state, trigger ORDER BY 1, 2",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })?;
        let mut counts = Vec::new();
        for row in rows {
            let (state, trigger, jobs) = row?;
            if let (Some(state), Some(trigger)) =
                (JobState::parse(&state), Trigger::parse(&trigger))
            {
                counts.push(StateCount {
                    state,
                    trigger,
                    jobs: jobs as u64,
                });
            }
        }
        Ok(counts)
    })
}

/// How long the jobs that started and ended took, by final state. The times are read as
/// they are stored and counted here: one pass, and cheaper than date functions in SQL.
pub(crate) fn durations(history: &JobHistory) -> Result<Vec<Durations>> {
    history.read(|conn| {
        let mut statement = conn.prepare_cached(
            "SELECT state, started_at, finished_at FROM jobs \
             WHERE started_at IS NOT NULL AND finished_at IS NOT NULL",
        )?;
        let mut rows = statement.query([])?;
        let mut all: Vec<Durations> = Vec::new();
        while let Some(row) = rows.next()? {
            let state = row.get_ref(0)?.as_str().map(JobState::parse)?;
            let (started, finished) = (row.get_ref(1)?.as_str()?, row.get_ref(2)?.as_str()?);
            let (Some(state), Some(started), Some(finished)) = (
                state,
                common::timestamp::unix_seconds(started),
                common::timestamp::unix_seconds(finished),
            ) else {
                continue;
            };
            let seconds = finished.saturating_sub(started);
            let index = match all.iter().position(|d| d.state == state) {
                Some(index) => index,
                None => {
                    all.push(Durations {
                        state,
                        at_most: vec![0; DURATION_BOUNDS.len()],
                        count: 0,
                        sum_seconds: 0.0,
                    });
                    all.len() - 1
                }
            };
            let entry = &mut all[index];
            entry.count += 1;
            entry.sum_seconds += seconds as f64;
            for (bound, n) in DURATION_BOUNDS.iter().zip(entry.at_most.iter_mut()) {
                if seconds as f64 <= *bound {
                    *n += 1;
                }
            }
        }
        all.sort_by_key(|d| d.state.as_str());
        Ok(all)
    })
}

/// How the newest earlier job that built the same set of attributes (with the same inputs
/// overridden, if any) ended, counting only jobs that succeeded or failed (a cancelled one
/// says nothing about the build).
pub(crate) fn previous_outcome(history: &JobHistory, job: &Job) -> Result<Option<JobState>> {
    let set = series(&job.attrs, job.inputs.keys());
    history.read(|conn| {
        let state: Option<String> = conn
            .prepare_cached(
                "SELECT state FROM jobs WHERE id < ?1 AND state IN ('succeeded', 'failed') \
                 AND substr(dedupe_key, instr(dedupe_key, char(10)) + 1) = ?2 \
                 ORDER BY id DESC LIMIT 1",
            )?
            .query_row(params![job.id as i64, set], |row| row.get(0))
            .optional()?;
        Ok(state.as_deref().and_then(JobState::parse))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builds::jobs::history::Ending;
    use crate::builds::jobs::model::NewJob;

    fn run(history: &JobHistory, attrs: &[&str], rev: &str, state: JobState) -> Job {
        let (job, _) = history.create(&NewJob::for_test(attrs, rev)).unwrap();
        let claimed = history.claim_next().unwrap().unwrap();
        assert_eq!(claimed.id, job.id);
        history
            .finish(
                job.id,
                &Ending {
                    state,
                    outputs: Default::default(),
                    error: None,
                    progress: None,
                },
            )
            .unwrap();
        history.get(job.id).unwrap().unwrap()
    }

    #[test]
    fn counts_durations_and_the_previous_outcome_of_a_target_set() {
        let dir = tempfile::tempdir().unwrap();
        let history = JobHistory::open(&dir.path().join("jobs.sqlite")).unwrap();
        let failed = run(&history, &["b", "a"], "r1", JobState::Failed);
        assert_eq!(previous_outcome(&history, &failed).unwrap(), None);
        let other = run(&history, &["a"], "r2", JobState::Succeeded);
        assert_eq!(previous_outcome(&history, &other).unwrap(), None);
        let cancelled = run(&history, &["a", "b"], "r3", JobState::Cancelled);
        let fixed = run(&history, &["a", "b", "a"], "r4", JobState::Succeeded);
        assert_eq!(
            previous_outcome(&history, &fixed).unwrap(),
            Some(JobState::Failed),
            "the cancelled job in between does not count"
        );
        assert_eq!(
            previous_outcome(&history, &cancelled).unwrap(),
            Some(JobState::Failed)
        );
        history.create(&NewJob::for_test(&["c"], "r5")).unwrap();

        let counts = counts(&history).unwrap();
        let of = |state| {
            counts
                .iter()
                .filter(|c| c.state == state)
                .map(|c| c.jobs)
                .sum::<u64>()
        };
        assert_eq!(of(JobState::Succeeded), 2);
        assert_eq!(of(JobState::Failed), 1);
        assert_eq!(of(JobState::Queued), 1);

        let durations = durations(&history).unwrap();
        let succeeded = durations
            .iter()
            .find(|d| d.state == JobState::Succeeded)
            .unwrap();
        assert_eq!(succeeded.count, 2);
        // Jobs of a test take well under a minute.
        assert_eq!(succeeded.at_most[4], 2);
        assert!(succeeded.sum_seconds < 60.0);
    }
}
