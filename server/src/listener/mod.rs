//! The HTTP server: one listener for the JSON API under `/api/v1/`, the binary cache at the
//! root, the status pages and `/metrics`, every path routed in one table (`routes`). `serve`
//! takes a bound listener and a shutdown future, so tests bind port 0 and callers decide the
//! signals. It also starts the alerts, with the server's own address for their links
//! (`base_url`).

mod base_url;
mod routes;

pub use crate::api::Settings;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use hyper::server::conn::http1;
use hyper::service::service_fn;

use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use tokio::sync::Semaphore;

use crate::api::AppState;
use crate::http::send_timeout::SendTimeout;
use crate::metrics::counters::Counters;
use crate::server_marker;

/// What every request is answered with, besides itself.
pub(crate) struct Context {
    pub state: Arc<AppState>,
    /// The cache's request counters, bumped by the route table.
    pub counters: Arc<Counters>,
    /// The server's own address (see `base_url`).
    pub base_url: String,
}

/// Each connection's kernel send buffer. Left to autotuning, a client that never reads takes
/// up to 4 MiB of copies into its socket, and 500 of them setting up at once kept the runtime's
/// threads in the kernel for a second (health answered in 1–3 s). 256 KiB (512 KiB as the
/// kernel counts it) covers a LAN's bandwidth-delay product, and 200 Mbit/s at 20 ms.
const SEND_BUFFER: usize = 256 * 1024;

/// How long in-flight requests get to finish after shutdown is asked for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves on `listener` until `shutdown` resolves, then lets open requests finish.
pub async fn serve(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let state = Arc::new(AppState::prepare(settings)?);
    let state_dir = state.config.state_dir.value.clone();
    if let Err(e) = server_marker::mark(&state_dir, &listener.local_addr()?.to_string()) {
        tracing::warn!("could not mark the state dir as in use: {e:#}");
    }
    state.uploads.spawn_cleaner();
    state.cache.pushed.spawn_syncer();
    let send_timeout = state.config.send_timeout.value;
    // Headers get what a body gets, up to 30 s: a slow-loris client is dropped by then.
    let header_timeout = state
        .config
        .request_timeout
        .value
        .min(Duration::from_secs(30));
    let connections = Arc::new(Semaphore::new(state.config.max_connections.value as usize));
    common::os::raise_open_file_limit();
    let bound = listener.local_addr()?;
    let base_url = base_url::choose(
        state
            .config
            .client_server
            .as_ref()
            .map(|s| s.value.as_str()),
        bound,
        common::os::hostname().as_deref(),
    );
    let mut alerts = crate::notify::start(
        &state.config.notify,
        base_url.clone(),
        &state.builds,
        &state.fleet,
        state.publisher.as_ref(),
    );
    if let Some(publisher) = &state.publisher {
        alerts.extend(publisher.start(&state.builds));
    }
    let context = Arc::new(Context {
        state: state.clone(),
        counters: Arc::new(Counters::default()),
        base_url,
    });
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // At the connection limit, new clients wait in the kernel's backlog.
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
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
                common::os::cap_send_buffer(&stream, SEND_BUFFER);
                let context = context.clone();
                let service = service_fn(move |request| {
                    let context = context.clone();
                    async move { Ok::<_, Infallible>(routes::route(&context, request).await) }
                });
                let connection = http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .serve_connection(SendTimeout::new(TokioIo::new(stream), send_timeout), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!("connection ended with an error: {e}");
                    }
                    drop(permit);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    // Builds first: their jobs go back to the queue, and followed logs then end.
    state.builds.shutdown().await;
    if let Some(publisher) = &state.publisher {
        publisher.shutdown();
    }
    for task in alerts {
        task.abort();
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("gave up waiting for open requests"),
    }
    server_marker::unmark(&state_dir);
    Ok(())
}
