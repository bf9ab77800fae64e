//! The token file, `<state dir>/tokens.json`: its entries (a name, the SHA-256 of the token,
//! never the token; the scopes; the host it is bound to), reading it (every hash checked to be
//! one) and writing it privately, and what tells one version of it from another without
//! reading it (`FileKey`). Not when it is read or changed: the store decides.

use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::scope::Scope;
use common::state_dir::write_private_file;

pub(super) const TOKENS_FILE_NAME: &str = "tokens.json";

/// A file younger than this is read every time: timestamps advance in clock ticks, so a
/// rewrite within the same tick of the same size could otherwise look unchanged ("racy git").
pub(super) const SETTLE: Duration = Duration::from_secs(2);

/// What tells one version of `tokens.json` from another without reading it. A save renames a
/// new file into place (a new inode); an edit in place changes the size or the times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileKey {
    pub(super) fn of(meta: &std::fs::Metadata) -> FileKey {
        FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Whether the file last changed more than `settle` ago, so a later change must show in
    /// the key.
    pub(super) fn settled(&self, settle: Duration) -> bool {
        let changed = self.mtime.max(self.ctime);
        let changed =
            std::time::UNIX_EPOCH + Duration::new(changed.0.max(0) as u64, changed.1 as u32);
        SystemTime::now()
            .duration_since(changed)
            .is_ok_and(|age| age > settle)
    }
}

/// What `token list` shows of a token: never the token or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The name it was created with.
    pub name: String,
    /// RFC 3339, UTC, whole seconds (`2026-11-26T06:00:00Z`).
    pub created_at: String,
    /// Sorted, without repeats.
    pub scopes: Vec<Scope>,
    /// The host it is bound to: it reports only for that host.
    pub host: Option<String>,
}

/// One entry of `tokens.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredToken {
    pub name: String,
    /// Lowercase hex of the SHA-256 of the token.
    pub sha256: String,
    pub created_at: String,
    /// Absent in entries made before scopes existed: those count as `Scope::DEFAULT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<Scope>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl StoredToken {
    /// Sorted, without repeats.
    pub fn scopes(&self) -> Vec<Scope> {
        let mut scopes = self
            .scopes
            .clone()
            .unwrap_or_else(|| Scope::DEFAULT.to_vec());
        scopes.sort();
        scopes.dedup();
        scopes
    }

    /// What may be shown of it: never the hash.
    pub fn info(&self) -> TokenInfo {
        TokenInfo {
            name: self.name.clone(),
            created_at: self.created_at.clone(),
            scopes: self.scopes(),
            host: self.host.clone(),
        }
    }
}

/// The stored tokens, read from `path`; a missing file means none.
pub(super) fn read(path: &Path) -> Result<Vec<StoredToken>> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("failed to read {}", path.display())),
    };
    let tokens: Vec<StoredToken> = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a valid token list", path.display()))?;
    for token in &tokens {
        let is_sha256_hex =
            token.sha256.len() == 64 && token.sha256.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_sha256_hex {
            bail!(
                "{} is not a valid token list: the hash of token {:?} is not 64 hex digits",
                path.display(),
                token.name
            );
        }
    }
    Ok(tokens)
}

/// Writes `tokens` to `path`, readable by the owner only.
pub(super) fn write(path: &Path, tokens: &[StoredToken]) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(tokens)
        .with_context(|| format!("failed to serialise {}", path.display()))?;
    text.push(b'\n');
    write_private_file(path, &text, false)
}
