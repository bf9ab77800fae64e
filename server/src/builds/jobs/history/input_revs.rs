//! The commit of each watched flake input the server last handled: built with it (or found
//! it is what the fleet pins already). Kept in the job database, so a restart does not build
//! the same input commit again. What an input is and when it moved is the input watcher's
//! business, not this file's.

use anyhow::Result;
use rusqlite::{OptionalExtension, params};

use super::JobHistory;
use common::timestamp::now;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS input_revs (
    name TEXT PRIMARY KEY,
    rev TEXT NOT NULL,
    job INTEGER,
    handled_at TEXT NOT NULL
);
";

impl JobHistory {
    /// The commit of input `name` last handled, if any.
    pub(crate) fn input_rev(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .lock()
            .query_row(
                "SELECT rev FROM input_revs WHERE name = ?1",
                [name],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Remembers that commit `rev` of input `name` was handled, by job `job` if one was made.
    pub(crate) fn remember_input_rev(&self, name: &str, rev: &str, job: Option<u64>) -> Result<()> {
        self.lock().execute(
            "INSERT INTO input_revs (name, rev, job, handled_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (name) DO UPDATE SET rev = ?2, job = ?3, handled_at = ?4",
            params![name, rev, job.map(|id| id as i64), now()],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::JobHistory;

    #[test]
    fn the_last_handled_commit_of_each_input_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.sqlite");
        let history = JobHistory::open(&path).unwrap();
        assert_eq!(history.input_rev("terminal").unwrap(), None);
        history
            .remember_input_rev("terminal", "r1", Some(3))
            .unwrap();
        history.remember_input_rev("tools", "t1", None).unwrap();
        history
            .remember_input_rev("terminal", "r2", Some(4))
            .unwrap();
        drop(history);
        let history = JobHistory::open(&path).unwrap();
        assert_eq!(
            history.input_rev("terminal").unwrap().as_deref(),
            Some("r2")
        );
        assert_eq!(history.input_rev("tools").unwrap().as_deref(), Some("t1"));
    }
}
