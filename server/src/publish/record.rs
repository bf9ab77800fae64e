//! What the bucket holds, as the publisher left it: one SQLite database in the state dir
//! (`publish/record.sqlite`, WAL), so the bucket is never listed to know it. A row is written
//! only after its narinfo is in the bucket, so the record may lag the bucket (a kill -9
//! between the two puts the path again, which is harmless) but never run ahead of it. Rows of
//! paths whose narinfo was deleted stay until their NAR is deleted too (`retired`); a NAR a
//! path no longer names (a pushed copy put again from the store) waits in `stale_nars`. Also keeps
//! the publisher's small facts (`meta`): which bucket the record is of, whether
//! `nix-cache-info` is there, the last job published, the last error. Knows nothing of S3.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS published (
    hash TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    nar_key TEXT NOT NULL,
    nar_size INTEGER NOT NULL,
    file_size INTEGER NOT NULL,
    refs TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    nar_delete_after INTEGER
);
CREATE TABLE IF NOT EXISTS stale_nars (
    nar_key TEXT PRIMARY KEY,
    delete_after INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// Where pushed paths' NARs go in the bucket, as the box serves them.
pub(super) const PUSHED_NAR_PREFIX: &str = "nar/pushed/";

/// One published path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Published {
    /// The store path's hash part (the narinfo's name).
    pub hash: String,
    pub path: String,
    /// The NAR's object key, relative to the prefix (`nar/…`).
    pub nar_key: String,
    pub nar_size: u64,
    pub file_size: u64,
    /// Hash parts of the other paths it refers to.
    pub refs: Vec<String>,
    /// Unix seconds.
    pub published_at: u64,
    /// Set once its narinfo left the bucket: when its NAR may go (unix seconds).
    pub nar_delete_after: Option<u64>,
}

impl Published {
    pub(super) fn is_live(&self) -> bool {
        self.nar_delete_after.is_none()
    }

    /// Whether it was published from the pushed area (signed by the push key).
    pub(super) fn is_pushed_copy(&self) -> bool {
        self.nar_key.starts_with(PUSHED_NAR_PREFIX)
    }
}

pub(super) struct Record {
    conn: Mutex<Connection>,
}

/// Keys of `meta`.
pub(super) mod meta {
    /// Endpoint, bucket and prefix the rows are of.
    pub(crate) const TARGET: &str = "target";
    /// Present once `nix-cache-info` was put.
    pub(crate) const CACHE_INFO: &str = "cache_info";
    pub(crate) const LAST_JOB: &str = "last_job";
    pub(crate) const LAST_PUBLISHED_AT: &str = "last_published_at";
}

