//! What every request shares — configuration, the cache, the build server, the fleet view,
//! the tokens — built once when the server starts.

use std::sync::Arc;

use anyhow::{Context, Result};

use crate::builds::BuildServer;
use crate::cache::{keys, Cache};
use crate::config::Config;
use crate::fleet::Fleet;
use crate::nix::store::StoreLocation;
use crate::state_dir::StateDir;
use crate::tokens::TokenStore;

/// What the server is started with.
pub struct Settings {
    pub config: Config,
    pub store: StoreLocation,
}

/// Shared by every request.
pub struct AppState {
    pub config: Config,
    pub cache: Cache,
    pub builds: Arc<BuildServer>,
    pub fleet: Fleet,
    pub tokens: TokenStore,
}

impl AppState {
    /// Prepares the state directory and the cache's keys.
    pub fn prepare(settings: Settings) -> Result<AppState> {
        let config = settings.config;
        let state = StateDir::new(config.state_dir.value.clone());
        state.ensure()?;
        let keys = keys::resolve(&config.secret_key_files.value, &state, true)
            .context("failed to load the cache signing keys")?;
        let cache = Cache::new(
            settings.store,
            keys,
            config.priority.value,
            config.compression.value,
            config.max_concurrent_nars.value as usize,
        );
        let builds = BuildServer::start(&config)?;
        let fleet = Fleet::open(state.path())?;
        let tokens = TokenStore::new(state.path());
        Ok(AppState {
            config,
            cache,
            builds,
            fleet,
            tokens,
        })
    }
}
