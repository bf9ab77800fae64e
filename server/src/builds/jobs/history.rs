//! The durable job queue and history: one SQLite database in the state directory (WAL, so a
//! crash loses nothing that was committed). Only the server process opens it. Not for logs
//! (plain files, see `logs`) or GC roots (symlinks, see `roots`). The webhook deliveries
//! already answered live here too (`deliveries`), and the commits of watched flake inputs
//! already handled (`input_revs`), what each host's system builds were (`host_builds`) and the
//! hosts pinned to one of them (`pins`).

mod deliveries;
mod host_builds;
mod input_revs;
mod pins;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::model::{Job, JobState, NewJob, Progress, Trigger};
use common::timestamp::now;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL,
    targets TEXT NOT NULL,
    attrs TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    rev TEXT NOT NULL,
    trigger TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    outputs TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    progress TEXT,
    attempt INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, id);
";

/// Columns added since the first schema, with their definitions: added to an older database
/// when it opens (`CREATE TABLE IF NOT EXISTS` leaves an existing table as it was).
const ADDED_COLUMNS: &[(&str, &str)] = &[
    ("attempt", "INTEGER NOT NULL DEFAULT 1"),
    ("inputs", "TEXT NOT NULL DEFAULT '{}'"),
    ("input_refs", "TEXT NOT NULL DEFAULT '{}'"),
];

const COLUMNS: &str = "id, state, targets, attrs, rev, trigger, created_at, started_at, \
                       finished_at, outputs, error, progress, attempt, inputs, input_refs";

pub(crate) use host_builds::{HostBuild, latest_on_branch};
pub(crate) use pins::{NewPin, Pin};

pub(crate) struct JobHistory {
    conn: Mutex<Connection>,
}

/// How a job ended.
#[derive(Debug, Clone)]
pub(crate) struct Ending {
    pub state: JobState,
    pub outputs: BTreeMap<String, String>,
    pub error: Option<String>,
    pub progress: Option<Progress>,
}

impl JobHistory {
    pub(crate) fn open(path: &Path) -> Result<JobHistory> {
        let conn = Connection::open(path)
            .with_context(|| format!("failed to open the job database {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "wal")?;
        conn.pragma_update(None, "synchronous", "normal")?;
        conn.execute_batch(SCHEMA)
            .and_then(|()| add_missing_columns(&conn))
            .and_then(|()| conn.execute_batch(deliveries::SCHEMA))
            .and_then(|()| conn.execute_batch(input_revs::SCHEMA))
            .and_then(|()| conn.execute_batch(pins::SCHEMA))
            .with_context(|| format!("failed to set up the job database {}", path.display()))?;
        Ok(JobHistory {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().expect("job database lock")
    }

    /// Runs a read-only query of another part of the job side (`stats`) on the database.
    pub(super) fn read<T>(&self, query: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        query(&self.lock())
    }

    /// Records a job, or returns the queued or running job with the same attributes at the
    /// same revision (or, for a poll or a webhook, the newest such succeeded one: see
    /// `Trigger::reuses_succeeded`); `true` when the job is new.
    pub(crate) fn create(&self, new: &NewJob) -> Result<(Job, bool)> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let key = new.dedupe_key();
        if new.failed.is_none() {
            let existing = tx
                .query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM jobs WHERE dedupe_key = ?1 \
                         AND (state IN ('queued', 'running') OR (?2 AND state = 'succeeded')) \
                         ORDER BY state = 'succeeded', id DESC LIMIT 1"
                    ),
                    params![key, new.trigger.reuses_succeeded()],
                    job_from_row,
                )
                .optional()?;
            if let Some(job) = existing {
                return Ok((job, false));
            }
        }
        let created = now();
        let (state, finished, error) = match &new.failed {
            Some(error) => (JobState::Failed, Some(created.clone()), Some(error.clone())),
            None => (JobState::Queued, None, None),
        };
        tx.execute(
            "INSERT INTO jobs (state, targets, attrs, dedupe_key, rev, trigger, created_at, \
             finished_at, error, inputs, input_refs) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                state.as_str(),
                serde_json::to_string(&new.targets)?,
                serde_json::to_string(&new.attrs)?,
                key,
                new.rev,
                new.trigger.as_str(),
                created,
                finished,
                error,
                serde_json::to_string(&new.input_revs())?,
                serde_json::to_string(&new.input_refs())?,
            ],
        )?;
        let job = job_by_id(&tx, tx.last_insert_rowid())?;
        tx.commit()?;
        Ok((job, true))
    }

    pub(crate) fn get(&self, id: u64) -> Result<Option<Job>> {
        Ok(job_by_id(&self.lock(), id as i64).optional()?)
    }

