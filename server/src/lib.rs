//! The build box (`atuin-bootstrap serve` and its admin commands): the repository watcher and
//! build jobs, the signed binary cache and pushes, the fleet's deploy targets, the HTTP API,
//! pages and metrics, alerts, publishing to S3. The only wing with git, HTTP serving and SQLite.

mod api;
mod builds;
mod cache;
pub mod commands;
mod fleet;
mod http;
pub mod listener;
mod metrics;
mod notify;
mod pages;
mod publish;
pub mod server_marker;
mod store;
pub mod tokens;

/// The parser of Nix's machines file (`builders`), for reading back what a NixOS module writes.
pub use builds::builders::parse_machines;
