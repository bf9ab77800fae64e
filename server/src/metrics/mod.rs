//! `GET /metrics`: what the server knows in Prometheus's text exposition format, every name
//! starting `atuin_bootstrap_`. Three pieces: the cache's request counters (plain atomics the
//! route table bumps, so counting costs the cache next to nothing), the text format (pure),
//! and the scrape, which reads the job history, the repository watcher and the fleet at the
//! moment it is asked. Not for logging or tracing.

pub(crate) mod counters;
mod exposition;
pub(crate) mod scrape;