    /// Newest first.
    pub(crate) fn list(&self, limit: usize, state: Option<JobState>) -> Result<Vec<Job>> {
        let conn = self.lock();
        let jobs = match state {
            Some(state) => conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM jobs WHERE state = ?1 ORDER BY id DESC LIMIT ?2"
                ))?
                .query_map(params![state.as_str(), limit as i64], job_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
            None => conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM jobs ORDER BY id DESC LIMIT ?1"
                ))?
                .query_map([limit as i64], job_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
        };
        Ok(jobs)
    }

    pub(crate) fn count_in_state(&self, state: JobState) -> Result<u64> {
        let n: i64 = self.lock().query_row(
            "SELECT COUNT(*) FROM jobs WHERE state = ?1",
            [state.as_str()],
            |row| row.get(0),
        )?;
        Ok(n as u64)
    }

    /// Takes the oldest queued job and marks it running.
    pub(crate) fn claim_next(&self) -> Result<Option<Job>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let next: Option<i64> = tx
            .query_row(
                "SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()?;
        let Some(id) = next else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE jobs SET state = 'running', started_at = ?2, progress = NULL WHERE id = ?1",
            params![id, now()],
        )?;
        let job = job_by_id(&tx, id)?;
        tx.commit()?;
        Ok(Some(job))
    }

    /// Records how a running job ended.
    pub(crate) fn finish(&self, id: u64, ending: &Ending) -> Result<()> {
        self.lock().execute(
            "UPDATE jobs SET state = ?2, finished_at = ?3, outputs = ?4, error = ?5, \
             progress = ?6 WHERE id = ?1",
            params![
                id as i64,
                ending.state.as_str(),
                now(),
                serde_json::to_string(&ending.outputs)?,
                ending.error,
                ending
                    .progress
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()?,
            ],
        )?;
        Ok(())
    }

    /// Cancels a job that is still queued; `false` when it was not queued (any more).
    pub(crate) fn cancel_queued(&self, id: u64) -> Result<bool> {
        let changed = self.lock().execute(
            "UPDATE jobs SET state = 'cancelled', finished_at = ?2, error = 'cancelled before it started' \
             WHERE id = ?1 AND state = 'queued'",
            params![id as i64, now()],
        )?;
        Ok(changed == 1)
    }

    /// Puts a running job back in the queue (the server stopped while it ran); its next run
    /// is its next attempt.
    pub(crate) fn requeue(&self, id: u64) -> Result<()> {
        self.lock().execute(
            "UPDATE jobs SET state = 'queued', started_at = NULL, progress = NULL, \
             attempt = attempt + 1 WHERE id = ?1 AND state = 'running'",
            [id as i64],
        )?;
        Ok(())
    }

    /// Queues again every job left running by a server that stopped, each for its next
    /// attempt; returns their ids.
    pub(crate) fn requeue_all_running(&self) -> Result<Vec<u64>> {
        let conn = self.lock();
        let ids: Vec<i64> = conn
            .prepare("SELECT id FROM jobs WHERE state = 'running' ORDER BY id")?
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        conn.execute(
            "UPDATE jobs SET state = 'queued', started_at = NULL, progress = NULL, \
             attempt = attempt + 1 WHERE state = 'running'",
            [],
        )?;
        Ok(ids.into_iter().map(|id| id as u64).collect())
    }
}

/// `ALTER TABLE … ADD COLUMN` for each column of `ADDED_COLUMNS` the table lacks.
fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    let present: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('jobs')")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, definition) in ADDED_COLUMNS {
        if !present.iter().any(|p| p == name) {
            conn.execute_batch(&format!("ALTER TABLE jobs ADD COLUMN {name} {definition}"))?;
        }
    }
    Ok(())
}

