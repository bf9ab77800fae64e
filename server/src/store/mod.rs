//! Read access to the local Nix store's metadata, through whichever door this process may
//! use: Nix's database directly (root, single-user) or the daemon socket (an unprivileged
//! service user on NixOS). Chosen the way Nix's own `auto` store chooses.

mod change_watch;
pub(crate) mod daemon;
pub(crate) mod db;

use std::path::Path;

use anyhow::Result;

use change_watch::ChangeWatch;
use common::os::{is_root, is_writable};
use daemon::DaemonStore;
use db::DbStore;
use nix_core::path_info::PathInfo;
use nix_core::store_location::StoreLocation;
use nix_core::store_path::StoreDir;

/// The store back-end in use.
pub(crate) enum Backend {
    Database(DbStore),
    Daemon(DaemonStore),
}

/// Reads store metadata through a back-end, and tells when it may have changed.
pub(crate) struct StoreAccess {
    backend: Backend,
    watch: Option<ChangeWatch>,
}

impl StoreAccess {
    /// `NIX_REMOTE=daemon` or `unix://…` means the daemon; otherwise the database when this
    /// process may write its directory (SQLite needs that even to read a WAL database), else
    /// the daemon.
    pub(crate) fn choose(location: &StoreLocation) -> StoreAccess {
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
    pub(crate) fn describe(&self) -> String {
        match &self.backend {
            Backend::Database(db) => format!("database {}", db.db_path().display()),
            Backend::Daemon(d) => format!("daemon {}", d.socket().display()),
        }
    }

    /// The valid path with this hash part, with its metadata; `None` when the store lacks it.
    pub(crate) async fn path_info_by_hash(
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
    pub(crate) fn change_marker(&self) -> Option<u64> {
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
