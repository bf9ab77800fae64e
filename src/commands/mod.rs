//! The administrative commands that run without a server: cache keys, API tokens, GC roots.
//! Each works on the state directory the server uses (`--state-dir` or `server.state_dir`).

pub mod cache;
pub mod completions;
pub mod gc;
pub mod token;
