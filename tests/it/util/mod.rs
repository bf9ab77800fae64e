//! Shared test helpers: Nix fixtures, servers (in-process and spawned), HTTP.

pub mod applets;
pub mod box_front;
pub mod browser;
pub mod build_server;
pub mod client_store;
pub mod deploy_box;
pub mod deploy_fleet;
pub mod examples;
pub mod fixtures;
pub mod flake_repo;
pub mod fleet;
pub mod garage;
pub mod git_http;
pub mod http;
pub mod nix;
pub mod output;
pub mod promtool;
pub mod pushable;
pub mod receiver;
pub mod server;
pub mod sshd;
pub mod tmux;
pub mod upload_receiver;

use std::path::PathBuf;

/// The binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_atuin-bootstrap"))
}

/// A unique string per call, so fixture paths never collide across tests or runs.
pub fn nonce() -> String {
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
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary with a clean environment: only PATH, and HOME/XDG dirs inside `home`.
pub fn command_in(home: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(binary());
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"));
    command
}
