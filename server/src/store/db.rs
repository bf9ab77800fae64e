//! Reads path metadata straight from Nix's SQLite database (`/nix/var/nix/db/db.sqlite`), the
//! fast path for a process allowed to open it (root on a single-user or daemon install). Only
//! reads: every connection is `query_only`. An unprivileged process cannot use this (SQLite
//! needs write access to the WAL index) and goes through the daemon instead.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use nix_core::path_info::{PathInfo, parse_sha256};

const MAX_IDLE_CONNECTIONS: usize = 8;

pub(crate) struct DbStore {
    db_path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl DbStore {
    pub(crate) fn new(db_path: PathBuf) -> DbStore {
        DbStore {
            db_path,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn db_path(&self) -> &Path {
        &self.db_path
    }

    fn open(&self) -> Result<Option<Connection>> {
        if !self.db_path.exists() {
            // A store nothing was ever added to has no database yet.
            return Ok(None);
        }
        let conn = Connection::open_with_flags(
            &self.db_path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("failed to open the Nix database {}", self.db_path.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(Some(conn))
    }

    fn with_connection<T>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<Option<T>> {
        let pooled = self.idle.lock().expect("pool lock").pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => match self.open()? {
                Some(conn) => conn,
                None => return Ok(None),
            },
        };
        let result = query(&conn);
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() < MAX_IDLE_CONNECTIONS {
            idle.push(conn);
        }
        result.map(Some)
    }

    /// The valid path whose base name starts with `hash_part`, with its metadata.
    pub(crate) fn path_info_by_hash(
        &self,
        store_dir: &str,
        hash_part: &str,
    ) -> Result<Option<PathInfo>> {
        let prefix = format!("{store_dir}/{hash_part}-");
        let found = self.with_connection(|conn| {
            let row = conn
                .prepare_cached(
                    "SELECT id, path, hash, deriver, narSize, sigs, ca, ultimate FROM ValidPaths \
                     WHERE path >= ?1 LIMIT 1",
                )?
                .query_row([&prefix], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, Option<String>>(3)?,
                        row.get::<_, Option<i64>>(4)?,
                        row.get::<_, Option<String>>(5)?,
                        row.get::<_, Option<String>>(6)?,
                        row.get::<_, Option<i64>>(7)?,
                    ))
                })
                .optional()?;
            let Some((id, path, hash, deriver, nar_size, sigs, ca, ultimate)) = row else {
                return Ok(None);
            };
            if !path.starts_with(&prefix) {
                return Ok(None);
            }
            let mut references: Vec<String> = conn
                .prepare_cached(
                    "SELECT path FROM Refs JOIN ValidPaths ON reference = id WHERE referrer = ?1",
                )?
                .query_map([id], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            references.sort();
            let nar_hash = parse_sha256(&hash)
                .with_context(|| format!("the Nix database has a bad hash for {path}"))?;
            Ok(Some(PathInfo {
                path,
                deriver: deriver.filter(|d| !d.is_empty()),
                nar_hash,
                nar_size: nar_size.unwrap_or(0) as u64,
                references,
                signatures: sigs
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
                content_address: ca.filter(|c| !c.is_empty()),
                ultimate: ultimate.unwrap_or(0) != 0,
            }))
        })?;
        Ok(found.flatten())
    }
}
