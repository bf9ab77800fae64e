//! The HTTP server: one listener for the JSON API under `/api/v1/` and the binary cache at the
//! root. `serve` takes a bound listener and a shutdown future, so tests bind port 0 and callers
//! decide the signals.

pub mod api;
pub mod body;
pub mod response;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::build_server::BuildServer;
use crate::cache::{keys, Cache};
use crate::config::Config;
use crate::fleet::Fleet;
use crate::nix::store::StoreLocation;
use crate::state_dir::StateDir;
use crate::tokens::TokenStore;
use body::Body;
use response::{error_response, HttpError};

/// How long in-flight requests get to finish after shutdown is asked for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Serves on `listener` until `shutdown` resolves, then lets open requests finish.
pub async fn serve(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let state = Arc::new(AppState::prepare(settings)?);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: pause instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let service = service_fn(move |request| handle(state.clone(), request));
                let connection = http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!("connection ended with an error: {e}");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    // Builds first: their jobs go back to the queue, and followed logs then end.
    state.builds.shutdown().await;
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("gave up waiting for open requests"),
    }
    Ok(())
}

async fn handle(
    state: Arc<AppState>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path();
    tracing::debug!("{} {}", request.method(), path);
    if path.starts_with("/api/") {
        return Ok(api::handle(&state, request)
            .await
            .unwrap_or_else(|e| error_response(&e, true)));
    }
    if let Some(result) = state.cache.handle(&request).await {
        return Ok(result.unwrap_or_else(|e| error_response(&e, false)));
    }
    if path == "/" {
        let text = format!(
            "atuin-bootstrap {}\nNix binary cache: add this URL as a substituter, with the key from /api/v1/status\n",
            env!("CARGO_PKG_VERSION")
        );
        return Ok(response::text(StatusCode::OK, text));
    }
    Ok(error_response(
        &HttpError::NotFound("not found".into()),
        false,
    ))
}
