//! The build side: jobs (model, history, runner, GC roots), the fleet repository (mirror and
//! watcher), forge webhooks, Nix's remote builders, and the build server that turns the HTTP
//! API's requests, polls and webhooks into jobs (`build_server`). Only an index: each part is
//! its own module.

pub mod build_server;
pub mod builders;
mod evaluations;
pub mod jobs;
pub mod redact;
pub mod repo;
pub mod request_error;
pub mod webhooks;

pub use build_server::BuildServer;
pub use request_error::RequestError;
