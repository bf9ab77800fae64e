//! The integration tests: one binary, real Nix, real processes. Helpers live in `util`.

mod util;

mod cache_bad_input;
mod cache_copy;
mod cache_freshness;
mod cache_nar;
mod cli;
mod config;
mod daemon;
