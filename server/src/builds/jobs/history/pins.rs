//! Hosts pinned to one of their builds: a pinned host's deploy takes that build instead of its
//! newest on the branch, until it is released. Kept in the job database next to the builds, so
//! retention (the server's and the offline `gc`'s) keeps a pinned build's roots. Checking that
//! a pin names a build of its host is the fleet's business, not this file's.

use std::collections::BTreeMap;

use anyhow::Result;
use rusqlite::params;

use super::JobHistory;
use common::timestamp::now;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS host_pins (
    host TEXT PRIMARY KEY,
    rev TEXT,
    path TEXT NOT NULL,
    job INTEGER NOT NULL,
    at TEXT NOT NULL
);
";

/// A host's pin as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pin {
    /// The revision asked for (full id); `None` when a store path was.
    pub rev: Option<String>,
    pub path: String,
    /// The build of `path` the pin was checked against.
    pub job: u64,
    pub at: String,
}

/// A pin to record.
#[derive(Debug, Clone)]
pub(crate) struct NewPin {
    pub host: String,
    pub rev: Option<String>,
    pub path: String,
    pub job: u64,
}

impl JobHistory {
    /// Every pinned host's pin, by host name.
    pub(crate) fn pins(&self) -> Result<BTreeMap<String, Pin>> {
        let conn = self.lock();
        let rows = conn
            .prepare_cached("SELECT host, rev, path, job, at FROM host_pins ORDER BY host")?
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    Pin {
                        rev: row.get(1)?,
                        path: row.get(2)?,
                        job: row.get::<_, i64>(3)? as u64,
                        at: row.get(4)?,
                    },
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Pins each host of `pins` (replacing a pin it had), all or none.
    pub(crate) fn pin(&self, pins: &[NewPin]) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let at = now();
        for pin in pins {
            tx.execute(
                "INSERT INTO host_pins (host, rev, path, job, at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (host) DO UPDATE SET rev = ?2, path = ?3, job = ?4, at = ?5",
                params![pin.host, pin.rev, pin.path, pin.job as i64, at],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Releases `host` (`None`: every host); returns how many pins there were.
    pub(crate) fn unpin(&self, host: Option<&str>) -> Result<usize> {
        let conn = self.lock();
        let removed = match host {
            Some(host) => conn.execute("DELETE FROM host_pins WHERE host = ?1", [host])?,
            None => conn.execute("DELETE FROM host_pins", [])?,
        };
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_replace_persist_and_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.sqlite");
        let store = JobHistory::open(&path).unwrap();
        assert!(store.pins().unwrap().is_empty());
        let pin = |host: &str, rev: Option<&str>, path: &str, job| NewPin {
            host: host.into(),
            rev: rev.map(str::to_string),
            path: path.into(),
            job,
        };
        store
            .pin(&[
                pin("laptop", Some("r1"), "/nix/store/a-l", 1),
                pin("desktop", None, "/nix/store/a-d", 1),
            ])
            .unwrap();
        store
            .pin(&[pin("laptop", Some("r2"), "/nix/store/b-l", 2)])
            .unwrap();
        drop(store);
        let store = JobHistory::open(&path).unwrap();
        let pins = store.pins().unwrap();
        assert_eq!(pins.len(), 2);
        assert_eq!(pins["laptop"].rev.as_deref(), Some("r2"));
        assert_eq!(pins["laptop"].job, 2);
        assert_eq!(pins["desktop"].rev, None);
        assert_eq!(store.unpin(Some("laptop")).unwrap(), 1);
        assert_eq!(store.unpin(Some("laptop")).unwrap(), 0);
        assert_eq!(store.unpin(None).unwrap(), 1);
        assert!(store.pins().unwrap().is_empty());
    }
}
