//! Build jobs: the model (pure), the durable queue and history (SQLite), target resolution,
//! the runner (nix processes, logs, GC roots), the service that queues and dispatches them
//! (and tells who listens when a job ends), and the history's numbers (`stats`).

pub(crate) mod history;
pub(crate) mod model;
pub(crate) mod nix_log;
pub(crate) mod roots;
pub(crate) mod runner;
pub(crate) mod service;
pub(crate) mod stats;
pub(crate) mod targets;
