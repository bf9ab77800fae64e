//! `atuin-bootstrap serve`: takes the state dir's lock (one server per state dir), binds the
//! configured address, enters itself in the user's registry of running servers, starts the
//! runtime and runs the server until SIGTERM or SIGINT. The server itself takes its listener
//! (see `server::serve`).

use anyhow::{Context, Result};

use crate::commands::StateDirArg;
use crate::listener::{self, Settings};
use crate::server_marker;
use clap::Args;
use common::config::Config;
use common::process::Process;
use common::state_dir::StateDir;
use nix_core::store_location::StoreLocation;
use std::path::PathBuf;

#[derive(Debug, Args)]
/// `serve`: the flags that override the server's configuration keys.
pub struct ServeArgs {
    /// Address to listen on (server.listen)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    #[command(flatten)]
    /// The state directory (`server.state_dir`).
    pub state: StateDirArg,
    /// Secret key file to sign with, in Nix's format; repeatable (cache.secret_key_files)
    #[arg(long = "cache-key-file", value_name = "FILE")]
    pub cache_key_files: Vec<PathBuf>,
    /// Git URL or local path of the fleet flake (repo.url)
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,
    /// Branch to watch (repo.branch)
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// How often to poll the repository, e.g. 60s or 5m (repo.poll_interval)
    #[arg(long, value_name = "DURATION")]
    pub poll_interval: Option<String>,
}

/// Runs the server until SIGINT or SIGTERM: binds `server.listen`, marks the state dir, serves.
pub fn run(process: &Process, config: Config) -> Result<()> {
    // Before binding: a second server on the same address would otherwise fail with "address
    // in use" and never say which server has the state dir.
    let state_dir = StateDir::new(config.state_dir.value.clone());
    state_dir.ensure()?;
    let _lock = match state_dir.lock_exclusive()? {
        Ok(lock) => lock,
        Err(holder) => {
            return Err(common::exit::usage(server_marker::in_use_message(
                state_dir.path(),
                holder.pid,
            )));
        }
    };
    let registry = process
        .user_data_dir
        .as_deref()
        .map(server_marker::registry_dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("atuin-bootstrap")
        .build()
        .context("failed to start the async runtime")?;
    let store = StoreLocation::from_env(|name| process.var(name));
    runtime.block_on(async move {
        let address = config.listen.value;
        let listener = listen(address).with_context(|| format!("failed to listen on {address}"))?;
        let bound = listener.local_addr()?;
        if let Some(registry) = &registry
            && let Err(e) = server_marker::register(registry, state_dir.path(), &bound.to_string())
        {
            tracing::debug!("not in the registry of running servers: {e:#}");
        }
        tracing::info!("listening on http://{bound}");
        let served = listener::serve(Settings { config, store }, listener, shutdown_signal()).await;
        if let Some(registry) = &registry {
            server_marker::unregister(registry);
        }
        served
    })
}

/// Connections the kernel holds before the server accepts them. The standard library's 128
/// overflowed when 500 clients connected at once: a dropped SYN is retried after a second,
/// and health checks waited that second. The kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

fn listen(address: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match address {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As the standard library does: a restarted server rebinds while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Resolves on the first SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}
