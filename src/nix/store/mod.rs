//! Read access to the local Nix store's metadata, through whichever door this process may
//! use: Nix's database directly (root, single-user) or the daemon socket (an unprivileged
//! service user on NixOS). Chosen the way Nix's own `auto` store chooses.

mod change_watch;
pub mod daemon;
pub mod db;

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::path_info::PathInfo;
use super::store_path::StoreDir;
use crate::os::{is_root, is_writable};
use change_watch::ChangeWatch;
use daemon::DaemonStore;
use db::DbStore;

/// Where the store's parts live; Nix's defaults unless Nix's environment variables say
/// otherwise.
#[derive(Debug, Clone)]
pub struct StoreLocation {
    pub store_dir: StoreDir,
    pub state_dir: PathBuf,
    pub log_dir: PathBuf,
    pub daemon_socket: PathBuf,
    /// `NIX_REMOTE` as given (`daemon`, `unix://…`, `local`, or empty).
    pub remote: String,
}

impl StoreLocation {
    /// Reads `NIX_STORE_DIR`, `NIX_STATE_DIR`, `NIX_LOG_DIR`, `NIX_DAEMON_SOCKET_PATH` and
    /// `NIX_REMOTE` through `var`.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> StoreLocation {
        let state_dir = PathBuf::from(var("NIX_STATE_DIR").unwrap_or("/nix/var/nix".into()));
        StoreLocation {
            store_dir: StoreDir::new(var("NIX_STORE_DIR").unwrap_or("/nix/store".into())),
            log_dir: var("NIX_LOG_DIR")
                .map(PathBuf::from)
                .unwrap_or("/nix/var/log/nix".into()),
            daemon_socket: var("NIX_DAEMON_SOCKET_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| state_dir.join("daemon-socket/socket")),
            remote: var("NIX_REMOTE").unwrap_or_default(),
            state_dir,
        }
    }

    /// The daemon socket `NIX_REMOTE` names (`daemon`: the default one; `unix://PATH`), if it
    /// names one.
    fn named_daemon(&self) -> Option<PathBuf> {
        if self.remote == "daemon" {
            return Some(self.daemon_socket.clone());
        }
        let socket = self.remote.strip_prefix("unix://")?;
        Some(PathBuf::from(socket.split('?').next().unwrap_or(socket)))
    }

    fn db_path(&self) -> PathBuf {
        self.state_dir.join("db/db.sqlite")
    }
}

/// The store back-end in use.
pub enum Backend {
    Database(DbStore),
    Daemon(DaemonStore),
}

/// Reads store metadata through a back-end, and tells when it may have changed.
pub struct StoreAccess {
    backend: Backend,
    watch: Option<ChangeWatch>,
}

impl StoreAccess {
    /// `NIX_REMOTE=daemon` or `unix://…` means the daemon; otherwise the database when this
    /// process may write its directory (SQLite needs that even to read a WAL database), else
    /// the daemon.
    pub fn choose(location: &StoreLocation) -> StoreAccess {
        let backend = Backend::choose(location);
        // A daemon on another socket may serve another store, whose database we cannot see.
        let same_machine_db = match &backend {
            Backend::Database(_) => true,
            Backend::Daemon(daemon) => daemon.socket() == location.daemon_socket,
        };
        let db = location.db_path();
        let watch = same_machine_db
            .then(|| ChangeWatch::new(db.parent().unwrap_or(Path::new("/"))))
            .flatten();
        StoreAccess { backend, watch }
    }

    /// A one-line description for logs.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Database(db) => format!("database {}", db.db_path().display()),
            Backend::Daemon(d) => format!("daemon {}", d.socket().display()),
        }
    }

    /// The valid path with this hash part, with its metadata; `None` when the store lacks it.
    pub async fn path_info_by_hash(
        &self,
        store_dir: &StoreDir,
        hash_part: &str,
    ) -> Result<Option<PathInfo>> {
        match &self.backend {
            Backend::Database(db) => db.path_info_by_hash(store_dir.as_str(), hash_part),
            Backend::Daemon(daemon) => daemon.path_info_by_hash(hash_part).await,
        }
    }

    /// Changes whenever the store's metadata may have changed; `None` when that cannot be
    /// told, in which case nothing may be remembered.
    pub fn change_marker(&self) -> Option<u64> {
        self.watch.as_ref().and_then(ChangeWatch::marker)
    }
}

impl Backend {
    fn choose(location: &StoreLocation) -> Backend {
        if let Some(socket) = location.named_daemon() {
            return Backend::Daemon(DaemonStore::new(socket));
        }
        let remote = location.remote.as_str();
        let db = location.db_path();
        let db_dir = db.parent().unwrap_or(Path::new("/"));
        if remote == "local" || is_writable(db_dir) || (!db_dir.exists() && is_root()) {
            Backend::Database(DbStore::new(db))
        } else {
            Backend::Daemon(DaemonStore::new(location.daemon_socket.clone()))
        }
    }
}
