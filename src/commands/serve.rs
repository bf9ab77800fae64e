//! `atuin-bootstrap serve`: binds the configured address, starts the runtime and runs the
//! server until SIGTERM or SIGINT. The server itself takes its listener (see `server::serve`).

use anyhow::{Context, Result};

use crate::config::Config;
use crate::nix::store::StoreLocation;
use crate::process::Process;
use crate::server::{self, Settings};

pub fn run(process: &Process, config: Config) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("atuin-bootstrap")
        .build()
        .context("failed to start the async runtime")?;
    let store = StoreLocation::from_env(|name| process.var(name));
    runtime.block_on(async move {
        let address = config.listen.value;
        let listener = listen(address).with_context(|| format!("failed to listen on {address}"))?;
        tracing::info!("listening on http://{}", listener.local_addr()?);
        server::serve(Settings { config, store }, listener, shutdown_signal()).await
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
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}