impl Record {
    /// Opens (or makes) the record at `path`, for the bucket `target` names: a record of
    /// another bucket or prefix is emptied, since nothing it says holds there.
    pub(super) fn open(path: &Path, target: &str) -> Result<Record> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("failed to open the publish record {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "wal")?;
        // A row lost to a power cut only makes the record lag the bucket, which is safe (the
        // path is put again); not syncing every commit keeps a row a few microseconds.
        conn.pragma_update(None, "synchronous", "normal")?;
        conn.execute_batch(SCHEMA)
            .context("failed to set up the publish record")?;
        let record = Record {
            conn: Mutex::new(conn),
        };
        if record.meta(meta::TARGET)?.as_deref() != Some(target) {
            let conn = record.conn.lock().expect("record lock");
            conn.execute_batch("DELETE FROM published; DELETE FROM stale_nars; DELETE FROM meta;")?;
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                params![meta::TARGET, target],
            )?;
        }
        Ok(record)
    }

    pub(super) fn meta(&self, key: &str) -> Result<Option<String>> {
        let conn = self.conn.lock().expect("record lock");
        Ok(conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()?)
    }

    pub(super) fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        let conn = self.conn.lock().expect("record lock");
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Every row, live and retired, by hash part.
    pub(super) fn all(&self) -> Result<BTreeMap<String, Published>> {
        let conn = self.conn.lock().expect("record lock");
        let mut statement = conn.prepare(
            "SELECT hash, path, nar_key, nar_size, file_size, refs, published_at,
                    nar_delete_after FROM published",
        )?;
        let rows = statement.query_map([], |row| {
            let refs: String = row.get(5)?;
            Ok(Published {
                hash: row.get(0)?,
                path: row.get(1)?,
                nar_key: row.get(2)?,
                nar_size: row.get::<_, i64>(3)? as u64,
                file_size: row.get::<_, i64>(4)? as u64,
                refs: refs.split_whitespace().map(str::to_string).collect(),
                published_at: row.get::<_, i64>(6)? as u64,
                nar_delete_after: row.get::<_, Option<i64>>(7)?.map(|n| n as u64),
            })
        })?;
        let mut all = BTreeMap::new();
        for row in rows {
            let row = row?;
            all.insert(row.hash.clone(), row);
        }
        Ok(all)
    }

    /// Retired rows whose NAR may go by `now` (unix seconds): (hash part, NAR key).
    pub(super) fn due(&self, now: u64) -> Result<Vec<(String, String)>> {
        let conn = self.conn.lock().expect("record lock");
        let mut statement = conn.prepare(
            "SELECT hash, nar_key FROM published
             WHERE nar_delete_after IS NOT NULL AND nar_delete_after <= ?1",
        )?;
        let rows = statement.query_map([now as i64], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// When the next retired NAR may go (unix seconds).
    pub(super) fn next_due(&self) -> Result<Option<u64>> {
        let conn = self.conn.lock().expect("record lock");
        let next: Option<i64> = conn.query_row(
            "SELECT MIN(t) FROM (SELECT MIN(nar_delete_after) AS t FROM published
                                 UNION ALL SELECT MIN(delete_after) FROM stale_nars)",
            [],
            |row| row.get(0),
        )?;
        Ok(next.map(|n| n as u64))
    }

    /// Records a path whose narinfo is now in the bucket (live again if it was retired). A
    /// NAR the path named before under another key may go at `stale_after` (unix seconds),
    /// or when its row said if that is later.
    pub(super) fn put(&self, published: &Published, stale_after: u64) -> Result<()> {
        let mut conn = self.conn.lock().expect("record lock");
        let conn = conn.transaction()?;
        let before: Option<(String, Option<i64>)> = conn
            .query_row(
                "SELECT nar_key, nar_delete_after FROM published WHERE hash = ?1",
                [&published.hash],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        if let Some((old_key, old_after)) = before.filter(|(key, _)| *key != published.nar_key) {
            let after = old_after.map_or(stale_after, |a| (a as u64).max(stale_after));
            conn.execute(
                "INSERT INTO stale_nars (nar_key, delete_after) VALUES (?1, ?2)
                 ON CONFLICT (nar_key) DO UPDATE SET delete_after = excluded.delete_after",
                params![old_key, after as i64],
            )?;
        }
        // Named again: not stale.
        conn.execute(
            "DELETE FROM stale_nars WHERE nar_key = ?1",
            [&published.nar_key],
        )?;
        conn.execute(
            "INSERT INTO published (hash, path, nar_key, nar_size, file_size, refs,
                                    published_at, nar_delete_after)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL)
             ON CONFLICT (hash) DO UPDATE SET path = excluded.path, nar_key = excluded.nar_key,
                 nar_size = excluded.nar_size, file_size = excluded.file_size,
                 refs = excluded.refs, published_at = excluded.published_at,
                 nar_delete_after = NULL",
            params![
                published.hash,
                published.path,
                published.nar_key,
                published.nar_size as i64,
                published.file_size as i64,
                published.refs.join(" "),
                published.published_at as i64,
            ],
        )?;
        conn.commit()?;
        Ok(())
    }

    /// Stale NARs that may go by `now` (unix seconds).
    pub(super) fn due_stale(&self, now: u64) -> Result<Vec<String>> {
        let conn = self.conn.lock().expect("record lock");
        let mut statement =
            conn.prepare("SELECT nar_key FROM stale_nars WHERE delete_after <= ?1")?;
        let rows = statement.query_map([now as i64], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Forgets a stale NAR that left the bucket.
    pub(super) fn forget_stale(&self, nar_key: &str) -> Result<()> {
        let conn = self.conn.lock().expect("record lock");
        conn.execute("DELETE FROM stale_nars WHERE nar_key = ?1", [nar_key])?;
        Ok(())
    }

    /// Records that a path's narinfo left the bucket; its NAR may go at `nar_delete_after`.
    pub(super) fn retire(&self, hash: &str, nar_delete_after: u64) -> Result<()> {
        let conn = self.conn.lock().expect("record lock");
        conn.execute(
            "UPDATE published SET nar_delete_after = ?2 WHERE hash = ?1",
            params![hash, nar_delete_after as i64],
        )?;
        Ok(())
    }

    /// Forgets a retired path whose NAR left the bucket too.
    pub(super) fn forget(&self, hash: &str) -> Result<()> {
        let conn = self.conn.lock().expect("record lock");
        conn.execute(
            "DELETE FROM published WHERE hash = ?1 AND nar_delete_after IS NOT NULL",
            [hash],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(hash: &str) -> Published {
        Published {
            hash: hash.into(),
            path: format!("/nix/store/{hash}-x"),
            nar_key: format!("nar/{hash}.nar.zst"),
            nar_size: 100,
            file_size: 40,
            refs: vec!["other".into()],
            published_at: 7,
            nar_delete_after: None,
        }
    }

    #[test]
    fn rows_live_retire_and_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record.sqlite");
        let record = Record::open(&path, "http://s3|nix|").unwrap();
        record.put(&row("a"), 0).unwrap();
        record.put(&row("b"), 0).unwrap();
        // Forgetting a live row does nothing: only a retired NAR is forgotten.
        record.forget("a").unwrap();
        record.retire("a", 99).unwrap();
        let all = record.all().unwrap();
        assert_eq!(all["a"].nar_delete_after, Some(99));
        assert!(all["b"].is_live());
        assert_eq!(all["b"], row("b"));
        // Put again while retired: live again.
        record.put(&row("a"), 0).unwrap();
        assert!(record.all().unwrap()["a"].is_live());
        record.retire("a", 1).unwrap();
        assert_eq!(record.next_due().unwrap(), Some(1));
        assert_eq!(record.due(0).unwrap(), vec![]);
        assert_eq!(
            record.due(1).unwrap(),
            vec![("a".to_string(), "nar/a.nar.zst".to_string())]
        );
        record.forget("a").unwrap();
        assert_eq!(record.next_due().unwrap(), None);
        assert_eq!(record.all().unwrap().len(), 1);

        // Put again under another NAR key: the old NAR waits, then goes.
        let mut moved = row("b");
        moved.nar_key = "nar/pushed/b.nar".into();
        record.put(&moved, 50).unwrap();
        assert_eq!(record.next_due().unwrap(), Some(50));
        assert!(record.due_stale(49).unwrap().is_empty());
        assert_eq!(record.due_stale(50).unwrap(), ["nar/b.nar.zst"]);
        record.put(&row("b"), 60).unwrap();
        assert_eq!(record.due_stale(99).unwrap(), ["nar/pushed/b.nar"]);
        record.forget_stale("nar/pushed/b.nar").unwrap();
        assert_eq!(record.next_due().unwrap(), None);

        record.set_meta(meta::LAST_JOB, "3").unwrap();
        drop(record);
        // The same bucket: kept. Another one: emptied.
        let again = Record::open(&path, "http://s3|nix|").unwrap();
        assert_eq!(again.meta(meta::LAST_JOB).unwrap().as_deref(), Some("3"));
        drop(again);
        let other = Record::open(&path, "http://s3|other|").unwrap();
        assert!(other.all().unwrap().is_empty());
        assert_eq!(other.meta(meta::LAST_JOB).unwrap(), None);
    }
}
