//! Where the local Nix store's parts live (store dir, state dir, logs, daemon socket), read
//! from Nix's own environment variables the way Nix reads them.

use std::path::PathBuf;

use crate::store_path::StoreDir;

/// Where the store's parts live; Nix's defaults unless Nix's environment variables say
/// otherwise.
#[derive(Debug, Clone)]
pub struct StoreLocation {
    /// The store directory (`NIX_STORE_DIR`, default `/nix/store`).
    pub store_dir: StoreDir,
    /// Nix's state directory (`NIX_STATE_DIR`, default `/nix/var/nix`): the database lives here.
    pub state_dir: PathBuf,
    /// Where build logs are kept (`NIX_LOG_DIR`, default `/nix/var/log/nix`).
    pub log_dir: PathBuf,
    /// The daemon's socket (`NIX_DAEMON_SOCKET_PATH`, default under the state directory).
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
    pub fn named_daemon(&self) -> Option<PathBuf> {
        if self.remote == "daemon" {
            return Some(self.daemon_socket.clone());
        }
        let socket = self.remote.strip_prefix("unix://")?;
        Some(PathBuf::from(socket.split('?').next().unwrap_or(socket)))
    }

    /// Nix's SQLite database of valid paths.
    pub fn db_path(&self) -> PathBuf {
        self.state_dir.join("db/db.sqlite")
    }
}
