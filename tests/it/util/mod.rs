//! Shared test helpers: Nix fixtures, servers (in-process and spawned), HTTP.

pub(crate) mod applets;
pub(crate) mod box_front;
pub(crate) mod browser;
pub(crate) mod build_server;
pub(crate) mod client_store;
pub(crate) mod deploy_box;
pub(crate) mod deploy_fleet;
pub(crate) mod examples;
pub(crate) mod fixtures;
pub(crate) mod flake_repo;
pub(crate) mod fleet;
pub(crate) mod garage;
pub(crate) mod git_http;
pub(crate) mod http;
pub(crate) mod nix;
pub(crate) mod output;
pub(crate) mod promtool;
pub(crate) mod pushable;
pub(crate) mod receiver;
pub(crate) mod server;
pub(crate) mod sshd;
pub(crate) mod tmux;
pub(crate) mod upload_receiver;

use std::path::PathBuf;

/// The binary under test.
pub(crate) fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_atuin-bootstrap"))
}

/// A unique string per call, so fixture paths never collide across tests or runs.
pub(crate) fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}-{}-{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A loopback port the kernel just handed out and took back: free in practice, for a
/// process that binds by itself (Garage, sshd, nginx, another server).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary with a clean environment: only PATH, and HOME/XDG dirs inside `home`.
pub(crate) fn command_in(home: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(binary());
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"));
    command
}
