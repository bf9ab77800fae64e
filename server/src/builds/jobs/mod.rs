//! Build jobs: the model (pure), the durable queue and history (SQLite), target resolution,
//! the runner (nix processes, logs, GC roots), the service that queues and dispatches them
//! (and tells who listens when a job ends), and the history's numbers (`stats`).

pub mod history;
pub mod model;
pub mod nix_log;
pub mod roots;
pub mod runner;
pub mod service;
pub mod stats;
pub mod targets;
