//! The integration tests: one binary, real Nix, real processes. Helpers live in `util`.

mod util;

mod abuse;
mod alerts;
mod builders;
mod cache_bad_input;
mod cache_copy;
mod cache_freshness;
mod cache_nar;
mod cache_nar_files;
mod cache_upload;
mod cli;
mod clients;
mod config;
mod daemon;
mod deploy;
mod help_snapshots;
mod jobs_auth;
mod jobs_build;
mod jobs_control;
mod jobs_errors;
mod jobs_gc;
mod jobs_repo;
mod metrics;
mod nix_files;
mod nixos_eval;
mod pages;
mod publish;
mod push;
mod terminal;
mod watch_inputs;
mod wizard;
mod wizard_atuin;