fn job_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Job> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"))?
        .query_row([id], job_from_row)
}

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<Job> {
    let json = |index: usize| -> rusqlite::Result<String> { row.get(index) };
    let parse_err = |index: usize, e: serde_json::Error| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    };
    let state: String = row.get(1)?;
    let trigger: String = row.get(5)?;
    let progress: Option<String> = row.get(11)?;
    Ok(Job {
        id: row.get::<_, i64>(0)? as u64,
        state: JobState::parse(&state).unwrap_or(JobState::Failed),
        targets: serde_json::from_str(&json(2)?).map_err(|e| parse_err(2, e))?,
        attrs: serde_json::from_str(&json(3)?).map_err(|e| parse_err(3, e))?,
        rev: row.get(4)?,
        trigger: Trigger::parse(&trigger).unwrap_or(Trigger::Api),
        created_at: row.get(6)?,
        started_at: row.get(7)?,
        finished_at: row.get(8)?,
        outputs: serde_json::from_str(&json(9)?).map_err(|e| parse_err(9, e))?,
        error: row.get(10)?,
        progress: progress
            .map(|p| serde_json::from_str(&p))
            .transpose()
            .map_err(|e| parse_err(11, e))?,
        attempt: row.get::<_, i64>(12)?.max(1) as u32,
        inputs: serde_json::from_str(&json(13)?).map_err(|e| parse_err(13, e))?,
        input_refs: serde_json::from_str(&json(14)?).map_err(|e| parse_err(14, e))?,
        pushed: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_dedupe_claim_finish_and_requeue() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobHistory::open(&dir.path().join("jobs.sqlite")).unwrap();
        let (first, new) = store.create(&NewJob::for_test(&["a", "b"], "r1")).unwrap();
        assert!(new);
        assert_eq!(first.state, JobState::Queued);
        let (again, new) = store.create(&NewJob::for_test(&["b", "a"], "r1")).unwrap();
        assert!(!new);
        assert_eq!(again.id, first.id);
        let (other, new) = store.create(&NewJob::for_test(&["a", "b"], "r2")).unwrap();
        assert!(new);

        let claimed = store.claim_next().unwrap().unwrap();
        assert_eq!(claimed.id, first.id);
        assert_eq!(claimed.state, JobState::Running);
        assert!(claimed.started_at.is_some());

        assert_eq!(claimed.attempt, 1);

        // A restart puts it back, for its second attempt.
        assert_eq!(store.requeue_all_running().unwrap(), vec![first.id]);
        let claimed = store.claim_next().unwrap().unwrap();
        assert_eq!(claimed.id, first.id);
        assert_eq!(claimed.attempt, 2);
        let mut outputs = BTreeMap::new();
        outputs.insert("a".to_string(), "/nix/store/x-a".to_string());
        store
            .finish(
                first.id,
                &Ending {
                    state: JobState::Succeeded,
                    outputs,
                    error: None,
                    progress: Some(Progress {
                        done: 2,
                        total: 2,
                        current: None,
                    }),
                },
            )
            .unwrap();
        let done = store.get(first.id).unwrap().unwrap();
        assert_eq!(done.state, JobState::Succeeded);
        assert_eq!(done.outputs["a"], "/nix/store/x-a");
        assert_eq!(done.progress.unwrap().done, 2);

        // A poll or a webhook of a revision built already makes no job; an API request does.
        for trigger in [Trigger::Poll, Trigger::Webhook] {
            let (same, new) = store
                .create(&NewJob {
                    trigger,
                    ..NewJob::for_test(&["b", "a"], "r1")
                })
                .unwrap();
            assert!(!new, "{trigger:?}");
            assert_eq!(same.id, first.id);
        }
        let (fresh, new) = store.create(&NewJob::for_test(&["a", "b"], "r1")).unwrap();
        assert!(new);
        assert!(store.cancel_queued(fresh.id).unwrap());
        assert!(!store.cancel_queued(fresh.id).unwrap());

        let listed = store.list(10, None).unwrap();
        assert_eq!(listed[0].id, fresh.id);
        assert_eq!(
            store.list(10, Some(JobState::Queued)).unwrap()[0].id,
            other.id
        );
        assert_eq!(store.count_in_state(JobState::Queued).unwrap(), 1);
    }

    #[test]
    fn an_older_database_gets_the_attempt_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.sqlite");
        {
            // The schema before attempts were counted, with a job that was running.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE jobs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, state TEXT NOT NULL,
                    targets TEXT NOT NULL, attrs TEXT NOT NULL, dedupe_key TEXT NOT NULL,
                    rev TEXT NOT NULL, trigger TEXT NOT NULL, created_at TEXT NOT NULL,
                    started_at TEXT, finished_at TEXT, outputs TEXT NOT NULL DEFAULT '{}',
                    error TEXT, progress TEXT);
                 INSERT INTO jobs (state, targets, attrs, dedupe_key, rev, trigger, created_at)
                 VALUES ('running', '[\"a\"]', '[\"a\"]', 'r1\na', 'r1', 'api',
                         '2026-01-01T00:00:00Z');",
            )
            .unwrap();
        }
        let store = JobHistory::open(&path).unwrap();
        assert_eq!(store.get(1).unwrap().unwrap().attempt, 1);
        store.requeue_all_running().unwrap();
        assert_eq!(store.claim_next().unwrap().unwrap().attempt, 2);
        // Opening it again changes nothing more.
        drop(store);
        let store = JobHistory::open(&path).unwrap();
        assert_eq!(store.get(1).unwrap().unwrap().attempt, 2);
    }
}
