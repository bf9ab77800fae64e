//! atuin-bootstrap: a build server, signed Nix binary cache, clients and bootstrap wizard for
//! a personal NixOS fleet. `main.rs` gathers the process environment and calls `app::run`.

pub mod ansi;
pub mod api;
pub mod app;
pub mod applet;
pub mod builds;
pub mod cache;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod deploy;
pub mod exit;
pub mod fleet;
#[cfg(test)]
mod fuzz_support;
pub mod http;
pub mod metrics;
pub mod nix;
pub mod notify;
pub mod os;
pub mod pages;
pub mod process;
pub mod protocol;
pub mod publish;
pub mod server;
pub mod server_marker;
pub mod state_dir;
pub mod timestamp;
pub mod tokens;
pub mod wizard;
