//! What every request shares — configuration, the cache, the build server, the fleet view,
//! the tokens — built once when the server starts.

use std::sync::Arc;

use anyhow::{Context, Result};

use crate::builds::BuildServer;
use crate::cache::nar_files::{self, NarFiles};
use crate::cache::pushed_area::PushedArea;
use crate::cache::upload::Uploads;
use crate::cache::{Cache, CacheKeys, keys};
use crate::fleet::Fleet;
use crate::publish::Publisher;
use crate::tokens::TokenStore;
use common::config::Config;
use common::config::Source;
use common::state_dir::StateDir;
use nix_core::store_location::StoreLocation;

/// What the server is started with.
pub struct Settings {
    /// The resolved configuration the server runs with.
    pub config: Config,
    /// The local Nix store the cache serves.
    pub store: StoreLocation,
}

/// Shared by every request.
pub(crate) struct AppState {
    pub config: Config,
    pub cache: Cache,
    pub builds: Arc<BuildServer>,
    pub fleet: Fleet,
    pub tokens: TokenStore,
    pub uploads: Uploads,
    /// Publishing to a bucket, when `[publish]` is configured.
    pub publisher: Option<Arc<Publisher>>,
}

impl AppState {
    /// Prepares the state directory and the cache's keys.
    pub(crate) fn prepare(settings: Settings) -> Result<AppState> {
        let config = settings.config;
        let state = StateDir::new(config.state_dir.value.clone());
        state.ensure()?;
        let keys = CacheKeys {
            build: keys::resolve(&config.secret_key_files.value, &state, true)
                .context("failed to load the cache signing keys")?,
            push: keys::resolve_push_key(&state, true)
                .context("failed to load the push signing key")?,
        };
        let pushed = PushedArea::new(state.path());
        pushed.open()?;
        let publisher = match &config.publish {
            Some(publish) => Some(Arc::new(
                Publisher::open(
                    publish.clone(),
                    state.path(),
                    settings.store.clone(),
                    keys.build.clone(),
                    keys.push.clone(),
                    config.priority.value,
                )
                .context("failed to set up publishing")?,
            )),
            None => None,
        };
        let cache = Cache::new(
            settings.store,
            keys,
            config.priority.value,
            config.compression.value,
            config.max_concurrent_nars.value as usize,
            nar_files(&config, &state),
            pushed,
        );
        let builds = BuildServer::start(&config)?;
        let fleet = Fleet::open(state.path())?.with_forget_after(config.forget_after.value);
        let tokens = TokenStore::new(state.path());
        let mut uploads = Uploads::open(
            state.path(),
            config.max_upload_size.value,
            config.max_nar_size.value,
            config.request_timeout.value,
        )?;
        uploads.max_log_size = config.max_log_size.value;
        uploads.pushed_ttl = config.pushed_ttl.value;
        Ok(AppState {
            config,
            cache,
            builds,
            fleet,
            tokens,
            uploads,
            publisher,
        })
    }
}

/// The NAR cache in the state dir: as large as configured, or by default at most a tenth of
/// the free space, so a small disk is not filled with copies of its own store.
fn nar_files(config: &Config, state: &StateDir) -> NarFiles {
    let dir = state.path().join(nar_files::DIR_NAME);
    let mut limit = config.nar_cache_size.value;
    if matches!(config.nar_cache_size.source, Source::Default) {
        let _ = std::fs::create_dir_all(&dir);
        if let Some((available, _)) = nar_files::free_space(&dir) {
            limit = limit.min(available / 10);
        }
    }
    tracing::info!("keeping up to {limit} bytes of NARs in {}", dir.display());
    NarFiles::open(dir, limit)
}
