//! What the hosts reported, in `<state>/fleet.sqlite`: one row per change of what a host said
//! (a report that repeats the last one only moves its time, so a heartbeat every minute does
//! not grow the table), the newest few hundred per host; and when each host was last asked to
//! retry the builds that failed on it. Not for builds or pins (the job store).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::state::StoredReport;
use common::protocol::host::ReportState;
use common::timestamp::now;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    host TEXT NOT NULL,
    state TEXT NOT NULL,
    path TEXT NOT NULL,
    message TEXT,
    about TEXT,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_by_host ON reports (host, id);
CREATE TABLE IF NOT EXISTS retries (
    host TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
";

/// Rows kept per host: the recent history of changes.
const KEEP_PER_HOST: i64 = 500;

pub(super) struct ReportStore {
    conn: Mutex<Connection>,
}

impl ReportStore {
    pub(super) fn open(path: &Path) -> Result<ReportStore> {
        let conn = Connection::open(path)
            .with_context(|| format!("failed to open the fleet database {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "wal")?;
        conn.pragma_update(None, "synchronous", "normal")?;
        conn.execute_batch(SCHEMA)
            .with_context(|| format!("failed to set up the fleet database {}", path.display()))?;
        Ok(ReportStore {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().expect("fleet database lock")
    }

    /// Records what `host` said, about the build `about`.
    pub(super) fn add(
        &self,
        host: &str,
        state: ReportState,
        path: &str,
        message: Option<&str>,
        about: Option<&str>,
    ) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let at = now();
        let repeated = tx.execute(
            "UPDATE reports SET last_at = ?6 WHERE id = \
             (SELECT MAX(id) FROM reports WHERE host = ?1) \
             AND state = ?2 AND path = ?3 AND message IS ?4 AND about IS ?5",
            params![host, state.as_str(), path, message, about, at],
        )?;
        if repeated == 0 {
            tx.execute(
                "INSERT INTO reports (host, state, path, message, about, first_at, last_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![host, state.as_str(), path, message, about, at],
            )?;
            tx.execute(
                "DELETE FROM reports WHERE host = ?1 AND id <= \
                 (SELECT id FROM reports WHERE host = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                params![host, KEEP_PER_HOST],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The last report of `host`, if it ever reported.
    pub(super) fn last(&self, host: &str) -> Result<Option<StoredReport>> {
        let conn = self.lock();
        let last = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM reports r WHERE host = ?1 ORDER BY id DESC LIMIT 1"
            ))?
            .query_row([host], stored_from_row)
            .optional()?;
        Ok(last)
    }

    /// Removes every report of `host`; how many went.
    pub(super) fn forget(&self, host: &str) -> Result<usize> {
        Ok(self
            .lock()
            .execute("DELETE FROM reports WHERE host = ?1", [host])?)
    }

    /// The last report of every host that ever reported, by host name.
    pub(super) fn all_last(&self) -> Result<Vec<(String, StoredReport)>> {
        let conn = self.lock();
        let rows = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS}, host FROM reports r WHERE id IN \
                 (SELECT MAX(id) FROM reports GROUP BY host) ORDER BY host"
            ))?
            .query_map([], |row| {
                Ok((row.get::<_, String>(7)?, stored_from_row(row)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

impl ReportStore {
    /// Asks `host` to forget the builds that failed on it; returns the request's time.
    pub(super) fn request_retry(&self, host: &str) -> Result<String> {
        let at = now();
        self.lock().execute(
            "INSERT INTO retries (host, at) VALUES (?1, ?2) \
             ON CONFLICT (host) DO UPDATE SET at = ?2",
            params![host, at],
        )?;
        Ok(at)
    }

    /// When each host was last asked to retry, by host name.
    pub(super) fn retries(&self) -> Result<BTreeMap<String, String>> {
        let conn = self.lock();
        let rows = conn
            .prepare_cached("SELECT host, at FROM retries")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

/// The report's fields, and when the host started running its path: the first report of
/// the stretch of reports of that path that ends with this one.
const COLUMNS: &str = "state, path, message, about, last_at, \
     (SELECT MIN(first_at) FROM reports s WHERE s.host = r.host AND s.id > \
        (SELECT COALESCE(MAX(o.id), 0) FROM reports o WHERE o.host = r.host AND o.path != r.path)), \
     id";

fn stored_from_row(row: &Row<'_>) -> rusqlite::Result<StoredReport> {
    let state: String = row.get(0)?;
    let at: String = row.get(4)?;
    Ok(StoredReport {
        state: ReportState::parse(&state).unwrap_or(ReportState::Failed),
        path: row.get(1)?,
        message: row.get(2)?,
        about: row.get(3)?,
        running_since: row
            .get::<_, Option<String>>(5)?
            .unwrap_or_else(|| at.clone()),
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_move_the_time_and_changes_add_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReportStore::open(&dir.path().join("fleet.sqlite")).unwrap();
        assert!(store.last("laptop").unwrap().is_none());
        store
            .add(
                "laptop",
                ReportState::UpToDate,
                "/nix/store/a",
                None,
                Some("/nix/store/a"),
            )
            .unwrap();
        let first = store.last("laptop").unwrap().unwrap();
        store
            .add(
                "laptop",
                ReportState::UpToDate,
                "/nix/store/a",
                None,
                Some("/nix/store/a"),
            )
            .unwrap();
        store
            .add(
                "laptop",
                ReportState::RolledBack,
                "/nix/store/a",
                Some("check failed"),
                Some("/nix/store/b"),
            )
            .unwrap();
        let last = store.last("laptop").unwrap().unwrap();
        assert_eq!(last.state, ReportState::RolledBack);
        assert_eq!(last.about.as_deref(), Some("/nix/store/b"));
        assert_eq!(last.message.as_deref(), Some("check failed"));
        // Still running a since the first report of it.
        assert_eq!(last.running_since, first.at);
        let rows: i64 = store
            .lock()
            .query_row("SELECT COUNT(*) FROM reports", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2);

        store
            .add("desktop", ReportState::Deployed, "/nix/store/d", None, None)
            .unwrap();
        let all = store.all_last().unwrap();
        let names: Vec<&str> = all.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(names, vec!["desktop", "laptop"]);
        assert_eq!(all[1].1.state, ReportState::RolledBack);

        assert!(store.retries().unwrap().is_empty());
        let at = store.request_retry("laptop").unwrap();
        assert_eq!(store.retries().unwrap()["laptop"], at);
    }
}
