//! The build side: jobs (model, history, runner, GC roots), the fleet repository (mirror and
//! watcher), forge webhooks, Nix's remote builders, and the build server that turns the HTTP
//! API's requests, polls and webhooks into jobs (`build_server`). Only an index: each part is
//! its own module.

pub(crate) mod build_server;
pub(crate) mod builders;
mod evaluations;
pub(crate) mod jobs;
pub(crate) mod redact;
pub(crate) mod repo;
pub(crate) mod request_error;
pub(crate) mod webhooks;

pub(crate) use build_server::BuildServer;
pub(crate) use request_error::RequestError;
