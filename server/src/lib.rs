//! The build box (`atuin-bootstrap serve` and its admin commands): the repository watcher and
//! build jobs, the signed binary cache and pushes, the fleet's deploy targets, the HTTP API,
//! pages and metrics, alerts, publishing to S3. The only wing with git, HTTP serving and SQLite.

pub mod api;
pub mod builds;
pub mod cache;
pub mod commands;
pub mod fleet;
pub mod http;
pub mod listener;
pub mod metrics;
pub mod notify;
pub mod pages;
pub mod publish;
pub mod server_marker;
pub mod store;
pub mod tokens;
